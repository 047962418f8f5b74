import { randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import { rowsOf, type Tx } from '../../adapters/db/client.js';
import { orders, outbox, payments, products, reservations, stockMovements, type OrderRow, type PaymentRow, type ProductRow } from '../../adapters/db/schema/tables.js';
import { publishReservation, returnToGate } from '../cart/reserve.js';
import { type Actor, type Deps, RetryableError } from '../context.js';
import { announceStock, stockBump } from '../inventory/products.js';
import { assertPaymentMethod, publishOrder } from '../orders/checkout.js';
import {
  assertIdempotencyKey,
  assertIntRange,
  assertUuid,
  type InvalidInput,
  type NotFound,
  notFound,
  type ReservationExpired,
  reservationExpired,
} from '../results.js';
import type { ChargeOutcome, ChargeRequest } from './port.js';

export interface PayInput {
  orderId: string;
  paymentMethod: string;
  amount: number;
  idempotencyKey?: string | null;
}

export interface PaySuccess { __typename: 'PaySuccess'; order: OrderRow; transactionId: string; paymentStatus: 'COMPLETED' }
export interface PaymentDeclined { __typename: 'PaymentDeclined'; code: 'PAYMENT_DECLINED'; message: string; declineCode?: string | null }
export interface PaymentUnavailable { __typename: 'PaymentUnavailable'; code: 'PAYMENT_UNAVAILABLE'; message: string; retryAfterSeconds?: number }
export interface AmountMismatch { __typename: 'AmountMismatch'; code: 'AMOUNT_MISMATCH'; message: string; expected: { amount: number; currency: string } }
export interface AlreadyPaid { __typename: 'AlreadyPaid'; code: 'ALREADY_PAID'; message: string; order: OrderRow }

export type PayResult = PaySuccess | PaymentDeclined | PaymentUnavailable | AmountMismatch | ReservationExpired | AlreadyPaid | NotFound | InvalidInput;

const declined = (message: string, declineCode?: string | null): PaymentDeclined => ({ __typename: 'PaymentDeclined', code: 'PAYMENT_DECLINED', message, declineCode });
const unavailable = (message: string, retryAfterSeconds = 5): PaymentUnavailable => ({
  __typename: 'PaymentUnavailable',
  code: 'PAYMENT_UNAVAILABLE',
  message,
  retryAfterSeconds,
});

/** The outcome a finished payment attempt stands for, replayed for a repeated idempotency key. */
function replay(order: OrderRow, p: PaymentRow): PayResult {
  if (p.status === 'SUCCEEDED') return { __typename: 'PaySuccess', order, transactionId: p.transactionId!, paymentStatus: 'COMPLETED' };
  if (p.status === 'DECLINED') return declined(p.message ?? 'The payment was declined', p.declineCode);
  if (p.status === 'FAILED') return unavailable(p.message ?? 'The payment gateway was unavailable; nothing was charged');
  return unavailable('This payment is still being processed; try again shortly', 2);
}

/**
 * Charges an order. Step 1 (one transaction) records a PROCESSING attempt with a gateway
 * idempotency key derived from the order and attempt number; step 2 calls the gateway
 * outside any transaction; step 3 (one transaction) settles the order, the stock and the
 * outbox together. A retried `pay` never charges twice.
 */
export async function pay(deps: Deps, actor: Actor, input: PayInput): Promise<PayResult> {
  const started = await startAttempt(deps, actor, input);
  if ('__typename' in started) return started;

  let outcome: ChargeOutcome;
  try {
    outcome = await deps.payments.charge(chargeRequestOf(started.attempt));
  } catch (err) {
    deps.log.warn({ err, orderId: started.order.id }, 'payment gateway call failed; outcome unknown');
    outcome = { status: 'unknown', message: 'The payment gateway did not answer' };
  }
  const settled = await settlePayment(deps, started.attempt.id, outcome);
  return settled;
}

/** The gateway request for an attempt: the same for the first call, retries, lookups and reconciliation. */
export const chargeRequestOf = (attempt: PaymentRow): ChargeRequest => ({
  orderId: attempt.orderId,
  amount: attempt.amount,
  currency: attempt.currency,
  paymentMethod: attempt.paymentMethod,
  idempotencyKey: attempt.gatewayKey,
});

/**
 * Step 1 of `pay`, one transaction: validates the order and records a PROCESSING
 * attempt (or returns the outcome a repeated request key stands for).
 */
export async function startAttempt(deps: Deps, actor: Actor, input: PayInput): Promise<PayResult | { attempt: PaymentRow; order: OrderRow }> {
  const bad =
    assertUuid('orderId', input.orderId) ||
    assertPaymentMethod(input.paymentMethod) ||
    assertIntRange('amount', input.amount, 0, 2_000_000_000) ||
    assertIdempotencyKey(input.idempotencyKey);
  if (bad) return bad;
  const now = deps.now();
  return deps.db.transaction(async (tx): Promise<PayResult | { attempt: PaymentRow; order: OrderRow }> => {
    // The order, locked, and then (sent together: Postgres reads them after the lock is taken)
    // every attempt of it, newest first (unused unless the order is the caller's): a repeated
    // request key replays its attempt; otherwise the next attempt is numbered after them.
    const [[order], attempts] = await Promise.all([
      tx
        .select()
        .from(orders)
        .where(and(eq(orders.id, input.orderId), eq(orders.userId, actor.userId)))
        .for('update'),
      tx.select().from(payments).where(eq(payments.orderId, input.orderId)).orderBy(desc(payments.attempt)),
    ]);
    if (!order) return notFound('Order');
    if (input.idempotencyKey) {
      const prior = attempts.find((a) => a.requestKey === input.idempotencyKey);
      if (prior) return replay(order, prior);
    }
    if (order.status === 'COMPLETED') return { __typename: 'AlreadyPaid', code: 'ALREADY_PAID', message: 'This order is already paid', order };
    if (order.status !== 'PENDING') return reservationExpired(`This order is ${order.status.toLowerCase()}; its stock went back on sale`);
    if (input.amount !== order.totalAmount) {
      return {
        __typename: 'AmountMismatch',
        code: 'AMOUNT_MISMATCH',
        message: `amount must equal the order total (${order.totalAmount})`,
        expected: { amount: order.totalAmount, currency: order.currency },
      };
    }
    if (attempts.some((a) => a.status === 'PROCESSING' || a.status === 'UNKNOWN')) {
      return unavailable('A payment for this order is already in progress; try again shortly', 2);
    }
    // The expiry sweeper claims holds FOR UPDATE SKIP LOCKED: hold this order's rows while the
    // attempt starts, so it cannot expire them under a payment (found by the issue-7 fault tests).
    // One statement: lock what can be locked, count all the order's holds beside it, and (when
    // every hold is locked) how many of them are no longer live checked-out holds.
    const [holds] = rowsOf<{ holds: number; locked: number; expired: number }>(
      await tx.execute(sql`
        with locked as (
          select ${reservations.status} as status, ${reservations.expiresAt} as expires_at from ${reservations}
          where ${reservations.orderId} = ${order.id} for update skip locked
        )
        select (select count(*) from ${reservations} where ${reservations.orderId} = ${order.id})::int as holds,
               (select count(*) from locked)::int as locked,
               (select count(*) from locked where status <> 'CHECKED_OUT' or expires_at <= ${now.toISOString()}::timestamptz)::int as expired`),
    );
    if (Number(holds.locked) < Number(holds.holds)) return unavailable('This order is being updated; try again', 1);
    if (Number(holds.expired) > 0) return reservationExpired();
    const n = (attempts[0]?.attempt ?? 0) + 1;
    const [attempt] = await tx
      .insert(payments)
      .values({
        id: randomUUID(),
        orderId: order.id,
        attempt: n,
        gateway: deps.payments.name,
        gatewayKey: `order_${order.id}_attempt_${n}`,
        requestKey: input.idempotencyKey ?? null,
        paymentMethod: input.paymentMethod,
        amount: order.totalAmount,
        currency: order.currency,
        status: 'PROCESSING',
      })
      .returning();
    return { attempt, order };
  });
}

/**
 * Applies a gateway outcome to an attempt, its order, its stock and the outbox, in one
 * transaction. Settling an already-settled attempt changes nothing (webhooks and
 * reconciliation may call it again).
 */
export async function settlePayment(deps: Deps, paymentId: string, outcome: ChargeOutcome): Promise<PayResult> {
  const now = deps.now();
  let effects: { order: OrderRow; released: { id: string; productId: string; userId: string; quantity: number }[]; sold: { id: string; productId: string; userId: string }[]; products: ProductRow[] } | undefined;
  let result: PayResult;
  try {
    result = await deps.db.transaction(async (tx) => {
      const [p] = await tx.select().from(payments).where(eq(payments.id, paymentId)).for('update');
      if (!p) return notFound('Payment');
      const [order] = await tx.select().from(orders).where(eq(orders.id, p.orderId)).for('update');
      if (p.status !== 'PROCESSING' && p.status !== 'UNKNOWN') {
        if (outcome.status === 'succeeded' && p.status !== 'SUCCEEDED') {
          // Settled as not charged (e.g. by reconciliation) but a charge did land: money without an order.
          deps.log.error(
            { paymentId: p.id, orderId: p.orderId, status: p.status, transactionId: outcome.transactionId, gateway: outcome.gateway },
            'a charge landed on a payment attempt already settled as not charged: refund it',
          );
        }
        return replay(order, p);
      }
      switch (outcome.status) {
        case 'succeeded': {
          const settled = await settleOrder(tx, p.id, order, {
            payment: { status: 'SUCCEEDED', transactionId: outcome.transactionId, gateway: outcome.gateway ?? p.gateway, updatedAt: now },
            stock: 'PURCHASED',
            order: { status: 'COMPLETED', paymentStatus: 'COMPLETED', inventoryStatus: 'CONFIRMED', transactionId: outcome.transactionId, updatedAt: now },
            topic: 'order.completed',
            payload: { transactionId: outcome.transactionId },
          });
          effects = { order: settled.order, released: [], sold: settled.moved, products: settled.products };
          return { __typename: 'PaySuccess', order: settled.order, transactionId: outcome.transactionId, paymentStatus: 'COMPLETED' };
        }
        case 'declined': {
          const settled = await settleOrder(tx, p.id, order, {
            payment: {
              status: 'DECLINED',
              declineCode: outcome.declineCode,
              message: outcome.message,
              transactionId: outcome.transactionId ?? null,
              gateway: outcome.gateway ?? p.gateway,
              updatedAt: now,
            },
            stock: 'RELEASED',
            order: { status: 'FAILED', paymentStatus: 'FAILED', inventoryStatus: 'FAILED', updatedAt: now },
            topic: 'payment.failed',
            payload: { declineCode: outcome.declineCode },
          });
          effects = { order: settled.order, released: settled.moved, sold: [], products: settled.products };
          return declined(outcome.message, outcome.declineCode);
        }
        case 'unavailable':
          await tx.update(payments).set({ status: 'FAILED', message: outcome.message, updatedAt: now }).where(eq(payments.id, p.id));
          return unavailable(outcome.message, outcome.retryAfterSeconds);
        case 'unknown':
          await tx.update(payments).set({ status: 'UNKNOWN', message: outcome.message, updatedAt: now }).where(eq(payments.id, p.id));
          return unavailable('The payment outcome is not known yet; it will be settled shortly. Do not pay again.', 10);
      }
    });
  } catch (err) {
    throw new RetryableError('The payment could not be recorded; it will be settled by reconciliation', { cause: err });
  }
  if (effects) {
    await returnToGate(deps, effects.released);
    for (const p of effects.products) await announceStock(deps, p);
    for (const r of [...effects.released.map((r) => ({ ...r, status: 'RELEASED' as const })), ...effects.sold.map((r) => ({ ...r, status: 'PURCHASED' as const }))]) {
      await publishReservation(deps, r);
    }
    await publishOrder(deps, effects.order);
  }
  return result;
}

const actorOf = (o: OrderRow) => o.userId;

/**
 * A charged or declined attempt's writes: the attempt, the order's holds (sold or back on sale,
 * with their stock movements), the order and its outbox row, sent together (one round trip;
 * Postgres runs them in this order), then the product rows last (`moveStock`).
 */
async function settleOrder(
  tx: Tx,
  paymentId: string,
  order: OrderRow,
  w: {
    payment: Partial<typeof payments.$inferInsert>;
    stock: 'PURCHASED' | 'RELEASED';
    order: Partial<typeof orders.$inferInsert>;
    topic: 'order.completed' | 'payment.failed';
    payload: Record<string, unknown>;
  },
) {
  const [, moved, [settled]] = await Promise.all([
    tx.update(payments).set(w.payment).where(eq(payments.id, paymentId)),
    markOrderStock(tx, order.id, w.stock, w.stock === 'PURCHASED' ? 'SELL' : 'FAIL', actorOf(order)),
    tx.update(orders).set(w.order).where(eq(orders.id, order.id)).returning(),
    tx.insert(outbox).values({
      id: randomUUID(),
      topic: w.topic,
      aggregateId: order.id,
      userId: order.userId,
      payload: { orderId: order.id, total: order.totalAmount, currency: order.currency, ...w.payload },
    }),
  ]);
  return { order: settled, moved, products: await moveStock(tx, moved, w.stock) };
}

/**
 * Moves every CHECKED_OUT reservation of an order: sold for good (PURCHASED) or back
 * on sale (RELEASED), with the matching product totals and ledger rows.
 */
/**
 * The order's CHECKED_OUT reservations to `to`, with one stock movement each. The product rows
 * are moved by `moveStock`, last in the transaction.
 */
async function markOrderStock(tx: Tx, orderId: string, to: 'PURCHASED' | 'RELEASED', kind: 'SELL' | 'FAIL', actor: string) {
  const moved = await tx
    .update(reservations)
    .set({ status: to, updatedAt: sql`now()` })
    .where(and(eq(reservations.orderId, orderId), eq(reservations.status, 'CHECKED_OUT')))
    .returning({ id: reservations.id, productId: reservations.productId, userId: reservations.userId, quantity: reservations.quantity });
  if (moved.length) await tx.insert(stockMovements).values(moved.map((r) => ({ productId: r.productId, kind, quantity: r.quantity, reservationId: r.id, orderId, actor })));
  return moved;
}

/**
 * Moves the products' stock for reservations marked by `markOrderStock`: issued last in the
 * settling transaction, so each product row (shared by every payer of a sale) stays locked
 * only for this and the commit, and in product-id order, so two settlements cannot deadlock.
 * Returns the moved rows, announced after the commit.
 */
async function moveStock(tx: Tx, moved: { productId: string; quantity: number }[], to: 'PURCHASED' | 'RELEASED'): Promise<ProductRow[]> {
  const units = new Map<string, number>();
  for (const r of moved) units.set(r.productId, (units.get(r.productId) ?? 0) + r.quantity);
  const rows: ProductRow[] = [];
  for (const [productId, quantity] of [...units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const [row] = await tx
      .update(products)
      .set(
        to === 'PURCHASED'
          ? { reservedQuantity: sql`${products.reservedQuantity} - ${quantity}`, soldQuantity: sql`${products.soldQuantity} + ${quantity}`, ...stockBump }
          : { reservedQuantity: sql`${products.reservedQuantity} - ${quantity}`, availableQuantity: sql`${products.availableQuantity} + ${quantity}`, ...stockBump },
      )
      .where(eq(products.id, productId))
      .returning();
    rows.push(row);
  }
  return rows;
}
