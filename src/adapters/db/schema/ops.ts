import { bigint, pgTable, text } from 'drizzle-orm/pg-core';

/**
 * The arrival-sequence counter the gate uses while it admits through Postgres alone
 * (Redis unreachable). Each product's row is bumped under its row lock, so sequence
 * numbers stay unique and increasing; when Redis returns its gate starts above it.
 */
export const gateSequences = pgTable('gate_sequences', {
  productId: text('product_id').primaryKey(),
  last: bigint('last', { mode: 'number' }).notNull(),
});
