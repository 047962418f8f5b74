import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { exec, rowsOf, type Tx, withCommit } from '../../adapters/db/client.js';
import { orderOf, productOf, rowMapper, timestamptz } from '../../adapters/db/rows.js';
import { payments, type OrderRow, type PaymentRow, type ProductRow } from '../../adapters/db/schema/tables.js';
import { publishReservation, returnToGate } from '../cart/reserve.js';
import { type Actor, type Deps, RetryableError } from '../context.js';
import { KeyedBatches } from '../batches.js';
import { announceStock, stockBumpSql } from '../inventory/products.js';
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
import { type OwedRefund, oweRefund } from './refunds.js';

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
    // (Hand-written statements here and in settlePayment: drizzle's builder cost more CPU than
    // the statements themselves; rows mapped as drizzle maps them, src/adapters/db/rows.ts.)
    const [orderRows, attemptRows] = await Promise.all([
      exec(tx, sql`select * from orders where id = ${input.orderId} and user_id = ${actor.userId} for update`),
      exec(tx, sql`select * from payments where order_id = ${input.orderId} order by attempt desc`),
    ]);
    const order = rowsOf<Raw>(orderRows).map(orderOf)[0];
    const attempts = rowsOf<Raw>(attemptRows).map(paymentOf);
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
      await exec(tx, sql`
        with locked as (
          select status, expires_at from reservations where order_id = ${order.id} for update skip locked
        )
        select (select count(*) from reservations where order_id = ${order.id})::int as holds,
               (select count(*) from locked)::int as locked,
               (select count(*) from locked where status <> 'CHECKED_OUT' or expires_at <= ${timestamptz(now)})::int as expired`),
    );
    if (Number(holds.locked) < Number(holds.holds)) return unavailable('This order is being updated; try again', 1);
    if (Number(holds.expired) > 0) return reservationExpired();
    const n = (attempts[0]?.attempt ?? 0) + 1;
    const [attempt] = rowsOf<Raw>(
      await exec(tx, sql`
        insert into payments (id, order_id, attempt, gateway, gateway_key, request_key, payment_method, amount, currency, status)
        values (${randomUUID()}, ${order.id}, ${n}, ${deps.payments.name}, ${`order_${order.id}_attempt_${n}`}, ${input.idempotencyKey ?? null},
                ${input.paymentMethod}, ${order.totalAmount}, ${order.currency}, 'PROCESSING')
        returning *`),
    ).map(paymentOf);
    return { attempt, order };
  });
}

/**
 * Applies a gateway outcome to an attempt, its order, its stock and the outbox, in one
 * transaction. Settling an already-settled attempt changes nothing (webhooks and
 * reconciliation may call it again).
 *
 * Settlements are committed together (group commit, `SETTLE_BATCH_MAX`): those that arrive while
 * one transaction is in flight share the next, so a sale's product row — which every settlement
 * moves (reserved → sold, or back on sale) — is locked once per batch instead of once per payer,
 * and a unit won back during the pays no longer queues behind each of them. A batch that fails is
 * rolled back and its settlements run one by one.
 */
export async function settlePayment(deps: Deps, paymentId: string, outcome: ChargeOutcome): Promise<PayResult> {
  return new Promise((resolve, reject) => settlerOf(deps).queue.add('', { paymentId, outcome, resolve, reject }));
}

interface Settling {
  paymentId: string;
  outcome: ChargeOutcome;
  resolve(r: PayResult): void;
  reject(err: unknown): void;
}

/** At most this many settlements share one transaction, unless `SETTLE_BATCH_MAX` says otherwise. */
export const MAX_SETTLE_BATCH = 100;

const settlers = new WeakMap<Deps, { queue: KeyedBatches<Settling>; stats: { batches: number; settlements: number; fallbacks: number } }>();

