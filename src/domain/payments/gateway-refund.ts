import { eq, sql } from 'drizzle-orm';
import { orders, refunds, type payments } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { publishOrder } from '../orders/checkout.js';
import { writeRefunds } from '../orders/refund.js';
import type { RefundNotification } from './port.js';
import { oweRefund } from './refunds.js';

export type GatewayRefundResult = 'refund-recorded' | 'refund-known' | 'partial-refund';

/**
 * A refund the gateway reports for one of our charges:
 * - one we asked for (`refundOrder`, the refunds job): its row is marked SUCCEEDED if it was not yet
 *   (our call timed out, but the gateway made it), nothing else;
 * - one made in the gateway's dashboard, of the whole charge of a paid order: recorded as if an
 *   operator had called `refundOrder` (the order CANCELLED, out of `paidOrders` and the revenue,
 *   the shopper told), with the refund already SUCCEEDED, so the order is not shipped;
 * - of a charge no order kept (settled as not charged): recorded as made, so the refunds job does
 *   not refund it a second time;
 * - of part of a charge: the order is kept (paid, to ship), and a warning logged for an operator.
 * `p` is the charge's attempt, settled (`applyNotification` and reconciliation find it).
 * Idempotent: a duplicate finds the refund recorded.
 */
export async function recordGatewayRefund(
  deps: Deps,
  gateway: string,
  n: RefundNotification,
  p: typeof payments.$inferSelect,
): Promise<GatewayRefundResult> {
  const done = { status: 'SUCCEEDED' as const, refundId: n.refundId, lastError: null, updatedAt: deps.now() };
  const out = await deps.db.transaction(async (tx): Promise<{ result: GatewayRefundResult; cancelled?: { id: string; userId: string } }> => {
    const [order] = await tx.select().from(orders).where(eq(orders.id, p.orderId)).for('update');
    const [known] = await tx.select().from(refunds).where(eq(refunds.paymentId, p.id));
    if (known) {
      if (known.status !== 'SUCCEEDED' || (!known.refundId && n.refundId)) {
        await tx.update(refunds).set({ ...done, refundId: known.refundId ?? n.refundId }).where(eq(refunds.id, known.id));
      }
      return { result: 'refund-known' };
    }
    if (n.amountRefunded < p.amount) {
      deps.log.warn(
        { gateway, eventId: n.eventId, orderId: p.orderId, transactionId: n.transactionId, amount: p.amount, amountRefunded: n.amountRefunded },
        'part of a charge was refunded at the gateway; the order is kept as paid',
      );
      return { result: 'partial-refund' };
    }
    if (p.status === 'SUCCEEDED' && order?.status === 'COMPLETED') {
      const [w] = await writeRefunds(tx, sql`o.id = ${p.orderId}`, { reason: `refunded at ${gateway}`, by: `gateway:${gateway}`, at: deps.now() }, 1);
      if (w) {
        await tx.update(refunds).set(done).where(eq(refunds.id, w.refundId));
        return { result: 'refund-recorded', cancelled: { id: w.orderId, userId: w.userId } };
      }
    }
    // A charge no order keeps (or one whose order is no longer paid): recorded as given back.
    await oweRefund(tx, { paymentId: p.id, orderId: p.orderId, gateway, transactionId: n.transactionId, amount: p.amount, currency: p.currency });
    await tx.update(refunds).set(done).where(eq(refunds.paymentId, p.id));
    return { result: 'refund-recorded' };
  });
  if (out.cancelled) {
    deps.log.info({ gateway, eventId: n.eventId, orderId: out.cancelled.id, transactionId: n.transactionId }, 'paid order refunded at the gateway: cancelled');
    void publishOrder(deps, { ...out.cancelled, status: 'CANCELLED' });
  }
  return out.result;
}
