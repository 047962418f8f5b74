import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import type { ProductRow } from '../adapters/db/schema/tables.js';
import { type Actor, type Deps, isAdmin } from '../domain/context.js';
import type { InvalidInput, NotFound } from '../domain/results.js';
import type { Security } from '../security/guard.js';

export interface Context {
  deps: Deps;
  actor?: Actor;
  /** Why a presented token was refused, reported when a guarded field is reached. */
  authError?: string;
  requestId: string;
  /** Batches product look-ups of one request into one query. */
  loadProduct(id: string): Promise<ProductRow | undefined>;
  /** Aborts when the server shuts down: open subscriptions complete. */
  closing?: AbortSignal;
  /** The client's IP, when known (src/security/ip.ts). */
  ip?: string;
  /** Rate limits and the bot challenge (src/security/guard.ts). */
  security: Security;
}

export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { shopper: boolean; admin: boolean };
  Scalars: { DateTime: { Input: Date; Output: Date | string } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => ({ shopper: ctx.actor !== undefined, admin: isAdmin(ctx.actor) }),
    unauthorizedError: (_parent, ctx) =>
      ctx.actor
        ? new GraphQLError('You are not allowed to do this', { extensions: { code: 'FORBIDDEN' } })
        : new GraphQLError(ctx.authError ?? 'Sign in: send a bearer token in the Authorization header', {
            extensions: { code: 'UNAUTHENTICATED' },
          }),
  },
});

builder.scalarType('DateTime', {
  description: 'An ISO 8601 date-time in UTC, e.g. 2026-11-25T12:00:00.000Z',
  serialize: (v) => (v instanceof Date ? v.toISOString() : new Date(v).toISOString()),
  parseValue: (v) => {
    const d = typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : new Date(NaN);
    if (Number.isNaN(d.getTime())) {
      throw new GraphQLError('DateTime must be an ISO 8601 string such as 2026-11-25T12:00:00Z', {
        extensions: { code: 'INVALID_INPUT' },
      });
    }
    return d;
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** Money is minor units plus an ISO 4217 code. */
export const Money = builder.objectRef<{ amount: number; currency: string }>('Money').implement({
  fields: (t) => ({
    amount: t.exposeInt('amount', { description: 'In minor units (cents).' }),
    currency: t.exposeString('currency'),
  }),
});

/**
 * An operator field's answer, or its refusal (NotFound, InvalidInput: results the admin fields do
 * not put in their types) thrown as a GraphQL error with its code and field; nothing changed.
 */
export function orThrow<T extends object>(out: T | NotFound | InvalidInput): T {
  if ('__typename' in out) {
    const r = out as NotFound | InvalidInput;
    throw new GraphQLError(r.message, { extensions: { code: r.code, ...('field' in r && r.field ? { field: r.field } : {}) } });
  }
  return out;
}

/** A malformed argument on a query or subscription: a GraphQL error, nothing changed. */
export function badInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'INVALID_INPUT' } });
}
