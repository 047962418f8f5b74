import { and, asc, eq, lt, or } from 'drizzle-orm';
import { payments } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { type GatewayRefundResult, recordGatewayRefund } from './gateway-refund.js';
import { chargeRequestOf, settlePayment } from './pay.js';

export interface ReconcileOptions {
  /** A PROCESSING attempt older than this is taken for a crash between charge and commit. */
  staleAfterMs: number;
  batch?: number;
}

export interface ReconcileReport {
  examined: number;
  succeeded: number;
  declined: number;
  /** Known not charged: the attempt is FAILED and the order can be paid again (or expire). */
  notCharged: number;
  /** The gateway could not tell yet: left for the next pass. */
  pending: number;
}

/**
 * Settles payment attempts whose outcome we do not know: UNKNOWN ones (timeouts) and
 * PROCESSING ones older than `staleAfterMs` (the process died between the gateway call
 * and our commit). Each is looked up at the gateway by its idempotency key and settled
 * through `settlePayment`, which is idempotent, so several workers, a webhook and a
 * late `pay` may race harmlessly. An attempt found not charged becomes FAILED: its
 * order stays PENDING until paid again or its hold expires (the sweeper then puts the
 * stock back; it skips orders with PROCESSING/UNKNOWN attempts only).
 */
export async function reconcilePayments(deps: Deps, opts: ReconcileOptions): Promise<ReconcileReport> {
  const report: ReconcileReport = { examined: 0, succeeded: 0, declined: 0, notCharged: 0, pending: 0 };
  const gateway = deps.payments;
  if (!gateway.lookup) return report;
  const staleBefore = new Date(deps.now().getTime() - opts.staleAfterMs);
  const rows = await deps.db
    .select()
    .from(payments)
    .where(or(eq(payments.status, 'UNKNOWN'), and(eq(payments.status, 'PROCESSING'), lt(payments.updatedAt, staleBefore))))
    .orderBy(asc(payments.updatedAt))
    .limit(opts.batch ?? 100);
  for (const p of rows) {
    report.examined++;
    const { outcome } = await reconcileAttempt(deps, p);
    if (outcome === 'pending') report.pending++;
    else if (outcome === 'succeeded') report.succeeded++;
    else if (outcome === 'declined') report.declined++;
    else report.notCharged++;
  }
  return report;
}

export interface ReconciledAttempt {
  outcome: 'succeeded' | 'declined' | 'not-charged' | 'pending';
  /** What became of a refund the gateway reported with the charge (made before we settled it). */
  refund?: GatewayRefundResult;
}

/**
 * Looks one attempt up at the gateway by its idempotency key and settles it through
 * `settlePayment` (idempotent). A charge the gateway reports as refunded since (in its dashboard,
 * before we settled it) is then recorded as a refund made at the gateway: a whole refund cancels
 * the order, so it is never shipped. `pending` when the gateway cannot tell yet.
 */
export async function reconcileAttempt(deps: Deps, p: typeof payments.$inferSelect): Promise<ReconciledAttempt> {
  if (!deps.payments.lookup) return { outcome: 'pending' };
  let rec;
  try {
    rec = await deps.payments.lookup(chargeRequestOf(p), deps.now());
  } catch (err) {
    deps.log.warn({ err, paymentId: p.id, orderId: p.orderId }, 'reconciliation: the gateway cannot tell yet; will retry');
    return { outcome: 'pending' };
  }
  const outcome = rec ?? { status: 'unavailable' as const, message: 'Reconciliation: the gateway has no charge for this attempt; nothing was charged' };
  const result = await settlePayment(deps, p.id, outcome);
  deps.log.info({ paymentId: p.id, orderId: p.orderId, outcome: outcome.status, result: result.__typename }, 'reconciliation settled a payment');
  if (outcome.status !== 'succeeded') return { outcome: outcome.status === 'declined' ? 'declined' : 'not-charged' };
  if (!outcome.amountRefunded) return { outcome: 'succeeded' };
  const gateway = outcome.gateway ?? deps.payments.name;
  const [settled] = await deps.db.select().from(payments).where(eq(payments.id, p.id));
  const refund = await recordGatewayRefund(
    deps,
    gateway,
    { eventId: `reconciliation:${p.id}`, transactionId: outcome.transactionId, amountRefunded: outcome.amountRefunded, refundId: null },
    settled!,
  );
  deps.log.warn({ paymentId: p.id, orderId: p.orderId, gateway, amountRefunded: outcome.amountRefunded, refund }, 'reconciliation: the charge was refunded at the gateway before we settled it');
  return { outcome: 'succeeded', refund };
}
