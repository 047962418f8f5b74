import { type BlockedShopper as BlockedRow, blockShoppers, listBlocked, MAX_BLOCK_BATCH, MAX_BLOCKED_PAGE, unblockShoppers } from '../domain/blocks.js';
import { builder, orThrow } from './builder.js';

const BlockedShopper = builder.objectRef<BlockedRow>('BlockedShopper').implement({
  description: 'A shopper an operator blocked from reserving.',
  fields: (t) => ({
    userId: t.exposeID('userId'),
    reason: t.exposeString('reason'),
    blockedBy: t.exposeString('blockedBy'),
    blockedAt: t.expose('blockedAt', { type: 'DateTime' }),
  }),
});

const BlockShoppersResult = builder.objectRef<{ blocked: number; holdsRevoked: number }>('BlockShoppersResult').implement({
  fields: (t) => ({
    blocked: t.exposeInt('blocked', { description: 'Shoppers newly blocked (one already blocked keeps its first reason).' }),
    holdsRevoked: t.exposeInt('holdsRevoked', { description: 'Their holds taken back: the units are on sale again, their unpaid orders cancelled.' }),
  }),
});

const UnblockShoppersResult = builder.objectRef<{ unblocked: number }>('UnblockShoppersResult').implement({
  fields: (t) => ({ unblocked: t.exposeInt('unblocked') }),
});

builder.queryFields((t) => ({
  blockedShoppers: t.field({
    type: [BlockedShopper],
    description: `Admin only: the blocked shoppers in user-id order, a page at a time (first: 1-${MAX_BLOCKED_PAGE}; after: the last userId seen).`,
    authScopes: { admin: true },
    args: { first: t.arg.int({ required: true, defaultValue: 100 }), after: t.arg.id() },
    resolve: async (_root, { first, after }, ctx) => orThrow(await listBlocked(ctx.deps, first, after == null ? null : String(after))),
  }),
}));

builder.mutationFields((t) => ({
  blockShoppers: t.field({
    type: BlockShoppersResult,
    description:
      `Admin only: block shoppers (bots, abuse) from reserving, at most ${MAX_BLOCK_BATCH} per call. Their holds are taken back at once ` +
      '(units on sale again, unpaid orders cancelled; an order whose payment is in flight is left to settle) and their later ' +
      'reserves are refused with FORBIDDEN, in every api process within seconds. Audited; a repeat changes nothing.',
    authScopes: { admin: true },
    args: { userIds: t.arg.idList({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: async (_root, { userIds, reason }, ctx) => orThrow(await blockShoppers(ctx.deps, ctx.actor!, userIds.map(String), reason)),
  }),
  unblockShoppers: t.field({
    type: UnblockShoppersResult,
    description: 'Admin only: let blocked shoppers reserve again (their revoked holds are not given back).',
    authScopes: { admin: true },
    args: { userIds: t.arg.idList({ required: true }) },
    resolve: async (_root, { userIds }, ctx) => orThrow(await unblockShoppers(ctx.deps, userIds.map(String))),
  }),
}));