/** This process's settlement batches for `deps`, and what they carried (tests). */
export function settlerOf(deps: Deps) {
  let s = settlers.get(deps);
  if (!s) {
    const stats = { batches: 0, settlements: 0, fallbacks: 0 };
    const alone = async (w: Settling) => {
      try {
        w.resolve((await settleTogether(deps, [w]))[0]!);
      } catch (err) {
        w.reject(new RetryableError('The payment could not be recorded; it will be settled by reconciliation', { cause: err }));
      }
    };
    const queue = new KeyedBatches<Settling>(deps.settleBatchMax ?? MAX_SETTLE_BATCH, async (_, batch) => {
      if (batch.length === 1) return alone(batch[0]);
      let results: (PayResult | undefined)[];
      try {
        results = await settleTogether(deps, batch);
      } catch (err) {
        deps.log.debug({ err, size: batch.length }, 'batched settlements fell back to one by one');
        stats.fallbacks++;
        for (const w of batch) await alone(w);
        return;
      }
      stats.batches++;
      stats.settlements += batch.length;
      batch.forEach((w, i) => results[i] && w.resolve(results[i]));
      // Left out of the batch (a second settlement of the same order): settled after it.
      for (const [i, w] of batch.entries()) if (!results[i]) await alone(w);
    });
    settlers.set(deps, (s = { queue, stats }));
  }
  return s;
}

type Moved = { id: string; productId: string; userId: string; quantity: number };

/**
 * One transaction for several settlements: the attempts and then their orders locked (each in id
 * order, so concurrent batches cannot deadlock), the charged and declined ones written by two
 * statements for all of them (`settleOrders`) and those the gateway could not settle by a third,
 * sent together, then one update per product, with the COMMIT.
 * The result of a settlement whose order another one in the batch already settles is left
 * undefined (the caller settles it afterwards), so each reads its order as the settlement before
 * it left it.
 */
async function settleTogether(deps: Deps, items: Pick<Settling, 'paymentId' | 'outcome'>[]): Promise<(PayResult | undefined)[]> {
  const now = deps.now();
  const ids = sql.param(items.map((i) => i.paymentId));
  const orders: OrderRow[] = [];
  const sold: Moved[] = [];
  const released: Moved[] = [];
  const { results, products } = await deps.db.transaction(async (tx) => {
    const [payRows, orderRows] = await Promise.all([
      exec(tx, sql`select * from payments where id = any(${ids}::uuid[]) order by id for update`),
      exec(tx, sql`select * from orders where id in (select order_id from payments where id = any(${ids}::uuid[])) order by id for update`),
    ]);
    const payById = new Map(rowsOf<Raw>(payRows).map(paymentOf).map((p) => [p.id, p]));
    const orderById = new Map(rowsOf<Raw>(orderRows).map(orderOf).map((o) => [o.id, o]));
    const claimed = new Set<string>();
    // Charged and declined attempts are settled together below, by two statements for the whole
    // batch, and attempts the gateway could not settle (FAILED, UNKNOWN) by one more, sent with them;
    // the rest is answered from what was read.
    const charged: Charged[] = [];
    const uncharged: { id: string; status: 'FAILED' | 'UNKNOWN'; message: string }[] = [];
    const owed: OwedRefund[] = [];
    const results = items.map(({ paymentId, outcome }, i): PayResult | undefined => {
      const p = payById.get(paymentId);
      if (!p) return notFound('Payment');
      if (claimed.has(p.orderId)) return undefined;
      claimed.add(p.orderId);
      const order = orderById.get(p.orderId)!;
      if (p.status !== 'PROCESSING' && p.status !== 'UNKNOWN') {
        if (outcome.status === 'succeeded' && p.status !== 'SUCCEEDED') {
          // Settled as not charged (e.g. by reconciliation) but a charge did land: money without an
          // order. Given back by the refunds job (recorded below, in this transaction).
          owed.push({ paymentId: p.id, orderId: p.orderId, gateway: outcome.gateway ?? p.gateway, transactionId: outcome.transactionId, amount: p.amount, currency: p.currency });
          deps.log.error(
            { paymentId: p.id, orderId: p.orderId, status: p.status, transactionId: outcome.transactionId, gateway: outcome.gateway },
            'a charge landed on a payment attempt already settled as not charged: refunding it',
          );
        }
        return replay(order, p);
      }
      switch (outcome.status) {
        case 'succeeded':
        case 'declined':
          charged.push({ index: i, payment: p, order, outcome });
          return undefined; // answered once settleOrders has written it
        case 'unavailable':
          uncharged.push({ id: p.id, status: 'FAILED', message: outcome.message });
          return unavailable(outcome.message, outcome.retryAfterSeconds);
        case 'unknown':
          uncharged.push({ id: p.id, status: 'UNKNOWN', message: outcome.message });
          return unavailable('The payment outcome is not known yet; it will be settled shortly. Do not pay again.', 10);
      }
    });
    const [settled] = await Promise.all([
      charged.length ? settleOrders(tx, charged, now) : undefined,
      uncharged.length
        ? exec(tx, sql`
            update payments p set status = s.status, message = s.message, updated_at = ${timestamptz(now)}
            from unnest(${sql.param(uncharged.map((u) => u.id))}::uuid[], ${sql.param(uncharged.map((u) => u.status))}::text[],
                        ${sql.param(uncharged.map((u) => u.message))}::text[]) as s(id, status, message)
            where p.id = s.id`)
        : undefined,
    ]);
    for (const c of charged) {
      const { order, moved } = settled!.get(c.order.id)!;
      orders.push(order);
      if (c.outcome.status === 'succeeded') {
        sold.push(...moved);
        results[c.index] = { __typename: 'PaySuccess', order, transactionId: c.outcome.transactionId, paymentStatus: 'COMPLETED' };
      } else {
        released.push(...moved);
        results[c.index] = declined(c.outcome.message, c.outcome.declineCode);
      }
    }
    for (const o of owed) await oweRefund(tx, o);
    const { after } = await withCommit(tx, moveStock(tx, sold, released));
    return { results, products: after };
  });
  // The product rows, moved by the statements sent with the COMMIT (withCommit): if they failed,
  // nothing was committed, and this throws as the transaction would have.
  const productsMoved = await products;
  // Committed. Declined holds go back to the gate before anyone is answered (a shopper told
  // "declined" may reserve again at once); the news (stock, holds, orders) is issued all at once
  // and holds neither these answers nor the next batch, as in the reservations' group commit:
  // awaited one by one, a batch's publishes cost a Redis round trip each.
  await returnToGate(deps, released);
  void Promise.all([
    ...productsMoved.map((p) => announceStock(deps, p)),
    ...released.map((r) => publishReservation(deps, { ...r, status: 'RELEASED' })),
    ...sold.map((r) => publishReservation(deps, { ...r, status: 'PURCHASED' })),
    ...orders.map((o) => publishOrder(deps, o)),
  ]).catch((err) => deps.log.warn({ err }, 'after a settlement: stock, reservation or order event failed'));
  return results;
}

