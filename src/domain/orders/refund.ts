import { and, asc, eq, gt, inArray, isNotNull, type SQL, sql } from 'drizzle-orm';
import { rowsOf, type Tx } from '../../adapters/db/client.js';
import { timestamptz } from '../../adapters/db/rows.js';
import { orders, refunds, type OrderRow } from '../../adapters/db/schema/tables.js';
import { groupBy } from '../batches.js';
import type { Actor, Deps } from '../context.js';
import { runRefunds } from '../payments/refunds.js';
import { assertIntRange, assertText, assertUuid, type InvalidInput, invalid, type NotFound, notFound } from '../results.js';
import { publishOrder } from './checkout.js';

export type RefundRow = typeof refunds.$inferSelect;

export interface RefundedOrder {
  order: OrderRow;
  /** The refund of the order's charge, as the gateway has answered so far. */
  refund: RefundRow;
}

/**
 * An operator refunds a paid order in full (a return, a pricing mistake, a fraud found later):
 * 1. in one transaction, under the order's row lock: the order is CANCELLED (so it leaves
 *    `paidOrders` and the sale's revenue), a refund of its charge is queued (`refunds`, with the
 *    operator's reason) and the shopper's `order.refunded` message is written to the outbox;
 * 2. after the commit the refund is made at once through the gateway that took the money, with the
 *    key `refund-<payment id>` (as the `refunds` worker job would, which retries it with backoff if
 *    the gateway fails now); then the order's live status subscribers are told.
 * The units stay sold (they left the sale with the order); an operator who wants them on sale again
 * raises the stock by them (`setStock`). A repeat answers the first refund and changes nothing.
 * Only a paid (COMPLETED) order can be refunded: an unpaid one is cancelled by its hold running out.
 */
export async function refundOrder(deps: Deps, actor: Actor, orderId: string, reason: string): Promise<RefundedOrder | NotFound | InvalidInput> {
  const bad = assertUuid('orderId', orderId) ?? assertText('reason', reason, 500);
  if (bad) return bad;
  const done = await deps.db.transaction(async (tx): Promise<(RefundedOrder & { repeat: boolean }) | NotFound | InvalidInput> => {
    const [order] = await tx.select().from(orders).where(eq(orders.id, orderId)).for('update');
    if (!order) return notFound('Order');
    const [earlier] = await tx
      .select()
      .from(refunds)
      .where(and(eq(refunds.orderId, orderId), isNotNull(refunds.reason)));
    if (earlier) return { order, refund: earlier, repeat: true };
    if (order.status !== 'COMPLETED') return invalid(`The order is ${order.status}, not paid: there is nothing to refund`, 'orderId');
    const [written] = await writeRefunds(tx, sql`o.id = ${orderId}`, { reason, by: actor.userId, at: deps.now() }, 1);
    if (!written) return invalid('No charge is recorded for this order: there is nothing to refund through a gateway', 'orderId');
    const [cancelled] = await tx.select().from(orders).where(eq(orders.id, orderId));
    const [refund] = await tx.select().from(refunds).where(eq(refunds.id, written.refundId));
    return { order: cancelled!, refund: refund!, repeat: false };
  });
  if (!('refund' in done)) return done;
  if (done.repeat) return { order: done.order, refund: done.refund };
  // Made now rather than at the worker's next pass; a failure leaves it to the worker's retries.
  await runRefunds(deps, undefined, done.refund.id).catch((err) =>
    deps.log.warn({ err, refundId: done.refund.id, orderId }, 'refund not made at once; the refunds job retries it'),
  );
  // Told after the refund was asked of the gateway, so a page that reads the order on this event
  // finds the refund as made (or as failing for now), not as not yet asked.
  void publishOrder(deps, done.order);
  const [now] = await deps.db.select().from(refunds).where(eq(refunds.id, done.refund.id));
  return { order: done.order, refund: now ?? done.refund };
}

export interface RefundBy {
  reason: string;
  /** The operator asking. */
  by: string;
  at: Date;
}

/**
 * Refunds, in the caller's transaction, up to `limit` paid orders matched by `which` (a condition on
 * `orders o`), each locked (`SKIP LOCKED`: one another call is refunding is left to it): the order
 * CANCELLED, a PENDING `refunds` row for the attempt that charged it (made by `runRefunds`), the
 * shopper's `order.refunded` outbox event. One statement for the whole batch. Only orders with a
 * recorded charge are taken. Returns what it refunded.
 */
