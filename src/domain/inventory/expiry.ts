import { randomUUID } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { type DbOrTx, rowsOf } from '../../adapters/db/client.js';
import { timestamptz } from '../../adapters/db/rows.js';
import { outbox, stockMovements } from '../../adapters/db/schema/tables.js';
import { publishReservation, returnToGate } from '../cart/reserve.js';
import type { Deps } from '../context.js';
import { publishOrder } from '../orders/checkout.js';
import { announceStock, stockBumpSql } from './products.js';
import { products } from '../../adapters/db/schema/tables.js';
import { inArray } from 'drizzle-orm';

interface ExpiredRow {
  id: string;
  user_id: string;
  product_id: string;
  order_id: string | null;
  quantity: number;
  revoked: string | null;
}

/**
 * Takes holds back now (an operator's block or cancelled sale): the active and checked-out holds
 * matched by `which` (a condition on `reservations`) get their time up and `why` recorded (their
 * shoppers' message says so), in the caller's transaction when given one; `sweepAllExpired` then
 * does what their expiry does. Returns how many.
 */
export async function revokeHolds(db: DbOrTx, which: SQL, now: Date, why: 'SALE_CANCELLED' | 'BLOCKED'): Promise<number> {
  const at = timestamptz(now);
  const revoked = rowsOf<{ id: string }>(
    await db.execute(sql`
      update reservations set expires_at = ${at}, revoked = ${why}
      where (${which}) and status in ('ACTIVE', 'CHECKED_OUT') and expires_at > ${at}
      returning id`),
  );
  return revoked.length;
}

/** Sweeps until no hold whose time is up is left (but those whose payment is in flight). */
export async function sweepAllExpired(deps: Deps, batch = 500): Promise<void> {
  while ((await sweepExpired(deps, batch)) >= batch) {}
}

/**
 * Expires holds whose time is up, in Postgres, in batches: claims them with
 * `FOR UPDATE SKIP LOCKED` (several workers never take the same row), returns their
 * stock and cancels their pending orders in the same transaction, then tells the
 * gate and the subscribers. A hold whose order has a payment in flight is left for
 * the payment to settle. Returns how many reservations expired.
 */
export async function sweepExpired(deps: Deps, batch = 500): Promise<number> {
  const now = deps.now();
  const at = timestamptz(now);
  const out = await deps.db.transaction(async (tx) => {
    const expired = rowsOf<ExpiredRow>(
      await tx.execute(sql`
        update reservations r set status = 'EXPIRED', updated_at = ${at}
        where r.id in (
          select id from reservations c
          where c.status in ('ACTIVE', 'CHECKED_OUT') and c.expires_at <= ${at}
            and not exists (
              select 1 from payments p
              where p.order_id = c.order_id and p.status in ('PROCESSING', 'UNKNOWN')
            )
          order by c.expires_at
          limit ${batch}
          for update skip locked
        )
        returning r.id, r.user_id, r.product_id, r.order_id, r.quantity, r.revoked`),
    );
    if (expired.length === 0) return { expired, orders: [] as { id: string; user_id: string }[] };
    const perProduct = new Map<string, number>();
    for (const r of expired) perProduct.set(r.product_id, (perProduct.get(r.product_id) ?? 0) + Number(r.quantity));
    for (const [productId, qty] of [...perProduct].sort(([a], [b]) => a.localeCompare(b))) {
      await tx.execute(sql`
        update products set available_quantity = available_quantity + ${qty},
          reserved_quantity = reserved_quantity - ${qty}, ${stockBumpSql}
        where id = ${productId}`);
    }
    await tx.insert(stockMovements).values(
      expired.map((r) => ({
        productId: r.product_id,
        kind: 'EXPIRE' as const,
        quantity: Number(r.quantity),
        reservationId: r.id,
        orderId: r.order_id,
        actor: 'system:expiry',
      })),
    );
    const orderIds = [...new Set(expired.map((r) => r.order_id).filter((id): id is string => id !== null))];
    const cancelled = orderIds.length
      ? rowsOf<{ id: string; user_id: string }>(
          await tx.execute(sql`
            update orders set status = 'CANCELLED', payment_status = 'FAILED', inventory_status = 'FAILED', updated_at = ${at}
            where id in (${sql.join(orderIds.map((id) => sql`${id}::uuid`), sql`, `)}) and status = 'PENDING'
            returning id, user_id`),
        )
      : [];
    await tx.insert(outbox).values(
      expired.map((r) => ({
        id: randomUUID(),
        topic: 'reservation.expired',
        aggregateId: r.id,
        userId: r.user_id,
        payload: { reservationId: r.id, productId: r.product_id, quantity: Number(r.quantity), orderId: r.order_id, ...(r.revoked ? { revoked: r.revoked } : {}) },
      })),
    );
    return { expired, orders: cancelled };
  });
  if (out.expired.length === 0) return 0;
  await returnToGate(
    deps,
    out.expired.map((r) => ({ productId: r.product_id, userId: r.user_id, quantity: Number(r.quantity) })),
  );
  const changed = await deps.db
    .select()
    .from(products)
    .where(inArray(products.id, [...new Set(out.expired.map((r) => r.product_id))]));
  for (const p of changed) await announceStock(deps, p);
  for (const r of out.expired) {
    await publishReservation(deps, { id: r.id, userId: r.user_id, productId: r.product_id, status: 'EXPIRED' });
  }
  for (const o of out.orders) await publishOrder(deps, { id: o.id, userId: o.user_id, status: 'CANCELLED' });
  return out.expired.length;
}