const actorOf = (o: OrderRow) => o.userId;

type Raw = Record<string, unknown>;
const paymentOf = rowMapper(payments);

/** A charged or declined attempt of a settlement batch, with its order (both locked). */
interface Charged {
  index: number;
  payment: PaymentRow;
  order: OrderRow;
  outcome: Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }>;
}

/**
 * Charged and declined attempts' writes for a whole settlement batch, in two statements sent
 * together (one round trip), each taking the batch as one array parameter per column: the attempts
 * (SUCCEEDED, or DECLINED with the decline), their orders' CHECKED_OUT holds (sold for good, or back
 * on sale) with one stock movement each; then the orders (COMPLETED with the transaction id, or
 * FAILED) and one outbox row each (`order.completed` / `payment.failed`). The same rows as one
 * settlement at a time wrote with four statements each (a batch of 100 took 0.5-0.8 s of round
 * trips during a sale). The product rows are moved by `moveStock`, last in the transaction.
 * Returns each order as updated and the holds it moved, by order id.
 */
async function settleOrders(tx: Tx, charged: Charged[], now: Date): Promise<Map<string, { order: OrderRow; moved: Moved[] }>> {
  const at = timestamptz(now);
  const col = <T>(f: (c: Charged) => T) => sql.param(charged.map(f));
  const ok = (c: Charged) => c.outcome.status === 'succeeded';
  const orderIds = col((c) => c.order.id);
  const transactionIds = col((c) => c.outcome.transactionId ?? null);
  const [movedRows, orderRows] = await Promise.all([
    exec(tx, sql`
      with s as (
        select * from unnest(${col((c) => c.payment.id)}::uuid[], ${orderIds}::uuid[], ${col((c) => (ok(c) ? 'SUCCEEDED' : 'DECLINED'))}::text[],
                             ${transactionIds}::text[], ${col((c) => c.outcome.gateway ?? c.payment.gateway)}::text[],
                             ${col((c) => (c.outcome.status === 'declined' ? (c.outcome.declineCode ?? null) : null))}::text[],
                             ${col((c) => (c.outcome.status === 'declined' ? c.outcome.message : null))}::text[], ${col((c) => actorOf(c.order))}::text[])
          as s(payment_id, order_id, status, transaction_id, gateway, decline_code, message, actor)
      ), paid as (
        update payments p set status = s.status, transaction_id = s.transaction_id, gateway = s.gateway, updated_at = ${at},
          decline_code = case when s.status = 'DECLINED' then s.decline_code else p.decline_code end,
          message = case when s.status = 'DECLINED' then s.message else p.message end
        from s where p.id = s.payment_id
      ), moved as (
        update reservations r set status = case when s.status = 'SUCCEEDED' then 'PURCHASED' else 'RELEASED' end, updated_at = now()
        from s where r.order_id = s.order_id and r.status = 'CHECKED_OUT'
        returning r.id, r.product_id, r.user_id, r.quantity, r.order_id, s.status, s.actor
      ), logged as (
        insert into stock_movements (product_id, kind, quantity, reservation_id, order_id, actor)
        select product_id, case when status = 'SUCCEEDED' then 'SELL' else 'FAIL' end, quantity, id, order_id, actor from moved
      )
      select id, product_id, user_id, quantity, order_id from moved`),
    exec(tx, sql`
      with s as (
        select * from unnest(${orderIds}::uuid[], ${col((c) => (ok(c) ? 'COMPLETED' : 'FAILED'))}::text[], ${transactionIds}::text[],
                             ${col(() => randomUUID())}::uuid[], ${col((c) => (ok(c) ? 'order.completed' : 'payment.failed'))}::text[], ${col((c) => c.order.userId)}::text[],
                             ${col((c) => JSON.stringify({ orderId: c.order.id, total: c.order.totalAmount, currency: c.order.currency, ...(c.outcome.status === 'succeeded' ? { transactionId: c.outcome.transactionId } : { declineCode: c.outcome.declineCode }) }))}::text[])
          as s(order_id, status, transaction_id, outbox_id, topic, user_id, payload)
      ), updated as (
        update orders o set status = s.status, payment_status = s.status,
          inventory_status = case when s.status = 'COMPLETED' then 'CONFIRMED' else 'FAILED' end,
          transaction_id = case when s.status = 'COMPLETED' then s.transaction_id else o.transaction_id end, updated_at = ${at}
        from s where o.id = s.order_id
        returning o.*
      ), noted as (
        insert into outbox (id, topic, aggregate_id, user_id, payload)
        select outbox_id, topic, order_id, user_id, payload::jsonb from s
      )
      select * from updated`),
  ]);
  const out = new Map<string, { order: OrderRow; moved: Moved[] }>();
  for (const o of rowsOf<Raw>(orderRows).map(orderOf)) out.set(o.id, { order: o, moved: [] });
  for (const r of rowsOf<{ id: string; product_id: string; user_id: string; quantity: number; order_id: string }>(movedRows)) {
    out.get(r.order_id)?.moved.push({ id: r.id, productId: r.product_id, userId: r.user_id, quantity: Number(r.quantity) });
  }
  return out;
}

