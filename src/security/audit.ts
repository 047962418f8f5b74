import { type FieldNode, getOperationAST, type GraphQLSchema, isObjectType, Kind } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { recordAudit } from '../domain/audit.js';
import type { Context } from '../schema/builder.js';

/** The mutation fields guarded by `authScopes: { admin: true }`, read from the schema Pothos built. */
export function adminMutations(schema: GraphQLSchema): Set<string> {
  const out = new Set<string>();
  for (const [name, field] of Object.entries(schema.getMutationType()?.getFields() ?? {})) {
    const scopes = (field.extensions as { pothosOptions?: { authScopes?: unknown } }).pothosOptions?.authScopes;
    if (scopes && typeof scopes === 'object' && (scopes as { admin?: boolean }).admin) out.add(name);
  }
  return out;
}

/**
 * Writes one audit row for every admin mutation field an operation ran, after it
 * ran: who, which field, the arguments (personal data redacted), the outcome.
 */
export function auditPlugin(): Plugin<Context> {
  let admin: Set<string> | undefined;
  return {
    onExecute({ args }) {
      const op = getOperationAST(args.document, args.operationName ?? undefined);
      if (op?.operation !== 'mutation') return;
      admin ??= adminMutations(args.schema);
      const fields = op.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD && admin!.has(s.name.value));
      if (!fields.length) return;
      const ctx = args.contextValue;
      return {
        async onExecuteDone({ result }) {
          if (!('data' in result) && !('errors' in result)) return;
          const r = result as { data?: Record<string, unknown> | null; errors?: readonly { path?: readonly (string | number)[]; extensions?: { code?: unknown } }[] };
          for (const f of fields) {
            const key = f.alias?.value ?? f.name.value;
            const err = r.errors?.find((e) => e.path?.[0] === key);
            const value = r.data?.[key] as { __typename?: string; id?: string } | null | undefined;
            const variables = args.variableValues ?? {};
            await recordAudit(ctx.deps.db, {
              actor: ctx.actor?.userId ?? 'anonymous',
              action: `mutation.${f.name.value}`,
              target: typeof value?.id === 'string' ? value.id : null,
              outcome: err ? String(err.extensions?.code ?? 'ERROR') : isErrorType(args.schema, value?.__typename) ? value!.__typename! : 'ok',
              details: { arguments: Object.fromEntries((f.arguments ?? []).map((a) => [a.name.value, a.value.kind === Kind.VARIABLE ? variables[a.value.name.value] : a.value.loc ? '(inline)' : null])) },
              requestId: ctx.requestId,
            }).catch((e) => ctx.deps.log.error({ err: e }, 'audit row not written'));
          }
        },
      };
    },
  };
}

/** True for a typed business error (a type implementing the Error interface). */
function isErrorType(schema: GraphQLSchema, typename: string | undefined): boolean {
  const t = typename ? schema.getType(typename) : undefined;
  return !!t && isObjectType(t) && t.getInterfaces().some((i) => i.name === 'Error');
}
