import { type ExecutionResult, type FieldNode, getOperationAST, type GraphQLSchema, isObjectType, Kind, type OperationDefinitionNode } from 'graphql';
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

/** The admin mutation fields an operation runs (empty for queries and shoppers' mutations): what `recordAuditRows` writes. */
export function auditedFields(schema: GraphQLSchema, op: OperationDefinitionNode | null | undefined): FieldNode[] {
  if (op?.operation !== 'mutation') return [];
  let admin = adminBySchema.get(schema);
  if (!admin) adminBySchema.set(schema, (admin = adminMutations(schema)));
  return op.selectionSet.selections.filter((s): s is FieldNode => s.kind === Kind.FIELD && admin!.has(s.name.value));
}

const adminBySchema = new WeakMap<GraphQLSchema, Set<string>>();

/**
 * One audit row per audited field, once the operation ran: who, which field, the
 * arguments (as sent: variables before coercion; inline values marked), the outcome.
 * Yoga's `auditPlugin` and the fast path both call it with the unmasked result.
 */
export async function recordAuditRows(
  schema: GraphQLSchema,
  ctx: Pick<Context, 'deps' | 'actor' | 'requestId'>,
  fields: FieldNode[],
  result: ExecutionResult,
  variables: Record<string, unknown> | null | undefined,
): Promise<void> {
  const r = result as { data?: Record<string, unknown> | null; errors?: readonly { path?: readonly (string | number)[]; extensions?: { code?: unknown } }[] };
  for (const f of fields) {
    const key = f.alias?.value ?? f.name.value;
    const err = r.errors?.find((e) => e.path?.[0] === key);
    const value = r.data?.[key] as { __typename?: string; id?: string } | null | undefined;
    const vars = variables ?? {};
    await recordAudit(ctx.deps.db, {
      actor: ctx.actor?.userId ?? 'anonymous',
      action: `mutation.${f.name.value}`,
      target: typeof value?.id === 'string' ? value.id : null,
      outcome: err ? String(err.extensions?.code ?? 'ERROR') : isErrorType(schema, value?.__typename) ? value!.__typename! : 'ok',
      details: { arguments: Object.fromEntries((f.arguments ?? []).map((a) => [a.name.value, a.value.kind === Kind.VARIABLE ? vars[a.value.name.value] : a.value.loc ? '(inline)' : null])) },
      requestId: ctx.requestId,
    }).catch((e) => ctx.deps.log.error({ err: e }, 'audit row not written'));
  }
}

/**
 * Writes one audit row for every admin mutation field an operation ran, after it
 * ran: who, which field, the arguments (personal data redacted), the outcome.
 */
export function auditPlugin(): Plugin<Context> {
  return {
    onExecute({ args }) {
      const fields = auditedFields(args.schema, getOperationAST(args.document, args.operationName ?? undefined));
      if (!fields.length) return;
      return {
        async onExecuteDone({ result }) {
          if (!('data' in result) && !('errors' in result)) return;
          await recordAuditRows(args.schema, args.contextValue, fields, result as ExecutionResult, args.variableValues as Record<string, unknown> | undefined);
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
