// Operators refund a paid order (refundOrder): the order is cancelled, the whole charge goes back
// through the real Stripe SDK (to a local fake Stripe) once however often it is asked, the shopper
// sees it and is told, the order leaves the export and the revenue; bad calls change nothing. A
// refund made in the gateway's dashboard (its webhook) is recorded the same way.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { orders, outbox, refunds } from '../src/adapters/db/schema/tables.js';
import { chargeRequestOf, settlePayment, startAttempt } from '../src/domain/payments/pay.js';
import { reconcilePayments } from '../src/domain/payments/reconcile.js';
import { DEFAULT_REFUND_SETTINGS, runRefunds } from '../src/domain/payments/refunds.js';
import type { GatewayRouter } from '../src/domain/payments/router.js';
import { BACKENDS } from './support/backends.js';
import { type FakePayPal, startFakePayPal } from './support/fake-paypal.js';
import { type FakeStripe, startFakeStripe } from './support/fake-stripe.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE, TEST_SECRET } from './support/harness.js';
import { gatewayFor, PAYPAL, PAYPAL_WEBHOOK_ID, STRIPE_KEY, WEBHOOK_SECRET } from './support/payments.js';
import { twoApis } from './support/server.js';
import { collect, wsClient } from './support/live.js';
import { signToken } from '../src/auth.js';

const REFUND = /* GraphQL */ `
  mutation($orderId: ID!, $reason: String!) {
    refundOrder(orderId: $orderId, reason: $reason) {
      order { id status paymentStatus }
      refund { id status amount { amount currency } requestedAt refundedAt }
    }
  }
`;

const MINE = /* GraphQL */ `
  query($id: ID!) { order(id: $id) { status paymentStatus refunds { id status amount { amount currency } refundedAt } } }
`;

