import { eq } from 'drizzle-orm';
import { payments } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { settlePayment } from './pay.js';
import type { GatewayNotification } from './port.js';
import { oweRefund } from './refunds.js';

export type NotificationResult = 'settled' | 'already-settled' | 'unknown-payment';

/**
 * Applies a verified gateway notification. Settling is idempotent and ignores attempts
 * already settled, so duplicate and out-of-order deliveries change nothing.
 */
export async function applyNotification(deps: Deps, gateway: string, n: GatewayNotification): Promise<NotificationResult> {
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
