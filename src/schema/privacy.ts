import { eraseMyData, exportMyData } from '../domain/privacy/gdpr.js';
import { builder } from './builder.js';

const EraseSuccess = builder
  .objectRef<{ __typename: 'EraseSuccess'; erasedAt: Date; pseudonym: string; recordsPseudonymised: number }>('EraseSuccess')
  .implement({
    description: 'Personal data removed; orders kept for accounting under the pseudonym.',
    fields: (t) => ({
      erasedAt: t.expose('erasedAt', { type: 'DateTime' }),
      pseudonym: t.exposeString('pseudonym', { description: 'The id your kept records carry now; it cannot be traced back to you.' }),
      recordsPseudonymised: t.exposeInt('recordsPseudonymised'),
    }),
  });

builder.queryFields((t) => ({
  exportMyData: t.string({
    description: 'GDPR: everything held about the signed-in shopper, as a JSON document.',
    authScopes: { shopper: true },
    resolve: async (_root, _args, ctx) => JSON.stringify(await exportMyData(ctx.deps, ctx.actor!, ctx.requestId)),
  }),
}));

builder.mutationFields((t) => ({
  eraseMyData: t.field({
    type: EraseSuccess,
    description: "GDPR: erase the signed-in shopper's personal data. Orders are kept for accounting, pseudonymised.",
    authScopes: { shopper: true },
    resolve: (_root, _args, ctx) => eraseMyData(ctx.deps, ctx.actor!, ctx.requestId),
  }),
}));