/**
 * Moves the products' stock for reservations marked by `settleOrders` (sold, or back on sale):
 * one update per product for a whole batch of settlements, issued last in the transaction, so each
 * product row (shared by every payer of a sale) stays locked only for this and the commit, and in
 * product-id order, so two settlements cannot deadlock. Returns the moved rows, announced after
 * the commit.
 */
async function moveStock(tx: Tx, sold: Moved[], released: Moved[]): Promise<ProductRow[]> {
  const units = new Map<string, { sold: number; released: number }>();
  const add = (r: Moved, k: 'sold' | 'released') => {
    const u = units.get(r.productId) ?? { sold: 0, released: 0 };
    u[k] += r.quantity;
    units.set(r.productId, u);
  };
  for (const r of sold) add(r, 'sold');
  for (const r of released) add(r, 'released');
  // Issued together, in product-id order (Postgres runs them, and takes their row locks, in that order).
  const moves = [...units].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(async ([productId, u]) => {
    const [row] = rowsOf<Raw>(
      await exec(
        tx,
        sql`update products set reserved_quantity = reserved_quantity - ${u.sold + u.released}, sold_quantity = sold_quantity + ${u.sold},
              available_quantity = available_quantity + ${u.released}, ${stockBumpSql}
            where id = ${productId} returning *`,
      ),
    ).map(productOf);
    return row;
  });
  return Promise.all(moves);
}
