// Checkout and payment, on both backends: the order's life from hold to sold.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxGateway } from '../src/adapters/payments/sandbox.js';
import { BACKENDS } from './support/backends.js';
import { and, eq, sql } from 'drizzle-orm';
import { carts, orderItems, orders, outbox, payments, products, reservations, stockMovements } from '../src/adapters/db/schema/tables.js';
import { chargeRequestOf, MAX_SETTLE_BATCH, pay, type PayResult, settlePayment, settlerOf, startAttempt } from '../src/domain/payments/pay.js';
import { checkout, itemsOfOrders } from '../src/domain/orders/checkout.js';
import { rowsOf } from '../src/adapters/db/client.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';

describe.each(BACKENDS)('checkout and pay on %s', (backend) => {
  let h: Harness;
  const sandbox = () => h.backend.runtime.deps.payments as SandboxGateway;
  beforeAll(async () => {
    h = await harness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });

  const holdAndCheckout: Harness['holdAndCheckout'] = (sub, opts) => h.holdAndCheckout(sub, opts);

  it('reserve -> checkout -> pay sells the stock for good and completes the order', async () => {
    const chargesBefore = sandbox().charges;
    const { productId, token, order } = await holdAndCheckout('happy', { quantity: 2 });
    expect(order).toMatchObject({ status: 'PENDING', paymentStatus: 'PENDING', total: { amount: 3998, currency: 'USD' } });
    expect(order.items).toEqual([{ quantity: 2, unitPrice: { amount: 1999 }, product: { id: productId } }]);
    const p = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 3998 } }, token);
    expect(p.data.pay).toMatchObject({
      __typename: 'PaySuccess',
      paymentStatus: 'COMPLETED',
      order: { status: 'COMPLETED', paymentStatus: 'COMPLETED', inventoryStatus: 'CONFIRMED' },
    });
    expect(p.data.pay.transactionId).toBe(p.data.pay.order.transactionId);
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 8, reserved: 0, sold: 2 });
    expect(sandbox().charges).toBe(chargesBefore + 1);
    // Paying again: AlreadyPaid, never a second charge.
    const again = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 3998 } }, token);
    expect(again.data.pay).toMatchObject({ __typename: 'AlreadyPaid', code: 'ALREADY_PAID', order: { id: order.id, status: 'COMPLETED' } });
    expect(sandbox().charges).toBe(chargesBefore + 1);
    const orders = await h.gql(`{ orders { id status } }`, {}, token);
    expect(orders.data.orders).toEqual([{ id: order.id, status: 'COMPLETED' }]);
    // The cart was closed by checkout.
    expect((await h.gql(`{ cart { id } }`, {}, token)).data.cart).toBeNull();
  });

  it('checkout stores and answers exactly what drizzle reads back (its statements are hand-written)', async () => {
    const { id: productId } = await h.product({ priceAmount: 1250, totalQuantity: 10, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5 } });
    const sub = `raw-${backend.replace(/\W/g, '-')}`;
    const token = await h.token(sub);
    const r = await h.gql(RESERVE, { input: { productId, quantity: 3 } }, token);
    expect(r.errors).toBeUndefined();
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const { deps } = h.backend.runtime;
    const db = deps.db;
    const out = await checkout(deps, { userId: sub, roles: [] }, {
      cartId: r.data.reserve.reservation.cartId,
      paymentMethod: 'pm_card_visa',
      shippingAddress: { ...ADDRESS, addressLine2: null },
      idempotencyKey: 'raw-key-1',
    });
    if (out.__typename !== 'CheckoutSuccess') throw new Error(JSON.stringify(out));
    const [stored] = await db.select().from(orders).where(eq(orders.id, out.order.id));
    expect(out.order).toEqual(stored);
    expect(stored).toMatchObject({ userId: sub, status: 'PENDING', totalAmount: 3750, currency: 'USD', paymentMethod: 'pm_card_visa', idempotencyKey: 'raw-key-1', shippingAddress: null });
    expect(stored.createdAt).toBeInstanceOf(Date);
    expect(stored.shippingAddressSealed).toEqual(expect.any(String));
    const items = (await itemsOfOrders(deps, [out.order.id])).get(out.order.id) ?? [];
    expect(items).toEqual(await db.select().from(orderItems).where(eq(orderItems.orderId, out.order.id)));
    expect(items).toEqual([{ orderId: out.order.id, reservationId: r.data.reserve.reservation.id, productId, quantity: 3, unitAmount: 1250, currency: 'USD' }]);
    const [hold] = await db.select().from(reservations).where(eq(reservations.id, r.data.reserve.reservation.id));
    expect(hold).toMatchObject({ status: 'CHECKED_OUT', orderId: out.order.id });
    expect(hold.updatedAt).toEqual(expect.any(Date));
    const [cart] = await db.select().from(carts).where(eq(carts.id, stored.cartId));
    expect(cart.status).toBe('CHECKED_OUT');
    const [event] = await db.select().from(outbox).where(and(eq(outbox.aggregateId, out.order.id), eq(outbox.topic, 'order.placed')));
    // jsonb, not a JSON string inside jsonb.
    expect(event.payload).toEqual({ orderId: out.order.id, total: 3750, currency: 'USD', items: [{ productId, name: expect.any(String), quantity: 3, unitAmount: 1250 }] });

    // pay, whose statements are hand-written too: what it answers is what is stored.
    const paid = await pay(deps, { userId: sub, roles: [] }, { orderId: out.order.id, paymentMethod: 'pm_card_visa', amount: 3750, idempotencyKey: 'raw-pay-1' });
    if (paid.__typename !== 'PaySuccess') throw new Error(JSON.stringify(paid));
    const [after] = await db.select().from(orders).where(eq(orders.id, out.order.id));
    expect(paid.order).toEqual(after);
    expect(after).toMatchObject({ status: 'COMPLETED', paymentStatus: 'COMPLETED', inventoryStatus: 'CONFIRMED', transactionId: paid.transactionId });
    const [attempt] = await db.select().from(payments).where(eq(payments.orderId, out.order.id));
    expect(attempt).toMatchObject({ attempt: 1, status: 'SUCCEEDED', transactionId: paid.transactionId, requestKey: 'raw-pay-1', amount: 3750, currency: 'USD', declineCode: null, message: null });
    expect(await db.select({ kind: stockMovements.kind, quantity: stockMovements.quantity, actor: stockMovements.actor }).from(stockMovements).where(eq(stockMovements.orderId, out.order.id))).toEqual([
      { kind: 'SELL', quantity: 3, actor: sub },
    ]);
    const [sold] = await db.select().from(reservations).where(eq(reservations.id, r.data.reserve.reservation.id));
    expect(sold.status).toBe('PURCHASED');
    const [done] = await db.select().from(outbox).where(and(eq(outbox.aggregateId, out.order.id), eq(outbox.topic, 'order.completed')));
    expect(done.payload).toEqual({ orderId: out.order.id, total: 3750, currency: 'USD', transactionId: paid.transactionId });
    const [row] = await db.select().from(products).where(eq(products.id, productId));
    expect(row).toMatchObject({ availableQuantity: 7, reservedQuantity: 0, soldQuantity: 3 });
  });

  it('a checkout whose writes fail commits nothing (they go out with the COMMIT)', async () => {
    const { id: productId } = await h.product({ totalQuantity: 10 });
    const sub = `co-rollback-${backend.replace(/\W/g, '-')}`;
    const token = await h.token(sub);
    const r = await h.gql(RESERVE, { input: { productId } }, token);
    const { cartId, id: holdId } = r.data.reserve.reservation;
    const { deps } = h.backend.runtime;
    const db = deps.db;
    // An order already on this (still active) cart: the checkout's order insert breaks
    // orders_one_per_cart, the last of its writes to fail being the first sent.
    await db.execute(sql`insert into orders (id, cart_id, user_id, status, payment_status, inventory_status, total_amount, currency, payment_method)
      values (gen_random_uuid(), ${cartId}, 'someone-else', 'CANCELLED', 'FAILED', 'FAILED', 1, 'USD', 'pm_card_visa')`);
    await expect(checkout(deps, { userId: sub, roles: [] }, { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS })).rejects.toThrow();
    const [hold] = await db.select().from(reservations).where(eq(reservations.id, holdId));
    expect(hold).toMatchObject({ status: 'ACTIVE', orderId: null });
    const [cart] = await db.select().from(carts).where(eq(carts.id, cartId));
    expect(cart.status).toBe('ACTIVE');
    expect(await db.select().from(orderItems).where(eq(orderItems.reservationId, holdId))).toEqual([]);
    expect(await db.select().from(outbox).where(and(eq(outbox.userId, sub), eq(outbox.topic, 'order.placed')))).toEqual([]);
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 9, reserved: 1, sold: 0 });
  });

  it('a declined payment stores its decline and puts the holds back, as drizzle reads them', async () => {
    const { productId, order } = await holdAndCheckout('raw-declined', { quantity: 2 });
    const { deps } = h.backend.runtime;
    const db = deps.db;
    const [o] = await db.select().from(orders).where(eq(orders.id, order.id));
    const out = await pay(deps, { userId: o.userId, roles: [] }, { orderId: order.id, paymentMethod: 'pm_card_chargeDeclinedInsufficientFunds', amount: o.totalAmount });
    expect(out).toMatchObject({ __typename: 'PaymentDeclined', declineCode: 'insufficient_funds' });
    const [after] = await db.select().from(orders).where(eq(orders.id, order.id));
    expect(after).toMatchObject({ status: 'FAILED', paymentStatus: 'FAILED', inventoryStatus: 'FAILED', transactionId: null });
    const [attempt] = await db.select().from(payments).where(eq(payments.orderId, order.id));
    expect(attempt).toMatchObject({ status: 'DECLINED', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' });
    expect(await db.select({ kind: stockMovements.kind, quantity: stockMovements.quantity }).from(stockMovements).where(eq(stockMovements.orderId, order.id))).toEqual([{ kind: 'FAIL', quantity: 2 }]);
    const [failed] = await db.select().from(outbox).where(and(eq(outbox.aggregateId, order.id), eq(outbox.topic, 'payment.failed')));
    expect(failed.payload).toEqual({ orderId: order.id, total: o.totalAmount, currency: 'USD', declineCode: 'insufficient_funds' });
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
  });

  it('a settlement whose product update fails commits nothing (that update goes out with the COMMIT)', async () => {
    const { productId, order } = await holdAndCheckout('raw-rollback', { quantity: 2 });
    const { deps } = h.backend.runtime;
    const db = deps.db;
    // Keep the ledger balanced but leave nothing reserved: the settlement's `reserved - 2` breaks
    // the non-negative check, in the statement sent together with the COMMIT.
    await db.execute(sql`update products set available_quantity = available_quantity + reserved_quantity, reserved_quantity = 0 where id = ${productId}`);
    const [o] = await db.select().from(orders).where(eq(orders.id, order.id));
    await expect(pay(deps, { userId: o.userId, roles: [] }, { orderId: order.id, paymentMethod: 'pm_card_visa', amount: o.totalAmount })).rejects.toMatchObject({
      message: expect.stringMatching(/could not be recorded/),
    });
    const [after] = await db.select().from(orders).where(eq(orders.id, order.id));
    expect(after).toMatchObject({ status: 'PENDING', paymentStatus: 'PENDING', transactionId: null });
    const [attempt] = await db.select().from(payments).where(eq(payments.orderId, order.id));
    expect(attempt.status).toBe('PROCESSING');
    expect(await db.select().from(reservations).where(eq(reservations.orderId, order.id))).toMatchObject([{ status: 'CHECKED_OUT' }]);
    expect(await db.select().from(stockMovements).where(and(eq(stockMovements.orderId, order.id), eq(stockMovements.kind, 'SELL')))).toEqual([]);
    expect(await db.select().from(outbox).where(and(eq(outbox.aggregateId, order.id), eq(outbox.topic, 'order.completed')))).toEqual([]);
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
  });

  /** `n` shoppers of one product, each with one unit checked out. */
  const checkedOut = async (tag: string, n: number, total = 20) => {
    const { id: productId } = await h.product({ totalQuantity: total });
    const placed = [];
    for (let i = 0; i < n; i++) {
      const shopper = await h.token(`${tag}-${i}-${backend.replace(/\W/g, '-')}`);
      const r = await h.gql(RESERVE, { input: { productId } }, shopper);
      const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
      const [o] = await h.backend.runtime.deps.db.select().from(orders).where(eq(orders.id, c.data.checkout.order.id));
      placed.push(o);
    }
    return { productId, orders: placed };
  };

  // pay() in three steps, the settlements issued in one turn: one batch, whatever the machine's
  // load (through pay() itself, each settles as its charge answers, some of them alone).
  const payTogether = async (placed: (typeof orders.$inferSelect)[], method: (i: number) => string) => {
    const { deps } = h.backend.runtime;
    const attempts = await Promise.all(
      placed.map(async (o, i) => {
        const started = await startAttempt(deps, { userId: o.userId, roles: [] }, { orderId: o.id, paymentMethod: method(i), amount: o.totalAmount });
        if ('__typename' in started) throw new Error(`attempt not started: ${started.__typename}`);
        return { attempt: started.attempt, outcome: await deps.payments.charge(chargeRequestOf(started.attempt)) };
      }),
    );
    return Promise.allSettled(attempts.map(({ attempt, outcome }) => settlePayment(deps, attempt.id, outcome)));
  };

  it('settlements arriving together commit together: each answer and row as alone, the product row moved once per batch', async () => {
    const { deps } = h.backend.runtime;
    const { productId, orders: placed } = await checkedOut('grouped', 12);
    const { stats } = settlerOf(deps);
    const before = { ...stats };
    // Every third card is declined: sold and released units share the product's one update.
    const settled = await payTogether(placed, (i) => (i % 3 === 2 ? 'pm_card_chargeDeclined' : 'pm_card_visa'));
    expect(settled.map((r) => r.status)).toEqual(placed.map(() => 'fulfilled'));
    const results = settled.map((r) => (r as PromiseFulfilledResult<PayResult>).value);
    expect(results.map((r) => r.__typename)).toEqual(placed.map((_, i) => (i % 3 === 2 ? 'PaymentDeclined' : 'PaySuccess')));
    // One transaction for the twelve settlements.
    expect([stats.batches - before.batches, stats.settlements - before.settlements]).toEqual([1, 12]);
    expect(stats.fallbacks).toBe(before.fallbacks);
    expect(await h.ledger(productId)).toEqual({ total: 20, available: 12, reserved: 0, sold: 8 });
    for (const [i, o] of placed.entries()) {
      const ok = i % 3 !== 2;
      const [after] = await deps.db.select().from(orders).where(eq(orders.id, o.id));
      expect(after.status).toBe(ok ? 'COMPLETED' : 'FAILED');
      if (ok) expect(results[i]).toMatchObject({ order: { id: o.id, status: 'COMPLETED', transactionId: after.transactionId } });
      expect(await deps.db.select({ kind: stockMovements.kind, quantity: stockMovements.quantity }).from(stockMovements).where(eq(stockMovements.orderId, o.id))).toEqual([
        { kind: ok ? 'SELL' : 'FAIL', quantity: 1 },
      ]);
      expect(await deps.db.select({ status: reservations.status }).from(reservations).where(eq(reservations.orderId, o.id))).toEqual([{ status: ok ? 'PURCHASED' : 'RELEASED' }]);
      expect(await deps.db.select({ topic: outbox.topic }).from(outbox).where(eq(outbox.aggregateId, o.id))).toContainEqual({ topic: ok ? 'order.completed' : 'payment.failed' });
      // The attempt and the order's news as a settlement alone writes them (all twelve by two statements).
      const [attempt] = await deps.db.select().from(payments).where(eq(payments.orderId, o.id));
      expect(attempt).toMatchObject(
        ok
          ? { status: 'SUCCEEDED', transactionId: after.transactionId, declineCode: null, message: null, gateway: 'sandbox' }
          : { status: 'DECLINED', transactionId: null, declineCode: 'generic_decline', message: 'Your card was declined.', gateway: 'sandbox' },
      );
      expect(after).toMatchObject(ok ? { paymentStatus: 'COMPLETED', inventoryStatus: 'CONFIRMED' } : { paymentStatus: 'FAILED', inventoryStatus: 'FAILED', transactionId: null });
      const [news] = await deps.db
        .select({ userId: outbox.userId, payload: outbox.payload })
        .from(outbox)
        .where(and(eq(outbox.aggregateId, o.id), eq(outbox.topic, ok ? 'order.completed' : 'payment.failed')));
      const base = { orderId: o.id, total: o.totalAmount, currency: o.currency };
      expect(news).toEqual({ userId: o.userId, payload: ok ? { ...base, transactionId: after.transactionId } : { ...base, declineCode: 'generic_decline' } });
    }
  });

  it('a batch with attempts the gateway could not settle: those recorded FAILED / UNKNOWN with the message, the charged one sold', async () => {
    const { deps } = h.backend.runtime;
    const { productId, orders: placed } = await checkedOut('uncharged', 3);
    const { stats } = settlerOf(deps);
    const before = { ...stats };
    const attempts = await Promise.all(
      placed.map(async (o) => {
        const started = await startAttempt(deps, { userId: o.userId, roles: [] }, { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.totalAmount });
        if ('__typename' in started) throw new Error(`attempt not started: ${started.__typename}`);
        return started.attempt;
      }),
    );
    const outcomes = [
      { status: 'unavailable' as const, message: 'Every gateway is down', retryAfterSeconds: 3 },
      { status: 'unknown' as const, message: 'The gateway did not answer' },
      await deps.payments.charge(chargeRequestOf(attempts[2])),
    ];
    const results = await Promise.all(attempts.map((a, i) => settlePayment(deps, a.id, outcomes[i])));
    expect(results).toMatchObject([
      { __typename: 'PaymentUnavailable', message: 'Every gateway is down', retryAfterSeconds: 3 },
      { __typename: 'PaymentUnavailable', retryAfterSeconds: 10 },
      { __typename: 'PaySuccess' },
    ]);
    expect([stats.batches - before.batches, stats.settlements - before.settlements]).toEqual([1, 3]);
    const rows = await Promise.all(attempts.map(async (a) => (await deps.db.select().from(payments).where(eq(payments.id, a.id)))[0]));
    expect(rows.map((r) => [r.status, r.message])).toEqual([
      ['FAILED', 'Every gateway is down'],
      ['UNKNOWN', 'The gateway did not answer'],
      ['SUCCEEDED', null],
    ]);
    const statuses = await Promise.all(placed.map(async (o) => (await deps.db.select().from(orders).where(eq(orders.id, o.id)))[0].status));
    expect(statuses).toEqual(['PENDING', 'PENDING', 'COMPLETED']);
    expect(await h.ledger(productId)).toEqual({ total: 20, available: 17, reserved: 2, sold: 1 });
  });

  it('a batch that fails is settled one by one: the others commit, the failing one commits nothing', async () => {
    const { deps } = h.backend.runtime;
    const good = await checkedOut('batch-good', 4);
    const bad = await checkedOut('batch-bad', 1);
    // As in the rollback test above: the bad product's settlement breaks the non-negative check.
    await deps.db.execute(sql`update products set available_quantity = available_quantity + reserved_quantity, reserved_quantity = 0 where id = ${bad.productId}`);
    const { stats } = settlerOf(deps);
    const fallbacks = stats.fallbacks;
    const all = [...good.orders, ...bad.orders];
    const results = await payTogether(all, () => 'pm_card_visa');
    expect(results.slice(0, 4).map((r) => r.status === 'fulfilled' && r.value.__typename)).toEqual(['PaySuccess', 'PaySuccess', 'PaySuccess', 'PaySuccess']);
    expect(results[4]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/could not be recorded/) } });
    expect(stats.fallbacks).toBeGreaterThan(fallbacks);
    expect(await h.ledger(good.productId)).toEqual({ total: 20, available: 16, reserved: 0, sold: 4 });
    expect(await h.ledger(bad.productId)).toEqual({ total: 20, available: 20, reserved: 0, sold: 0 });
    const [o] = await deps.db.select().from(orders).where(eq(orders.id, bad.orders[0].id));
    expect(o.status).toBe('PENDING');
  });

  it('the same attempt settled twice at once (a webhook beside the answer) is settled once', async () => {
    const { deps } = h.backend.runtime;
    const { productId, orders: [o] } = await checkedOut('twice', 1);
    const [attempt] = rowsOf<{ id: string }>(
      await deps.db.execute(sql`insert into payments (id, order_id, attempt, gateway, gateway_key, payment_method, amount, currency, status)
        values (gen_random_uuid(), ${o.id}, 1, 'sandbox', ${`order_${o.id}_attempt_1`}, 'pm_card_visa', ${o.totalAmount}, 'USD', 'PROCESSING') returning id`),
    );
    const outcome = { status: 'succeeded', transactionId: 'ch_twice' } as const;
    const both = await Promise.all([settlePayment(deps, attempt.id, outcome), settlePayment(deps, attempt.id, outcome)]);
    expect(both.map((r) => r.__typename)).toEqual(['PaySuccess', 'PaySuccess']);
    expect(await h.ledger(productId)).toEqual({ total: 20, available: 19, reserved: 0, sold: 1 });
    expect(await deps.db.select().from(stockMovements).where(and(eq(stockMovements.orderId, o.id), eq(stockMovements.kind, 'SELL')))).toHaveLength(1);
  });

  it('a declined card fails the order and puts the stock back on sale', async () => {
    const { productId, token, order } = await holdAndCheckout('declined', { quantity: 3 });
    const p = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_chargeDeclined', amount: 5997 } }, token);
    expect(p.data.pay).toMatchObject({ __typename: 'PaymentDeclined', code: 'PAYMENT_DECLINED', declineCode: 'generic_decline' });
    const o = await h.gql(`query($id: ID!) { order(id: $id) { status paymentStatus inventoryStatus } }`, { id: order.id }, token);
    expect(o.data.order).toEqual({ status: 'FAILED', paymentStatus: 'FAILED', inventoryStatus: 'FAILED' });
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
    // The released units count no more against the shopper's limit.
    const r = await h.gql(RESERVE, { input: { productId, quantity: 5 } }, token);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('refuses an amount other than the order total and changes nothing', async () => {
    const { productId, token, order } = await holdAndCheckout('short-changer', { quantity: 1 });
    const p = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 1 } }, token);
    expect(p.data.pay).toMatchObject({ __typename: 'AmountMismatch', expected: { amount: 1999, currency: 'USD' } });
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 9, reserved: 1, sold: 0 });
    const ok = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, token);
    expect(ok.data.pay.__typename).toBe('PaySuccess');
  });

  it('checkout and pay with the same idempotency key return the first outcome; charged once', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const t = await h.token('double-clicker');
    const r = await h.gql(RESERVE, { input: { productId: id } }, t);
    const input = { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS, idempotencyKey: 'co-1' };
    const checkouts = await Promise.all(Array.from({ length: 5 }, () => h.gql(CHECKOUT, { input }, t)));
    const orderIds = new Set(checkouts.map((c) => c.data.checkout.order?.id));
    expect(orderIds.size).toBe(1);
    const orderId = [...orderIds][0];
    expect(orderId).toBeTruthy();
    const before = sandbox().charges;
    const payInput = { orderId, paymentMethod: 'pm_card_visa', amount: 1999, idempotencyKey: 'pay-1' };
    const first = await h.gql(PAY, { input: payInput }, t);
    expect(first.data.pay.__typename).toBe('PaySuccess');
    const repeats = await Promise.all(Array.from({ length: 5 }, () => h.gql(PAY, { input: payInput }, t)));
    for (const rep of repeats) {
      expect(rep.data.pay).toMatchObject({ __typename: 'PaySuccess', transactionId: first.data.pay.transactionId });
    }
    expect(sandbox().charges).toBe(before + 1);
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 0, sold: 1 });
  });

  it('concurrent pays without a key charge once: one succeeds, the others wait or see AlreadyPaid', async () => {
    const { productId, token, order } = await holdAndCheckout('hammer', { quantity: 1 });
    const before = sandbox().charges;
    const results = await Promise.all(
      Array.from({ length: 8 }, () => h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, token)),
    );
    const kinds = results.map((r) => r.data?.pay.__typename);
    expect(kinds.filter((k) => k === 'PaySuccess')).toHaveLength(1);
    expect(kinds.every((k) => ['PaySuccess', 'AlreadyPaid', 'PaymentUnavailable'].includes(k))).toBe(true);
    expect(sandbox().charges).toBe(before + 1);
    expect((await h.ledger(productId)).sold).toBe(1);
  });

  it('an expired hold cannot be checked out or paid, and its stock is back', async () => {
    // Expired before checkout.
    const { id } = await h.product({ totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), reservationTtlSeconds: 1 } });
    const t = await h.token('slowpoke');
    const r = await h.gql(RESERVE, { input: { productId: id } }, t);
    await new Promise((res) => setTimeout(res, 1100));
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    expect(c.data.checkout.__typename).toBe('ReservationExpired');
    await h.worker.tick();
    expect(await h.ledger(id)).toEqual({ total: 3, available: 3, reserved: 0, sold: 0 });

    // Expired after checkout, before pay.
    const later = await holdAndCheckout('dawdler', { quantity: 1, ttl: 1 });
    await new Promise((res) => setTimeout(res, 1100));
    const before = sandbox().charges;
    const p = await h.gql(PAY, { input: { orderId: later.order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, later.token);
    expect(p.data.pay.__typename).toBe('ReservationExpired');
    await h.worker.tick();
    const o = await h.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: later.order.id }, later.token);
    expect(o.data.order.status).toBe('CANCELLED');
    expect(await h.ledger(later.productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
    const p2 = await h.gql(PAY, { input: { orderId: later.order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, later.token);
    expect(p2.data.pay.__typename).toBe('ReservationExpired');
    expect(sandbox().charges).toBe(before);
  });

  it('every change to a product\'s stock moves its version (what stock events are ordered by)', async () => {
    const { deps } = h.backend.runtime;
    const { id } = await h.product({ totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), reservationTtlSeconds: 1 } });
    const version = async () => Number(rowsOf<{ version: number }>(await deps.db.execute(sql`select version from products where id = ${id}`))[0].version);
    let v = await version();
    const moves = async (what: string, change: () => Promise<unknown>) => {
      await change();
      const now = await version();
      expect(now, what).toBeGreaterThan(v);
      v = now;
    };
    const t = await h.token(`versions-${backend.replace(/\W/g, '-')}`);
    const hold = async () => (await h.gql(RESERVE, { input: { productId: id } }, t)).data.reserve.reservation;
    const ordered = async (method: string) => {
      const r = await hold();
      const c = await h.gql(CHECKOUT, { input: { cartId: r.cartId, paymentMethod: method, shippingAddress: ADDRESS } }, t);
      return c.data.checkout.order;
    };
    let held: { id: string } | undefined;
    await moves('reserve (group commit)', async () => (held = await hold()));
    await moves('release', () => h.gql(`mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: held!.id }, t));
    let o = await ordered('pm_card_chargeDeclined');
    await moves('settlement, declined', () => h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_chargeDeclined', amount: o.total.amount } }, t));
    o = await ordered('pm_card_visa');
    await moves('settlement, sold', () => h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.total.amount } }, t));
    // Another shopper's hold (this one has bought its limit), left to expire.
    const other = await h.token(`versions-2-${backend.replace(/\W/g, '-')}`);
    expect((await h.gql(RESERVE, { input: { productId: id } }, other)).data.reserve.__typename).toBe('ReserveSuccess');
    await new Promise((res) => setTimeout(res, 1100));
    await moves('expiry', () => h.worker.tick());
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 0, sold: 1 });
  });

  it("keeps shoppers out of each other's carts and orders", async () => {
    const { token, order, reservation } = await holdAndCheckout('owner', { quantity: 1 });
    const thief = await h.token('thief');
    expect((await h.gql(`query($id: ID!) { order(id: $id) { id } }`, { id: order.id }, thief)).data.order).toBeNull();
    const p = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, thief);
    expect(p.data.pay.__typename).toBe('NotFound');
    const c = await h.gql(CHECKOUT, { input: { cartId: reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, thief);
    expect(c.data.checkout.__typename).toBe('NotFound');
    expect((await h.gql(`{ orders { id } }`, {}, thief)).data.orders).toEqual([]);
    const mine = await h.gql(`query($id: ID!) { order(id: $id) { id status } }`, { id: order.id }, token);
    expect(mine.data.order).toEqual({ id: order.id, status: 'PENDING' });
    // The thief's pay recorded no attempt; the owner's goes through.
    expect(await h.backend.runtime.deps.db.select().from(payments).where(eq(payments.orderId, order.id))).toEqual([]);
    const paid = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 1999 } }, token);
    expect(paid.data.pay.__typename).toBe('PaySuccess');
  });

  it('answers bad checkout and pay input with InvalidInput and changes nothing', async () => {
    const { productId, token, order, reservation } = await holdAndCheckout('typo', { quantity: 1 });
    const cases: [Record<string, unknown>, string][] = [
      [{ cartId: 'nope' }, 'cartId'],
      [{ paymentMethod: '4242424242424242' }, 'paymentMethod'],
      [{ paymentMethod: 'x'.repeat(300) }, 'paymentMethod'],
      [{ shippingAddress: { ...ADDRESS, country: 'USA' } }, 'shippingAddress.country'],
      [{ shippingAddress: { ...ADDRESS, city: 'c'.repeat(1000) } }, 'shippingAddress.city'],
      [{ shippingAddress: { ...ADDRESS, addressLine1: '   ' } }, 'shippingAddress.addressLine1'],
    ];
    for (const [patch, field] of cases) {
      const input = { cartId: reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS, ...patch };
      const c = await h.gql(CHECKOUT, { input }, token);
      expect(c.data.checkout).toMatchObject({ __typename: 'InvalidInput', field });
    }
    const badPay = await h.gql(PAY, { input: { orderId: 'not-an-id', paymentMethod: 'pm_card_visa', amount: 1999 } }, token);
    expect(badPay.data.pay.__typename).toBe('InvalidInput');
    const negative = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: -5 } }, token);
    expect(negative.data.pay.__typename).toBe('InvalidInput');
    expect(await h.ledger(productId)).toEqual({ total: 10, available: 9, reserved: 1, sold: 0 });
    const empty = await h.gql(CHECKOUT, { input: { cartId: '00000000-0000-4000-8000-000000000000', paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, token);
    expect(empty.data.checkout.__typename).toBe('NotFound');
  });

  it('checking out an empty cart answers CartEmpty', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    const t = await h.token('browser');
    const r = await h.gql(RESERVE, { input: { productId: id } }, t);
    await h.gql(`mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: r.data.reserve.reservation.id }, t);
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    expect(c.data.checkout).toMatchObject({ __typename: 'CartEmpty', code: 'CART_EMPTY' });
  });
});

