import { and, eq } from 'drizzle-orm';
import { payments } from '../../adapters/db/schema/tables.js';
import { type Deps, RetryableError } from '../context.js';
import { recordGatewayRefund } from './gateway-refund.js';
import { settlePayment } from './pay.js';
import { type GatewayNotification, isRefundNotification, type RefundNotification } from './port.js';
import { reconcileAttempt } from './reconcile.js';
import { oweRefund } from './refunds.js';

export type NotificationResult = 'settled' | 'already-settled' | 'unknown-payment' | 'refund-recorded' | 'refund-known' | 'partial-refund';

/**
 * Applies a verified gateway notification. Settling is idempotent and ignores attempts
 * already settled, so duplicate and out-of-order deliveries change nothing.
 */
export async function applyNotification(deps: Deps, gateway: string, n: GatewayNotification | RefundNotification): Promise<NotificationResult> {
  if (isRefundNotification(n)) return applyRefund(deps, gateway, n);
  const [p] = await deps.db.select().from(payments).where(eq(payments.gatewayKey, n.idempotencyKey));
  if (!p) {
    deps.log.warn({ gateway, eventId: n.eventId, key: n.idempotencyKey }, 'webhook for a payment we do not know; ignored');
    return 'unknown-payment';
  }
  if (p.status !== 'PROCESSING' && p.status !== 'UNKNOWN') {
    if (n.outcome.status === 'succeeded' && p.status !== 'SUCCEEDED') {
      // We concluded "not charged" but the gateway says it charged: money without an order, given
      // back by the refunds job. Recorded before the answer, so a failure here makes the gateway redeliver.
      await oweRefund(deps.db, { paymentId: p.id, orderId: p.orderId, gateway, transactionId: n.outcome.transactionId, amount: p.amount, currency: p.currency });
      deps.log.error(
        { gateway, eventId: n.eventId, paymentId: p.id, orderId: p.orderId, status: p.status, transactionId: n.outcome.transactionId },
        'gateway reports a charge for an attempt we settled as not charged: refunding it',
      );
    }
    return 'already-settled';
  }
  await settlePayment(deps, p.id, { ...n.outcome, gateway });
  return 'settled';
}

/**
 * A refund the gateway reports for one of our charges (`recordGatewayRefund` says what it does).
 * The charge is found by its transaction id, which we learn when we settle it. A refund of a charge
 * we have not settled yet (our commit was lost, or the refund came first) is found by the charge
 * request's key, when the event carries it: the attempt is then settled at once through the
 * gateway's lookup, which reports the refund too, as reconciliation would. When the gateway cannot
 * tell yet, the answer is retryable (503) and the gateway delivers the event again. A refund of a
 * charge we do not know is acknowledged and ignored.
 */
async function applyRefund(deps: Deps, gateway: string, n: RefundNotification): Promise<NotificationResult> {
  let [p] = await deps.db
    .select()
    .from(payments)
    .where(and(eq(payments.transactionId, n.transactionId), eq(payments.gateway, gateway)));
  if (!p && n.idempotencyKey) {
    let [byKey] = await deps.db.select().from(payments).where(eq(payments.gatewayKey, n.idempotencyKey));
    let recorded = false;
    if (byKey && (byKey.status === 'PROCESSING' || byKey.status === 'UNKNOWN')) {
      const settled = await reconcileAttempt(deps, byKey);
      if (settled.outcome === 'pending') throw new RetryableError('The refunded charge cannot be settled yet; retry');
      deps.log.info({ gateway, eventId: n.eventId, paymentId: byKey.id, orderId: byKey.orderId, settled: settled.outcome }, 'refund webhook for a charge not settled yet: settled it first');
      [byKey] = await deps.db.select().from(payments).where(eq(payments.id, byKey.id));
      recorded = settled.refund === 'refund-recorded';
    }
    // Only the attempt of the charge this event names (or of none: settled as not charged); one
    // settled with another charge (another gateway's, after a failover) is not this refund's.
    if (byKey && (!byKey.transactionId || byKey.transactionId === n.transactionId)) {
      p = byKey;
      if (recorded) {
        // The lookup saw the refund and it was recorded with the settlement: this event adds its refund id.
        await recordGatewayRefund(deps, gateway, n, p);
        return 'refund-recorded';
      }
    }
  }
  if (!p) {
    deps.log.warn({ gateway, eventId: n.eventId, transactionId: n.transactionId }, 'refund webhook for a charge we do not know; ignored');
    return 'unknown-payment';
  }
  return recordGatewayRefund(deps, gateway, n, p);
}