describe.each(BACKENDS)('refundOrder on %s', (backend) => {
  let h: Harness;
  let stripe: FakeStripe;
  let paypal: FakePayPal;
  const tag = backend.replace(/\W/g, '-');
  beforeAll(async () => {
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: WEBHOOK_SECRET });
    paypal = await startFakePayPal(PAYPAL);
    h = await harness(backend, { payments: await gatewayFor(stripe, paypal) });
  }, 180_000);
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
    await paypal?.close();
  });

  /** A shopper's order of `quantity` units of `productId`, checked out and, unless `paid` is false, paid by card. */
  async function order(productId: string, who: string, quantity: number, paid = true) {
    const token = await h.token(`${who}-${tag}`);
    const r = await h.gql(RESERVE, { input: { productId, quantity } }, token);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, token);
    const o = c.data.checkout.order;
    let transactionId: string | null = null;
    if (paid) {
      const p = await h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.total.amount } }, token);
      expect(p.data.pay.__typename).toBe('PaySuccess');
      transactionId = p.data.pay.transactionId;
    }
    return { id: o.id as string, token, amount: o.total.amount as number, transactionId };
  }

  const revenueOf = async (productId: string) =>
    (await h.gql(`query($id: ID!) { saleStats(productId: $id) { revenue { amount } soldQuantity } }`, { id: productId }, await h.admin())).data.saleStats;
  const exported = async (productId: string) =>
    (await h.gql(`query($id: ID) { paidOrders(productId: $id, first: 100) { orders { orderId } } }`, { id: productId }, await h.admin())).data.paidOrders.orders.map(
      (o: { orderId: string }) => o.orderId,
    );

  it('cancels a paid order and refunds its whole charge once; a repeat answers the same refund; the shopper sees it and is told', async () => {
    const { id: productId } = await h.product({ totalQuantity: 5, priceAmount: 2500, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 3 } });
    const o = await order(productId, 'refund-me', 2);
    const kept = await order(productId, 'keep-me', 1);
    expect(await exported(productId)).toEqual([o.id, kept.id]);
    expect(await revenueOf(productId)).toEqual({ revenue: { amount: 7500 }, soldQuantity: 3 });
    const before = stripe.refunds.length;

    const admin = await h.admin();
    const first = await h.gql(REFUND, { orderId: o.id, reason: 'customer return' }, admin);
    expect(first.errors).toBeUndefined();
    const answer = first.data.refundOrder;
    expect(answer.order).toEqual({ id: o.id, status: 'CANCELLED', paymentStatus: 'COMPLETED' });
    expect(answer.refund).toMatchObject({ status: 'SUCCEEDED', amount: { amount: 5000, currency: 'USD' } });
    expect(answer.refund.refundedAt).not.toBeNull();
    // Made at once, through Stripe, for the whole charge, under the attempt's key.
    expect(stripe.refunds.slice(before)).toEqual([expect.objectContaining({ intentId: o.transactionId, amount: 5000, idempotencyKey: expect.stringMatching(/^refund-[0-9a-f-]{36}$/) })]);

    // Asked again: the same refund, nothing more at Stripe, nothing more in the outbox.
    const again = await h.gql(REFUND, { orderId: o.id, reason: 'asked twice' }, admin);
    expect(again.data.refundOrder.refund).toEqual(answer.refund);
    expect(stripe.refunds.length).toBe(before + 1);
    const db = h.backend.runtime.deps.db;
    const [row] = await db.select().from(refunds).where(eq(refunds.orderId, o.id));
    expect(row).toMatchObject({ reason: 'customer return', requestedBy: 'operator', status: 'SUCCEEDED', attempts: 1, refundId: stripe.refunds[before].id });
    const events = await db.select().from(outbox).where(eq(outbox.aggregateId, o.id));
    expect(events.filter((e) => e.topic === 'order.refunded')).toMatchObject([{ userId: `refund-me-${tag}`, payload: { orderId: o.id, total: 5000, currency: 'USD' } }]);

    // The shopper sees the order cancelled with the money given back.
    const mine = (await h.gql(MINE, { id: o.id }, o.token)).data.order;
    expect(mine).toMatchObject({ status: 'CANCELLED', paymentStatus: 'COMPLETED', refunds: [{ id: answer.refund.id, status: 'SUCCEEDED', amount: { amount: 5000, currency: 'USD' } }] });
    expect((await h.gql(MINE, { id: kept.id }, kept.token)).data.order.refunds).toEqual([]);
    // Not to be shipped, not revenue; its units stay sold (the ledger still adds up).
    expect(await exported(productId)).toEqual([kept.id]);
    expect(await revenueOf(productId)).toEqual({ revenue: { amount: 2500 }, soldQuantity: 3 });
    expect(await h.ledger(productId)).toEqual({ total: 5, available: 2, reserved: 0, sold: 3 });
    // The shopper's data export lists it; the audit log has the operator's call.
    const mineExported = JSON.parse((await h.gql('{ exportMyData }', {}, o.token)).data.exportMyData).data.shopping.orders.find((x: { id: string }) => x.id === o.id);
    expect(mineExported.refunds).toEqual([expect.objectContaining({ gateway: 'stripe', amount: 5000, status: 'SUCCEEDED' })]);
    const audited = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from audit_log where action = 'mutation.refundOrder' and actor = 'operator'`));
    expect(Number(audited[0].n)).toBeGreaterThanOrEqual(2);
  });

  it('a refund Stripe fails now is answered PENDING and made by the refunds job later, once', async () => {
    const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: 1200 });
    const o = await order(productId, 'refund-later', 1);
    const before = stripe.refunds.length;
    stripe.fault('refund', { kind: '500' });
    const answer = await h.gql(REFUND, { orderId: o.id, reason: 'duplicate purchase' }, await h.admin());
    expect(answer.data.refundOrder).toMatchObject({ order: { status: 'CANCELLED' }, refund: { status: 'PENDING', refundedAt: null } });
    expect(stripe.refunds.length).toBe(before);
    const db = h.backend.runtime.deps.db;
    // Due now rather than after the backoff, for the test; the worker's own job makes it.
    await db.update(refunds).set({ nextAttemptAt: new Date(0) }).where(eq(refunds.orderId, o.id));
    await h.worker.tick();
    expect(stripe.refunds.slice(before)).toEqual([expect.objectContaining({ intentId: o.transactionId, amount: 1200 })]);
    const mine = (await h.gql(MINE, { id: o.id }, o.token)).data.order;
    expect(mine.refunds).toMatchObject([{ status: 'SUCCEEDED' }]);
    expect(mine.refunds[0].refundedAt).not.toBeNull();
    await h.worker.tick();
    expect(stripe.refunds.length).toBe(before + 1);
  });

  it("the order's live page follows a refund Stripe fails at first: cancelled with the refund pending, then made, then the stream ends", async () => {
    const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: 1500 });
    const o = await order(productId, 'refund-live', 1);
    const port = await h.app.start(0, '127.0.0.1');
    const client = wsClient(port, o.token);
    try {
      type Seen = { orderStatusChanged: { status: string; refunds: { status: string }[] } };
      const sub = collect<Seen>(client, `subscription($id: ID!) { orderStatusChanged(orderId: $id) { status refunds { status } } }`, { id: o.id });
      expect((await sub.until(() => true)).orderStatusChanged).toEqual({ status: 'COMPLETED', refunds: [] });
      stripe.fault('refund', { kind: '500' });
      const answer = await h.gql(REFUND, { orderId: o.id, reason: 'changed my mind' }, await h.admin());
      expect(answer.data.refundOrder.refund.status).toBe('PENDING');
      // Cancelled, the money not back yet: the stream stays open for the refund's outcome.
      await sub.until((v) => v.orderStatusChanged.status === 'CANCELLED');
      expect(sub.values.at(-1)!.orderStatusChanged.refunds).toEqual([{ status: 'PENDING' }]);
      await h.backend.runtime.deps.db.update(refunds).set({ nextAttemptAt: new Date(0) }).where(eq(refunds.orderId, o.id));
      await h.worker.tick();
      expect(await sub.done).toBe('complete');
      expect(sub.values.map((v) => v.orderStatusChanged)).toEqual([
        { status: 'COMPLETED', refunds: [] },
        { status: 'CANCELLED', refunds: [{ status: 'PENDING' }] },
        { status: 'CANCELLED', refunds: [{ status: 'SUCCEEDED' }] },
      ]);
    } finally {
      await client.dispose();
    }
  });

  it("a shopper's order list reads its orders' refunds with one statement however many orders it has", async () => {
    const LIST = `{ orders { id status items { quantity product { id } } refunds { status amount { amount } } } }`;
    const statements = async (token: string) => {
      const before = h.backend.runtime.database.queryCount();
      const r = await h.gql(LIST, {}, token);
      return { orders: r.data.orders as { id: string; status: string; items: unknown[]; refunds: { status: string }[] }[], statements: h.backend.runtime.database.queryCount() - before };
    };
    const { id: productId } = await h.product({ totalQuantity: 10, priceAmount: 400, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5 } });
    const first = await order(productId, 'list-many', 1);
    const one = await statements(first.token);
    expect(one.orders).toHaveLength(1);
    const second = await order(productId, 'list-many', 2);
    await order(productId, 'list-many', 1);
    await h.gql(REFUND, { orderId: second.id, reason: 'two units, wrong size' }, await h.admin());
    const three = await statements(first.token);
    expect(three.statements).toBe(one.statements);
    expect(three.orders).toHaveLength(3);
    const byId = new Map(three.orders.map((o) => [o.id, o]));
    expect(byId.get(second.id)).toMatchObject({ status: 'CANCELLED', items: [{ quantity: 2, product: { id: productId } }], refunds: [{ status: 'SUCCEEDED', amount: { amount: 800 } }] });
    expect(three.orders.filter((o) => o.id !== second.id)).toMatchObject([
      { status: 'COMPLETED', items: [{ quantity: 1 }], refunds: [] },
      { status: 'COMPLETED', items: [{ quantity: 1 }], refunds: [] },
    ]);
  });

  it('refuses an order not paid, an unknown or malformed id, an empty reason and a shopper, changing nothing', async () => {
    const { id: productId } = await h.product({ totalQuantity: 3 });
    const unpaid = await order(productId, 'refund-unpaid', 1, false);
    const paid = await order(productId, 'refund-shopper', 1);
    const admin = await h.admin();
    const before = stripe.refunds.length;
    const code = async (vars: { orderId: string; reason: string }, token = admin) => {
      const r = await h.gql(REFUND, vars, token);
      return [r.errors?.[0]?.extensions?.code, r.errors?.[0]?.message];
    };
    expect(await code({ orderId: unpaid.id, reason: 'x' })).toEqual(['INVALID_INPUT', expect.stringMatching(/PENDING, not paid/)]);
    expect(await code({ orderId: '00000000-0000-4000-8000-000000000000', reason: 'x' })).toEqual(['NOT_FOUND', expect.any(String)]);
    expect(await code({ orderId: 'not-an-id', reason: 'x' })).toEqual(['INVALID_INPUT', expect.stringMatching(/orderId/)]);
    expect(await code({ orderId: paid.id, reason: '   ' })).toEqual(['INVALID_INPUT', expect.stringMatching(/reason/)]);
    expect(await code({ orderId: paid.id, reason: 'x' }, paid.token)).toEqual(['FORBIDDEN', expect.any(String)]);
    const db = h.backend.runtime.deps.db;
    const statuses = await db.select({ id: orders.id, status: orders.status }).from(orders).where(sql`${orders.id} in (${unpaid.id}, ${paid.id})`);
    expect(Object.fromEntries(statuses.map((s) => [s.id, s.status]))).toEqual({ [unpaid.id]: 'PENDING', [paid.id]: 'COMPLETED' });
    expect(await db.select().from(refunds).where(sql`${refunds.orderId} in (${unpaid.id}, ${paid.id})`)).toEqual([]);
    expect(stripe.refunds.length).toBe(before);
  });

  it('operators list the FAILED refunds and retry one once fixed: made once, under the same key', async () => {
    const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: 800 });
    const o = await order(productId, 'refund-failed', 1);
    const admin = await h.admin();
    const before = stripe.refunds.length;
    stripe.fault('refund', { kind: '500' }, 2);
    const asked = (await h.gql(REFUND, { orderId: o.id, reason: 'return' }, admin)).data.refundOrder.refund;
    expect(asked.status).toBe('PENDING');
    // The job's next attempt is refused too, and it was the last one allowed here: FAILED.
    const deps = h.backend.runtime.deps;
    await deps.db.update(refunds).set({ nextAttemptAt: new Date(0) }).where(eq(refunds.id, asked.id));
    expect(await runRefunds(deps, { ...DEFAULT_REFUND_SETTINGS, maxAttempts: 2 })).toMatchObject({ failed: 1 });
    const LIST = `query($status: RefundStatus, $first: Int!, $after: ID) { refunds(status: $status, first: $first, after: $after) { id orderId status attempts lastError reason requestedBy gateway transactionId amount { amount } } }`;
    const failed = (await h.gql(LIST, { status: 'FAILED', first: 500 }, admin)).data.refunds;
    expect(failed).toContainEqual(
      expect.objectContaining({ id: asked.id, orderId: o.id, status: 'FAILED', attempts: 2, reason: 'return', requestedBy: 'operator', gateway: 'stripe', transactionId: o.transactionId, amount: { amount: 800 } }),
    );
    expect(failed.find((r: { id: string }) => r.id === asked.id).lastError).toMatch(/Stripe/);
    // Paged by id: the page after this refund does not hold it.
    const after = (await h.gql(LIST, { first: 500, after: asked.id }, admin)).data.refunds;
    expect(after.every((r: { id: string }) => r.id > asked.id)).toBe(true);
    expect((await h.gql(LIST, { first: 0 }, admin)).errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect((await h.gql(LIST, { first: 10 }, o.token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const RETRY = `mutation($id: ID!) { retryRefund(id: $id) { id status attempts refundId lastError } }`;
    // Retried before the cause is fixed: refused again, and left to the job with a fresh count of
    // attempts (PENDING, not FAILED at once). The count itself only grows: each claim's number
    // fences it, so a worker still holding an old claim can never record over a new one.
    stripe.fault('refund', { kind: '500' });
    const still = (await h.gql(RETRY, { id: asked.id }, admin)).data.retryRefund;
    expect(still).toMatchObject({ id: asked.id, status: 'PENDING', attempts: 3 });
    expect(still.lastError).toMatch(/Stripe/);
    await deps.db.update(refunds).set({ nextAttemptAt: new Date(0) }).where(eq(refunds.id, asked.id));
    expect(await runRefunds(deps, { ...DEFAULT_REFUND_SETTINGS, maxAttempts: 2 })).toMatchObject({ claimed: 1, refunded: 1 });
    const retried = (await h.gql(RETRY, { id: asked.id }, admin)).data.retryRefund;
    expect(retried).toMatchObject({ id: asked.id, status: 'SUCCEEDED', attempts: 4, lastError: null });
    expect(stripe.refunds.slice(before)).toEqual([expect.objectContaining({ intentId: o.transactionId, amount: 800, idempotencyKey: expect.stringMatching(/^refund-/) })]);
    // Again: answered as it is, nothing more at Stripe.
    expect((await h.gql(RETRY, { id: asked.id }, admin)).data.retryRefund).toEqual(retried);
    expect(stripe.refunds.length).toBe(before + 1);
    expect((await h.gql(RETRY, { id: '00000000-0000-4000-8000-000000000000' }, admin)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await h.gql(RETRY, { id: 'nope' }, admin)).errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
    expect((await h.gql(RETRY, { id: asked.id }, o.token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  describe('refunds the gateway reports (webhooks)', () => {
    const stripeHook = async (charge: Record<string, unknown>) => {
      const ev = await stripe.signEvent('charge.refunded', { id: `ch_${Math.random().toString(36).slice(2)}`, object: 'charge', refunded: true, ...charge });
      const res = await h.app.fetch('http://test/webhooks/stripe', { method: 'POST', headers: ev.headers, body: ev.body });
      expect(res.status).toBe(200);
      return (await res.json()).result;
    };

    it("a whole refund made in Stripe's dashboard cancels the paid order as refunded; duplicates change nothing; a partial one keeps it", async () => {
      const { id: productId } = await h.product({ totalQuantity: 5, priceAmount: 1500, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 3 } });
      const whole = await order(productId, 'dash-whole', 1);
      const part = await order(productId, 'dash-part', 1);
      const before = stripe.refunds.length;
      const charge = { payment_intent: whole.transactionId, amount: 1500, amount_refunded: 1500, refunds: { object: 'list', data: [{ id: 're_dashboard_1', object: 'refund' }] } };
      expect(await stripeHook(charge)).toBe('refund-recorded');
      expect(await stripeHook(charge)).toBe('refund-known');
      const mine = (await h.gql(MINE, { id: whole.id }, whole.token)).data.order;
      expect(mine).toMatchObject({ status: 'CANCELLED', paymentStatus: 'COMPLETED', refunds: [{ status: 'SUCCEEDED', amount: { amount: 1500, currency: 'USD' } }] });
      const db = h.backend.runtime.deps.db;
      expect(await db.select().from(refunds).where(eq(refunds.orderId, whole.id))).toMatchObject([
        { status: 'SUCCEEDED', refundId: 're_dashboard_1', requestedBy: 'gateway:stripe', reason: 'refunded at stripe', amount: 1500 },
      ]);
      expect((await db.select().from(outbox).where(eq(outbox.aggregateId, whole.id))).filter((e) => e.topic === 'order.refunded')).toHaveLength(1);
      // A part of a charge: the order stays paid, to ship.
      expect(await stripeHook({ payment_intent: part.transactionId, amount: 1500, amount_refunded: 500, refunded: false })).toBe('partial-refund');
      expect(await exported(productId)).toEqual([part.id]);
      expect(await db.select().from(refunds).where(eq(refunds.orderId, part.id))).toEqual([]);
      // Nothing was asked of Stripe; the refunds job has nothing to do.
      await h.worker.tick();
      expect(stripe.refunds.length).toBe(before);
      // A charge we do not know is acknowledged and ignored.
      expect(await stripeHook({ payment_intent: 'pi_not_ours', amount: 100, amount_refunded: 100 })).toBe('unknown-payment');
    });

    it('our own refund confirmed by the webhook after our call to Stripe failed is not made again', async () => {
      const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: 900 });
      const o = await order(productId, 'dash-confirm', 1);
      const before = stripe.refunds.length;
      stripe.fault('refund', { kind: '500' });
      const answer = await h.gql(REFUND, { orderId: o.id, reason: 'return' }, await h.admin());
      expect(answer.data.refundOrder.refund.status).toBe('PENDING');
      // Say the refund went through at Stripe after all (it was made in the dashboard meanwhile): the webhook records it.
      expect(await stripeHook({ payment_intent: o.transactionId, amount: 900, amount_refunded: 900, refunds: { object: 'list', data: [{ id: 're_late' }] } })).toBe('refund-known');
      const db = h.backend.runtime.deps.db;
      await db.update(refunds).set({ nextAttemptAt: new Date(0) }).where(eq(refunds.orderId, o.id));
      await h.worker.tick();
      expect(stripe.refunds.length).toBe(before);
      expect(await db.select().from(refunds).where(eq(refunds.orderId, o.id))).toMatchObject([{ status: 'SUCCEEDED', refundId: 're_late', reason: 'return' }]);
    });

    it("a whole refund made in PayPal's dashboard cancels the paid order as refunded", async () => {
      const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: 1999 });
      const o = await order(productId, 'dash-paypal', 1, false);
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `dash-paypal-${tag}`, roles: [] }, { orderId: o.id, paymentMethod: 'pm_card_visa', amount: 1999 });
      if ('__typename' in started) throw new Error(started.__typename);
      const charged = await (deps.payments as GatewayRouter).members[1].charge(chargeRequestOf(started.attempt));
      if (charged.status !== 'succeeded') throw new Error(charged.status);
      const resource = {
        id: 'PAYPAL-REFUND-1',
        status: 'COMPLETED',
        amount: { value: '19.99', currency_code: 'USD' },
        seller_payable_breakdown: { total_refunded_amount: { value: '19.99', currency_code: 'USD' } },
        links: [{ rel: 'up', href: `${paypal.url}/v2/payments/captures/${charged.transactionId}`, method: 'GET' }],
      };
      const ev = paypal.signEvent('PAYMENT.CAPTURE.REFUNDED', resource, { webhookId: PAYPAL_WEBHOOK_ID });
      const send = async () => (await (await h.app.fetch('http://test/webhooks/paypal', { method: 'POST', headers: ev.headers, body: ev.body })).json()).result;
      await settlePayment(deps, started.attempt.id, { ...charged, gateway: 'paypal' });
      expect(await exported(productId)).toEqual([o.id]);
      expect(await send()).toBe('refund-recorded');
      expect(await send()).toBe('refund-known');
      expect((await h.gql(MINE, { id: o.id }, o.token)).data.order).toMatchObject({ status: 'CANCELLED', refunds: [{ status: 'SUCCEEDED', amount: { amount: 1999 } }] });
      expect(await exported(productId)).toEqual([]);
      expect(paypal.refunds.filter((r) => r.captureId === charged.transactionId)).toEqual([]);
    });

    /**
     * An attempt charged at gateway `member` (0 Stripe, 1 PayPal) whose commit was lost: it stays
     * PROCESSING, as when the process dies between the gateway's answer and ours. Then an operator
     * refunds the whole charge in the gateway's dashboard.
     */
    async function chargedThenRefundedAtGateway(who: string, member: 0 | 1, amount: number) {
      const { id: productId } = await h.product({ totalQuantity: 3, priceAmount: amount });
      const o = await order(productId, who, 1, false);
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `${who}-${tag}`, roles: [] }, { orderId: o.id, paymentMethod: 'pm_card_visa', amount });
      if ('__typename' in started) throw new Error(started.__typename);
      const gateway = (deps.payments as GatewayRouter).members[member];
      const charged = await gateway.charge(chargeRequestOf(started.attempt));
      if (charged.status !== 'succeeded') throw new Error(charged.status);
      const dashboard = await gateway.refund!({ transactionId: charged.transactionId, amount, currency: 'USD', idempotencyKey: `dashboard-${who}-${tag}` });
      return { productId, order: o, attempt: started.attempt, transactionId: charged.transactionId, dashboardRefund: dashboard.refundId };
    }

    it("a charge refunded in Stripe's dashboard before we settled it: its webhook settles the charge first, then cancels the order as refunded; never exported", async () => {
      const deps = h.backend.runtime.deps;
      const c = await chargedThenRefundedAtGateway('early-stripe', 0, 1250);
      const asked = stripe.refunds.length;
      const ev = await stripe.signEvent('charge.refunded', stripe.chargeOf(c.transactionId));
      const deliver = () => h.app.fetch('http://test/webhooks/stripe', { method: 'POST', headers: ev.headers, body: ev.body });
      // Stripe cannot say yet what became of the charge: retryable, nothing changes.
      stripe.fault('retrieve', { kind: '500' });
      const refused = await deliver();
      expect(refused.status).toBe(503);
      const db = deps.db;
      expect(await db.select().from(refunds).where(eq(refunds.orderId, c.order.id))).toEqual([]);
      expect((await h.gql(MINE, { id: c.order.id }, c.order.token)).data.order).toMatchObject({ status: 'PENDING', refunds: [] });
      // Stripe delivers it again.
      const res = await deliver();
      expect(res.status).toBe(200);
      expect((await res.json()).result).toBe('refund-recorded');
      expect((await h.gql(MINE, { id: c.order.id }, c.order.token)).data.order).toMatchObject({
        status: 'CANCELLED',
        paymentStatus: 'COMPLETED',
        refunds: [{ status: 'SUCCEEDED', amount: { amount: 1250, currency: 'USD' } }],
      });
      expect(await db.select().from(refunds).where(eq(refunds.orderId, c.order.id))).toMatchObject([
        { status: 'SUCCEEDED', refundId: c.dashboardRefund, requestedBy: 'gateway:stripe', transactionId: c.transactionId, amount: 1250 },
      ]);
      expect((await db.select().from(outbox).where(eq(outbox.aggregateId, c.order.id))).filter((e) => e.topic === 'order.refunded')).toHaveLength(1);
      expect(await exported(c.productId)).toEqual([]);
      expect((await revenueOf(c.productId)).revenue.amount).toBe(0);
      // A duplicate changes nothing; reconciliation finds nothing left to settle; we asked Stripe for no refund.
      expect((await (await deliver()).json()).result).toBe('refund-known');
      // A refund of another charge that carries this attempt's key (another gateway's, say) is not this one's.
      const other = await stripe.signEvent('charge.refunded', { ...stripe.chargeOf(c.transactionId), id: 'ch_other', payment_intent: 'pi_other' });
      const ignored = await h.app.fetch('http://test/webhooks/stripe', { method: 'POST', headers: other.headers, body: other.body });
      expect((await ignored.json()).result).toBe('unknown-payment');
      await reconcilePayments(deps, { staleAfterMs: 0 });
      await h.worker.tick();
      expect(stripe.refunds.length).toBe(asked);
      expect(await db.select().from(refunds).where(eq(refunds.orderId, c.order.id))).toHaveLength(1);
    });

    it('reconciliation settles a charge refunded at the gateway before we settled it as refunded (Stripe and PayPal): the order is cancelled, not shipped', async () => {
      const deps = h.backend.runtime.deps;
      const viaStripe = await chargedThenRefundedAtGateway('late-stripe', 0, 700);
      const viaPayPal = await chargedThenRefundedAtGateway('late-paypal', 1, 1999);
      const asked = { stripe: stripe.refunds.length, paypal: paypal.refunds.length };
      // No webhook arrives (none configured, or lost): the attempts are stale PROCESSING ones.
      const report = await reconcilePayments(deps, { staleAfterMs: 0 });
      expect(report.pending).toBe(0);
      for (const [c, gateway] of [[viaStripe, 'stripe'], [viaPayPal, 'paypal']] as const) {
        expect((await h.gql(MINE, { id: c.order.id }, c.order.token)).data.order).toMatchObject({ status: 'CANCELLED', paymentStatus: 'COMPLETED', refunds: [{ status: 'SUCCEEDED' }] });
        expect(await deps.db.select().from(refunds).where(eq(refunds.orderId, c.order.id))).toMatchObject([{ status: 'SUCCEEDED', requestedBy: `gateway:${gateway}`, transactionId: c.transactionId }]);
        expect(await exported(c.productId)).toEqual([]);
      }
      // A second pass and the refunds job change nothing, and neither gateway is asked for a refund.
      await reconcilePayments(deps, { staleAfterMs: 0 });
      await h.worker.tick();
      expect({ stripe: stripe.refunds.length, paypal: paypal.refunds.length }).toEqual(asked);
    });
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('order lists on a process that did not place the orders (Postgres + Redis)', () => {
  it('reads their items and refunds from the database (the batched statements, not the process cache)', async () => {
    const { a, b, gql, admin, product, close } = await twoApis('orderlists');
    try {
      await product('list-elsewhere', { sale: { perUserLimit: 3 } });
      const shopper = await signToken(TEST_SECRET, { sub: 'list-elsewhere-1' });
      const placed: string[] = [];
      for (const quantity of [1, 2]) {
        const r = await gql(a.url, RESERVE, { input: { productId: 'list-elsewhere', quantity } }, shopper);
        const c = await gql(a.url, CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
        const o = c.data.checkout.order;
        expect((await gql(a.url, PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.total.amount } }, shopper)).data.pay.__typename).toBe('PaySuccess');
        placed.push(o.id);
      }
      expect((await gql(a.url, REFUND, { orderId: placed[1], reason: 'return' }, admin)).data.refundOrder.refund.status).toBe('SUCCEEDED');
      // B never saw these orders: nothing of them is kept in its memory.
      const list = (await gql(b.url, `{ orders { id status items { quantity product { id } } refunds { status amount { amount } } } }`, {}, shopper)).data.orders;
      expect(new Map(list.map((o: { id: string }) => [o.id, o]))).toEqual(
        new Map([
          [placed[0], { id: placed[0], status: 'COMPLETED', items: [{ quantity: 1, product: { id: 'list-elsewhere' } }], refunds: [] }],
          [placed[1], { id: placed[1], status: 'CANCELLED', items: [{ quantity: 2, product: { id: 'list-elsewhere' } }], refunds: [{ status: 'SUCCEEDED', amount: { amount: 2000 } }] }],
        ]),
      );
    } finally {
      await close();
    }
  }, 120_000);
});
