import { getTableColumns, type InferSelectModel, type SQL, sql, type Table } from 'drizzle-orm';
import { orders, products } from './schema/tables.js';

/**
 * Maps a raw row of `select *` / `returning *` on `table` (column names as in the database,
 * values as the driver gives them) exactly as drizzle's own select maps it: each column's
 * `mapFromDriverValue`, nulls kept. For hand-written statements on the hot paths, where
 * drizzle's query builder cost more CPU than the statement itself (docs/performance.md).
 */
export function rowMapper<T extends Table>(table: T): (raw: Record<string, unknown>) => InferSelectModel<T> {
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => [key, column.name, column] as const);
  return (raw) => {
    const out: Record<string, unknown> = {};
    for (const [key, name, column] of columns) {
      const v = raw[name];
      out[key] = v === null || v === undefined ? null : column.mapFromDriverValue(v);
    }
    return out as InferSelectModel<T>;
  };
}

/** Rows of the tables more than one hot path reads back. */
export const orderOf = rowMapper(orders);
export const productOf = rowMapper(products);

/** A point in time as a statement parameter (`timestamptz`; both drivers take the ISO text). */
export const timestamptz = (at: Date): SQL => sql`${at.toISOString()}::timestamptz`;
