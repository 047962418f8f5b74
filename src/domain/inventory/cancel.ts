import { sql } from 'drizzle-orm';
import { rowsOf } from '../../adapters/db/client.js';
import type { ProductRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { publishOrder } from '../orders/checkout.js';
import { writeRefunds } from '../orders/refund.js';
import { DEFAULT_REFUND_SETTINGS, runRefunds } from '../payments/refunds.js';
import { assertText, type InvalidInput, type NotFound } from '../results.js';
import { revokeHolds, sweepAllExpired } from './expiry.js';
import { endSale, getProduct } from './products.js';

/** Paid orders refunded per transaction by `cancelSale`. */
export const CANCEL_REFUND_BATCH = 500;

export interface CancelledSale {
  product: ProductRow;
  /** Holds taken back: the product's, and the other holds of orders that held it. */
  holdsRevoked: number;
  /** Paid orders with the product refunded and cancelled by this call. */
  ordersRefunded: number;
  /** Orders with the product whose payment is still in flight: left to settle; a repeat refunds those that complete. */
  paymentsInFlight: number;
}

/**
 * An operator calls a sale off (a pricing mistake, a recall), which `endSale` alone does not: it
 * stops reserves but lets holds check out and orders be paid.
 * 1. The sale ends now (`endSale`: Postgres, the gate, every process and ticker).
 * 2. Every hold of the product, and every other hold of an order that holds it, is taken back (its
 *    time is up now, then the expiry sweep): the units return, unpaid orders are CANCELLED and
 *    their shoppers told, as when a hold runs out. An order whose payment is in flight is left to
 *    settle (counted in `paymentsInFlight`).
 * 3. With `refundPaidOrders`, every paid order with the product among its items is refunded in full
 *    and cancelled (`writeRefunds`, `CANCEL_REFUND_BATCH` orders per transaction; an order with other
 *    products too is refunded whole), its shopper told; the refunds are made by the refunds job,
 *    started at once in the background.
 * A repeat changes nothing more, but refunds orders whose payment was in flight and completed since.
 */
export async function cancelSale(
  deps: Deps,
  actor: Actor,
  productId: string,
  reason: string,
  refundPaidOrders: boolean,
): Promise<CancelledSale | NotFound | InvalidInput> {
  const bad = assertText('reason', reason, 500);
  if (bad) return bad;
  const ended = await endSale(deps, productId, { calledOff: true });
  if ('__typename' in ended) return ended;
  const holdsRevoked = await revokeHolds(
    deps.db,
    sql`product_id = ${productId} or order_id in (select order_id from reservations where product_id = ${productId} and order_id is not null and status = 'CHECKED_OUT')`,
    deps.now(),
    'SALE_CANCELLED',
  );
  if (holdsRevoked > 0) await sweepAllExpired(deps);
  let ordersRefunded = 0;
  if (refundPaidOrders) {
    const withProduct = sql`o.id in (select i.order_id from order_items i where i.product_id = ${productId})`;
    for (;;) {
      const batch = await deps.db.transaction((tx) => writeRefunds(tx, withProduct, { reason, by: actor.userId, at: deps.now() }, CANCEL_REFUND_BATCH));
      ordersRefunded += batch.length;
      for (const o of batch) void publishOrder(deps, { id: o.orderId, userId: o.userId, status: 'CANCELLED' });
      if (batch.length < CANCEL_REFUND_BATCH) break;
    }
    if (ordersRefunded > 0) {
      // Made now rather than at the worker's next pass; what fails is retried by the job.
      void (async () => {
        while ((await runRefunds(deps)).claimed >= DEFAULT_REFUND_SETTINGS.batch) {}
      })().catch((err) => deps.log.warn({ err, productId }, 'refunds of a cancelled sale not all made at once; the refunds job retries them'));
    }
  }
  const [inFlight] = rowsOf<{ n: number }>(
    await deps.db.execute(sql`
      select count(distinct p.order_id)::int as n
      from order_items i join payments p on p.order_id = i.order_id
      where i.product_id = ${productId} and p.status in ('PROCESSING', 'UNKNOWN')`),
  );
  const product = (await getProduct(deps.db, productId)) ?? ended;
  deps.log.info({ productId, actor: actor.userId, holdsRevoked, ordersRefunded, paymentsInFlight: Number(inFlight?.n ?? 0) }, 'sale cancelled');
  return { product, holdsRevoked, ordersRefunded, paymentsInFlight: Number(inFlight?.n ?? 0) };
}