export async function writeRefunds(tx: Tx, which: SQL, r: RefundBy, limit: number): Promise<{ orderId: string; userId: string; refundId: string }[]> {
  const at = timestamptz(r.at);
  return rowsOf<{ order_id: string; user_id: string; refund_id: string }>(
    await tx.execute(sql`
      with locked as (
        select o.id, o.user_id from orders o
        where o.status = 'COMPLETED' and (${which})
          and exists (select 1 from payments p where p.order_id = o.id and p.status = 'SUCCEEDED' and p.transaction_id is not null)
        order by o.id
        limit ${limit}
        for update of o skip locked
      ), charged as (
        select distinct on (l.id) l.id as order_id, l.user_id, p.id as payment_id, p.gateway, p.transaction_id, p.amount, p.currency
        from locked l join payments p on p.order_id = l.id and p.status = 'SUCCEEDED' and p.transaction_id is not null
        order by l.id, p.attempt desc
      ), cancelled as (
        update orders set status = 'CANCELLED', updated_at = ${at} from charged where orders.id = charged.order_id
      ), queued as (
        insert into refunds (id, payment_id, order_id, gateway, transaction_id, amount, currency, status, reason, requested_by, created_at, updated_at, next_attempt_at)
        select gen_random_uuid(), payment_id, order_id, gateway, transaction_id, amount, currency, 'PENDING', ${r.reason.trim()}, ${r.by}, ${at}, ${at}, ${at}
        from charged
        returning id, order_id
      ), told as (
        insert into outbox (id, topic, aggregate_id, user_id, payload)
        select gen_random_uuid(), 'order.refunded', order_id, user_id,
          jsonb_build_object('orderId', order_id, 'total', amount, 'currency', currency, 'transactionId', transaction_id)
        from charged
      )
      select c.order_id, c.user_id, q.id as refund_id from charged c join queued q on q.order_id = c.order_id`),
  ).map((x) => ({ orderId: x.order_id, userId: x.user_id, refundId: x.refund_id }));
}

/**
 * The refunds of orders, oldest first for each, in one query: an order's operator refund, and any
 * charge of a failed attempt given back.
 */
export async function refundsOfOrders(deps: Deps, orderIds: string[]): Promise<Map<string, RefundRow[]>> {
  if (!orderIds.length) return new Map();
  return groupBy(await deps.db.select().from(refunds).where(inArray(refunds.orderId, orderIds)).orderBy(asc(refunds.createdAt)), (r) => r.orderId);
}

export const MAX_REFUNDS_PAGE = 500;
const REFUND_STATUSES = ['PENDING', 'SUCCEEDED', 'FAILED'] as const;

/**
 * Refunds for an operator, in id order a page at a time (`after`: the last id seen), only those in
 * `status` when given: the FAILED ones (`flashsale_refunds{status="FAILED"}`) are theirs to act on.
 */
export async function listRefunds(
  deps: Deps,
  q: { status?: string | null; first: number; after?: string | null },
): Promise<RefundRow[] | InvalidInput> {
  const bad =
    assertIntRange('first', q.first, 1, MAX_REFUNDS_PAGE) ??
    (q.after != null ? assertUuid('after', q.after) : undefined) ??
    (q.status != null && !(REFUND_STATUSES as readonly string[]).includes(q.status) ? invalid(`status must be one of ${REFUND_STATUSES.join(', ')}`, 'status') : undefined);
  if (bad) return bad;
  return deps.db
    .select()
    .from(refunds)
    .where(and(q.status != null ? eq(refunds.status, q.status as RefundRow['status']) : undefined, q.after != null ? gt(refunds.id, q.after) : undefined))
    .orderBy(asc(refunds.id))
    .limit(q.first);
}

/**
 * An operator tries a FAILED refund again (the gateway's configuration fixed, the card's account
 * reopened): it is PENDING again with a fresh count of attempts and made at once, under the same
 * key, so the gateway never pays back twice. A PENDING or SUCCEEDED refund is answered as it is.
 */
export async function retryRefund(deps: Deps, id: string): Promise<RefundRow | NotFound | InvalidInput> {
  const bad = assertUuid('id', id);
  if (bad) return bad;
  const [requeued] = await deps.db
    .update(refunds)
    // A fresh count of attempts, from those made so far: `attempts` keeps growing, so a worker still
    // holding an old claim can never match a new one (it is each claim's fencing token).
    .set({ status: 'PENDING', attemptsBase: sql`${refunds.attempts}`, nextAttemptAt: deps.now(), updatedAt: deps.now() })
    .where(and(eq(refunds.id, id), eq(refunds.status, 'FAILED')))
    .returning();
  if (requeued) {
    await runRefunds(deps, undefined, id).catch((err) => deps.log.warn({ err, refundId: id }, 'refund retried but not made at once; the refunds job retries it'));
  }
  const [now] = await deps.db.select().from(refunds).where(eq(refunds.id, id));
  return now ?? notFound('Refund');
}
