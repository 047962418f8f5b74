import { sql } from 'drizzle-orm';
import { rowsOf } from '../../adapters/db/client.js';
import type { Deps } from '../context.js';
import { getProduct } from './products.js';

/** The operator's view of one live sale, read from Postgres (the truth) at the moment asked. */
export interface SaleStats {
  productId: string;
  totalQuantity: number;
  availableQuantity: number;
  reservedQuantity: number;
  soldQuantity: number;
  /** Paid orders' amounts for this product, in minor units. */
  revenue: { amount: number; currency: string };
  /** Reserve attempts per second over the last few seconds, across the fleet when Redis is there. */
  reserveAttemptsPerSecond: number;
  at: Date;
}

export async function saleStats(
  deps: Deps,
  productId: string,
  attemptsPerSecond: (productId: string) => Promise<number>,
): Promise<SaleStats | undefined> {
  const p = await getProduct(deps.db, productId);
  if (!p) return undefined;
  const [rev] = rowsOf<{ amount: number | string | null }>(
    await deps.db.execute(sql`
      select coalesce(sum(oi.quantity * oi.unit_amount), 0)::bigint as amount
      from order_items oi join orders o on o.id = oi.order_id
      where oi.product_id = ${productId} and o.status = 'COMPLETED'`),
  );
  return {
    productId: p.id,
    totalQuantity: p.totalQuantity,
    availableQuantity: p.availableQuantity,
    reservedQuantity: p.reservedQuantity,
    soldQuantity: p.soldQuantity,
    revenue: { amount: Number(rev?.amount ?? 0), currency: p.currency },
    reserveAttemptsPerSecond: await attemptsPerSecond(productId),
    at: deps.now(),
  };
}