describe('SETTLE_BATCH_MAX', () => {
  it('reads SETTLE_BATCH_MAX (default 100, 1 = every settlement alone) and refuses nonsense', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({}).settleBatchMax).toBe(MAX_SETTLE_BATCH);
    expect(loadConfig({ SETTLE_BATCH_MAX: '1' }).settleBatchMax).toBe(1);
    expect(() => loadConfig({ SETTLE_BATCH_MAX: '0' })).toThrow(/SETTLE_BATCH_MAX/);
  });

  it('with 1, payments settling at once are each settled alone, and all of them are', async () => {
    const h = await harness('embedded', { settleBatchMax: 1 });
    try {
      const placed = [];
      for (let i = 0; i < 6; i++) placed.push((await h.holdAndCheckout(`settle-alone-${i}`)).order);
      const deps = h.backend.runtime.deps;
      const users = await Promise.all(placed.map(async (o) => (await deps.db.select().from(orders).where(eq(orders.id, o.id)))[0].userId));
      const results = await Promise.all(placed.map((o, i) => pay(deps, { userId: users[i], roles: [] }, { orderId: o.id, paymentMethod: 'pm_card_visa', amount: 1999 })));
      expect(results.map((r) => r.__typename)).toEqual(Array(6).fill('PaySuccess'));
      expect(settlerOf(deps).stats).toEqual({ batches: 0, settlements: 0, fallbacks: 0 });
    } finally {
      await h.close();
    }
  });
});
