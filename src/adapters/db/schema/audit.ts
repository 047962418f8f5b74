import { bigserial, index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Who did what, when: every admin mutation, every GDPR export and erasure, every key
 * rotation. Stock movements have their own ledger (stock_movements); this is the rest.
 * Rows are only ever inserted.
 */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** The token's subject, or `system:<command>` for commands run by an operator. */
    actor: text('actor').notNull(),
    /** e.g. `mutation.createProduct`, `privacy.export`, `privacy.erase`, `keys.rotate`, `orders.export`. */
    action: text('action').notNull(),
    /** What it acted on (a product id, a shopper pseudonym...), when there is one. */
    target: text('target'),
    /** `ok`, or the error type / code it ended with. */
    outcome: text('outcome').notNull(),
    /** Arguments with personal data redacted. */
    details: jsonb('details'),
    requestId: text('request_id'),
  },
  (t) => [index('audit_log_actor_at').on(t.actor, t.at), index('audit_log_action_at').on(t.action, t.at)],
);

export type AuditRow = typeof auditLog.$inferSelect;
