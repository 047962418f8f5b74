import { randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { type DbOrTx, rowsOf } from '../../adapters/db/client.js';
import { timestamptz } from '../../adapters/db/rows.js';
import { type OrderRow, refunds } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { publishOrder } from '../orders/checkout.js';
import { gatewaysOf } from './port.js';

/**
 * Refunds, of two kinds:
 * - a paid order an operator refunds (orders/refund.ts: `refundOrder` writes the row, with its
 *   reason, and makes the refund at once; this job retries it if the gateway failed then);
 * - money no order keeps. A charge can land on a payment attempt we already settled as not charged
 *   (its order failed or was cancelled and its stock went back): a gateway that charged after it
 *   was fenced, a capture that completed after its lookup said nothing was taken. The shopper paid
 *   for nothing, so the money goes back without waiting for an operator.
 * The steps:
 * 1. `oweRefund` (or `refundOrder`) records it: one row per attempt, so a repeated webhook, settlement
 *    or operator call adds nothing;
 * 2. the `refunds` worker job claims due rows (`FOR UPDATE SKIP LOCKED`, a lease, the attempt
 *    number as fencing token, as the outbox relay does) and asks the gateway that took the money
 *    to refund all of it, with an idempotency key derived from the attempt (`refund-<payment id>`),
 *    so a retry after a timeout or a crash never pays back twice;
 * 3. a refund the gateway refuses or cannot be reached for is retried with backoff, and after
 *    `maxAttempts` marked FAILED and logged as an error for an operator (`flashsale_refunds{status}`).
 */
export interface OwedRefund {
  paymentId: string;
  orderId: string;
  /** The gateway that took the money (a router's member, e.g. "stripe"). */
  gateway: string;
  transactionId: string;
  amount: number;
  currency: string;
}

/** Records that a charge must be given back (in the caller's transaction when given one); a second call for the same attempt changes nothing. */
export async function oweRefund(db: DbOrTx, r: OwedRefund): Promise<void> {
  await db
    .insert(refunds)
    .values({ id: randomUUID(), ...r, status: 'PENDING' })
    .onConflictDoNothing({ target: refunds.paymentId });
}

export interface RefundSettings {
  batch: number;
  /** After this many attempts a refund is FAILED (an operator's job). */
  maxAttempts: number;
  /** How long a claimed refund is left to its worker before another may take it. */
  leaseSeconds: number;
  /** Backoff between attempts: base × 2^(attempt-1), at most `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_REFUND_SETTINGS: RefundSettings = { batch: 50, maxAttempts: 12, leaseSeconds: 120, retryBaseMs: 5_000, retryMaxMs: 3_600_000 };

export interface RefundReport {
  claimed: number;
  refunded: number;
  retrying: number;
  failed: number;
}

interface Claimed {
  id: string;
  payment_id: string;
  gateway: string;
  transaction_id: string;
  amount: number;
  currency: string;
  attempts: number;
  attempts_base: number;
  order_id: string;
  /** The operator's reason (refundOrder); null for a charge no order kept. */
  reason: string | null;
  /** The order's shopper and status, for the event that tells its live page the refund's outcome. */
  user_id: string | null;
  order_status: string | null;
}

/**
 * A refund made or failed for good: the order's live subscribers (`orderStatusChanged`, which stays
 * open while a refund of the order is pending) read the outcome. Its status has not changed.
 */
function tell(deps: Deps, r: Claimed): void {
  if (r.user_id !== null && r.order_status !== null) void publishOrder(deps, { id: r.order_id, userId: r.user_id, status: r.order_status as OrderRow['status'] });
}

/**
 * One pass: claims due refunds (only the one with id `only` when given) and asks their gateways to
 * make them. Due by the caller's clock (`deps.now()`, which retries are scheduled by) or the
 * database's, as the outbox relay's `claimDue`: a refund owed is stamped with the database's `now()`
 * (microseconds), which a pass in the same millisecond would otherwise find not due yet.
 */
export async function runRefunds(deps: Deps, s: RefundSettings = DEFAULT_REFUND_SETTINGS, only?: string): Promise<RefundReport> {
  const now = deps.now();
  const claimed = rowsOf<Claimed>(
    await deps.db.execute(sql`
      update refunds r set attempts = r.attempts + 1, next_attempt_at = ${timestamptz(new Date(now.getTime() + s.leaseSeconds * 1000))}, updated_at = now()
      where r.id in (
        select id from refunds
        where status = 'PENDING' and next_attempt_at <= greatest(${timestamptz(now)}, now())${only === undefined ? sql`` : sql` and id = ${only}`}
        order by next_attempt_at
        limit ${s.batch}
        for update skip locked
      )
      returning r.id, r.payment_id, r.order_id, r.gateway, r.transaction_id, r.amount, r.currency, r.attempts, r.attempts_base, r.reason,
        (select o.user_id from orders o where o.id = r.order_id) as user_id, (select o.status from orders o where o.id = r.order_id) as order_status`),
  );
  const report: RefundReport = { claimed: claimed.length, refunded: 0, retrying: 0, failed: 0 };
  const gateways = gatewaysOf(deps.payments);
  for (const r of claimed) {
    const attempts = Number(r.attempts);
    // Counted from an operator's last retryRefund, which leaves `attempts` (the fencing token) growing.
    const made = attempts - Number(r.attempts_base);
    // Recorded only by the claim that made this attempt (a worker whose lease ran out changes nothing).
    const mine = and(eq(refunds.id, r.id), eq(refunds.attempts, attempts), eq(refunds.status, 'PENDING'));
    const gateway = gateways.find((g) => g.name === r.gateway && g.refund);
    try {
      if (!gateway) throw new Error(`no "${r.gateway}" gateway that can refund is configured here`);
      const { refundId } = await gateway.refund!({
        transactionId: r.transaction_id,
        amount: Number(r.amount),
        currency: r.currency,
        idempotencyKey: `refund-${r.payment_id}`,
      });
      const [recorded] = await deps.db.update(refunds).set({ status: 'SUCCEEDED', refundId, lastError: null, updatedAt: new Date() }).where(mine).returning({ id: refunds.id });
      report.refunded++;
      if (recorded) tell(deps, r);
      deps.log.info(
        { paymentId: r.payment_id, orderId: r.order_id, gateway: r.gateway, transactionId: r.transaction_id, refundId },
        r.reason === null ? 'charge without an order refunded' : 'order refunded',
      );
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).slice(0, 500);
      if (made >= s.maxAttempts) {
        const [failed] = await deps.db.update(refunds).set({ status: 'FAILED', lastError: message, updatedAt: new Date() }).where(mine).returning({ id: refunds.id });
        report.failed++;
        if (failed) tell(deps, r);
        deps.log.error(
          { paymentId: r.payment_id, orderId: r.order_id, gateway: r.gateway, transactionId: r.transaction_id, amount: r.amount, currency: r.currency, attempts, err: message },
          `refund of ${r.reason === null ? 'a charge without an order' : 'an order'} failed for good: refund it by hand`,
        );
      } else {
        const wait = Math.min(s.retryMaxMs, s.retryBaseMs * 2 ** (made - 1));
        await deps.db
          .update(refunds)
          .set({ lastError: message, nextAttemptAt: new Date(deps.now().getTime() + wait), updatedAt: new Date() })
          .where(mine);
        report.retrying++;
        deps.log.warn({ paymentId: r.payment_id, gateway: r.gateway, attempts, retryInMs: wait, err: message }, 'refund not made yet; will retry');
      }
    }
  }
  return report;
}
