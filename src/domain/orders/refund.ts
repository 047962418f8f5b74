import { randomUUID } from 'node:crypto';
import { and, asc, desc, eq, isNotNull } from 'drizzle-orm';
import { orders, payments, refunds, type OrderRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { outboxInsert } from '../notifications/events.js';
import { runRefunds } from '../payments/refunds.js';
import { assertText, assertUuid, type InvalidInput, invalid, type NotFound, notFound } from '../results.js';
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
 *    the gateway fails now), and the order's live status subscribers are told.
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
    const [charge] = await tx
      .select()
      .from(payments)
      .where(and(eq(payments.orderId, orderId), eq(payments.status, 'SUCCEEDED'), isNotNull(payments.transactionId)))
      .orderBy(desc(payments.attempt))
      .limit(1);
    if (!charge) return invalid('No charge is recorded for this order: there is nothing to refund through a gateway', 'orderId');
    const at = deps.now();
    const [cancelled] = await tx.update(orders).set({ status: 'CANCELLED', updatedAt: at }).where(eq(orders.id, orderId)).returning();
    const [refund] = await tx
      .insert(refunds)
      .values({
        id: randomUUID(),
        paymentId: charge.id,
        orderId,
        gateway: charge.gateway,
        transactionId: charge.transactionId!,
        amount: charge.amount,
        currency: charge.currency,
        status: 'PENDING',
        reason: reason.trim(),
        requestedBy: actor.userId,
        createdAt: at,
        updatedAt: at,
        nextAttemptAt: at,
      })
      .returning();
    await tx.execute(
      outboxInsert('order.refunded', orderId, order.userId, { orderId, total: charge.amount, currency: charge.currency, transactionId: charge.transactionId }),
    );
    return { order: cancelled!, refund: refund!, repeat: false };
  });
  if (!('refund' in done)) return done;
  if (done.repeat) return { order: done.order, refund: done.refund };
  void publishOrder(deps, done.order);
  // Made now rather than at the worker's next pass; a failure leaves it to the worker's retries.
  await runRefunds(deps, undefined, done.refund.id).catch((err) =>
    deps.log.warn({ err, refundId: done.refund.id, orderId }, 'refund not made at once; the refunds job retries it'),
  );
  const [now] = await deps.db.select().from(refunds).where(eq(refunds.id, done.refund.id));
  return { order: done.order, refund: now ?? done.refund };
}

/** An order's refunds, oldest first: its operator refund, and any charge of a failed attempt given back. */
export async function refundsOf(deps: Deps, orderId: string): Promise<RefundRow[]> {
  return deps.db.select().from(refunds).where(eq(refunds.orderId, orderId)).orderBy(asc(refunds.createdAt));
}
