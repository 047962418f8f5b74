// Payments through the real Stripe and PayPal SDKs, each pointed at a small local
// server that speaks the endpoints we use and records every charge it takes. Every
// test asserts how many charges each gateway took. (Webhooks: payments-webhooks.test.ts;
// router and breaker: payments-router.test.ts.)
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payments } from '../src/adapters/db/schema/tables.js';
import { chargeRequestOf, startAttempt } from '../src/domain/payments/pay.js';
import { reconcilePayments } from '../src/domain/payments/reconcile.js';
import { BACKENDS } from './support/backends.js';
import { type FakePayPal, startFakePayPal } from './support/fake-paypal.js';
import { type FakeStripe, startFakeStripe } from './support/fake-stripe.js';
import { type Harness, harness, PAY } from './support/harness.js';
import { gatewayFor, PAYPAL, STRIPE_KEY, TIMEOUT_MS, WEBHOOK_SECRET } from './support/payments.js';

describe.each(BACKENDS)('payments through Stripe and PayPal on %s', (backend) => {
  let h: Harness;
  const tag = backend.replace(/\W/g, '-');
  let stripe: FakeStripe;
  let paypal: FakePayPal;
  beforeAll(async () => {
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: WEBHOOK_SECRET });
    paypal = await startFakePayPal(PAYPAL);
    h = await harness(backend, { payments: await gatewayFor(stripe, paypal) });
  });
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
    await paypal?.close();
  });

  const counts = () => ({ stripe: stripe.charges.length, paypal: paypal.charges.length });
  const attemptsOf = (orderId: string) => h.backend.runtime.deps.db.select().from(payments).where(eq(payments.orderId, orderId));
  const orderOf = async (id: string, token: string) =>
    (await h.gql(`query($id: ID!) { order(id: $id) { status paymentStatus inventoryStatus transactionId } }`, { id }, token)).data.order;

  const holdAndCheckout: Harness['holdAndCheckout'] = (sub, opts) => h.holdAndCheckout(sub, opts);

  const payOnce = (o: { token: string; order: { id: string }; amount: number }, paymentMethod = 'pm_card_visa', idempotencyKey?: string) =>
    h.gql(PAY, { input: { orderId: o.order.id, paymentMethod, amount: o.amount, idempotencyKey } }, o.token);

  it('success: Stripe charges once, the order completes, a repeat is AlreadyPaid', async () => {
    const before = counts();
    const o = await holdAndCheckout('success');
    const p = await payOnce(o);
    expect(p.data.pay).toMatchObject({ __typename: 'PaySuccess', order: { status: 'COMPLETED', paymentStatus: 'COMPLETED', inventoryStatus: 'CONFIRMED' } });
    expect(p.data.pay.transactionId).toMatch(/^pi_/);
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    const charge = stripe.charges.at(-1)!;
    expect(charge).toMatchObject({ amount: 1999, currency: 'usd', intentId: p.data.pay.transactionId });
    const [attempt] = await attemptsOf(o.order.id);
    expect(attempt).toMatchObject({ gateway: 'stripe', status: 'SUCCEEDED', transactionId: p.data.pay.transactionId, gatewayKey: `order_${o.order.id}_attempt_1` });
    expect(stripe.intents.get(p.data.pay.transactionId)!.metadata).toEqual({ order_id: o.order.id, idempotency_key: attempt.gatewayKey });
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
    const again = await payOnce(o);
    expect(again.data.pay.__typename).toBe('AlreadyPaid');
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
  });

  it('decline: nothing charged anywhere, no failover, the stock goes back', async () => {
    const before = counts();
    const o = await holdAndCheckout('decline', { quantity: 2 });
    const p = await payOnce(o, 'pm_card_chargeDeclined');
    expect(p.data.pay).toMatchObject({ __typename: 'PaymentDeclined', code: 'PAYMENT_DECLINED', declineCode: 'generic_decline' });
    expect(counts()).toEqual(before);
    expect(paypal.requests.filter((r) => r.requestId?.includes(o.order.id))).toEqual([]);
    expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED', paymentStatus: 'FAILED' });
    const [attempt] = await attemptsOf(o.order.id);
    expect(attempt).toMatchObject({ gateway: 'stripe', status: 'DECLINED', declineCode: 'generic_decline' });
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
  });

  it('a timeout, then success on the same idempotency key: charged once', async () => {
    const before = counts();
    const o = await holdAndCheckout('timeout-retry');
    // The first confirm is swallowed (never processed) until long after our timeout.
    stripe.fault('confirm', { kind: 'drop', ms: TIMEOUT_MS * 4 });
    const p = await payOnce(o);
    expect(p.data.pay).toMatchObject({ __typename: 'PaySuccess', order: { status: 'COMPLETED' } });
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    const key = `order_${o.order.id}_attempt_1-confirm`;
    expect(stripe.requests.filter((r) => r.endpoint === 'confirm' && r.idempotencyKey === key)).toHaveLength(2);
    expect(stripe.charges.at(-1)!.idempotencyKey).toBe(key);
  });

  it('a 5xx from Stripe before it charged: charged once, through PayPal', async () => {
    const before = counts();
    const o = await holdAndCheckout('stripe-500');
    stripe.fault('create', { kind: '500' });
    const p = await payOnce(o);
    expect(p.data.pay).toMatchObject({ __typename: 'PaySuccess', order: { status: 'COMPLETED' } });
    expect(counts()).toEqual({ stripe: before.stripe, paypal: before.paypal + 1 });
    expect(paypal.charges.at(-1)).toMatchObject({ value: '19.99', currency: 'USD', requestId: `order_${o.order.id}_attempt_1-capture` });
    const [attempt] = await attemptsOf(o.order.id);
    expect(attempt).toMatchObject({ gateway: 'paypal', status: 'SUCCEEDED', transactionId: paypal.charges.at(-1)!.captureId });
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
  });

  it('a 5xx on confirm: Stripe is asked, its intent fenced (cancelled), then PayPal charges once', async () => {
    const before = counts();
    const o = await holdAndCheckout('confirm-500');
    stripe.fault('confirm', { kind: '500' });
    const p = await payOnce(o);
    expect(p.data.pay.__typename).toBe('PaySuccess');
    expect(counts()).toEqual({ stripe: before.stripe, paypal: before.paypal + 1 });
    const fenced = [...stripe.intents.values()].filter((i) => i.metadata.order_id === o.order.id);
    expect(fenced.map((i) => i.status)).toEqual(['canceled']);
    expect((await attemptsOf(o.order.id))[0].gateway).toBe('paypal');
  });

  it('Stripe timed out but had charged: no second charge anywhere', async () => {
    const before = counts();
    const o = await holdAndCheckout('charged-silently');
    // Stripe charges at once but answers long after our timeout.
    stripe.fault('confirm', { kind: 'slow', ms: TIMEOUT_MS * 5 });
    const p = await payOnce(o);
    expect(p.data.pay).toMatchObject({ __typename: 'PaySuccess', order: { status: 'COMPLETED' } });
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    expect((await attemptsOf(o.order.id))[0]).toMatchObject({ gateway: 'stripe', status: 'SUCCEEDED', transactionId: stripe.charges.at(-1)!.intentId });
  });

  it('an outcome nobody can tell yet stays PENDING (PaymentUnavailable), then reconciliation settles it', async () => {
    const before = counts();
    const o = await holdAndCheckout('unknowable');
    stripe.fault('confirm', { kind: 'slow', ms: TIMEOUT_MS * 8 });
    // Every look-up meanwhile times out too.
    stripe.fault('retrieve', { kind: 'drop', ms: TIMEOUT_MS * 3 }, 2);
    const p = await payOnce(o, 'pm_card_visa', 'pay-unknowable');
    expect(p.data.pay).toMatchObject({ __typename: 'PaymentUnavailable', code: 'PAYMENT_UNAVAILABLE' });
    expect(p.data.pay.message).toMatch(/not known yet/);
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    expect((await attemptsOf(o.order.id))[0].status).toBe('UNKNOWN');
    expect((await orderOf(o.order.id, o.token)).status).toBe('PENDING');
    // The shopper retries: no new attempt while the first is unknown, nothing charged.
    const retry = await payOnce(o, 'pm_card_visa');
    expect(retry.data.pay.__typename).toBe('PaymentUnavailable');
    expect(await attemptsOf(o.order.id)).toHaveLength(1);
    await h.worker.tick();
    expect((await orderOf(o.order.id, o.token)).status).toBe('COMPLETED');
    const same = await payOnce(o, 'pm_card_visa', 'pay-unknowable');
    expect(same.data.pay).toMatchObject({ __typename: 'PaySuccess', transactionId: stripe.charges.at(-1)!.intentId });
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
  });

  it('crash between the gateway charge and our commit: reconciliation completes the order, no second charge', async () => {
    const before = counts();
    const o = await holdAndCheckout('crash');
    const deps = h.backend.runtime.deps;
    const actor = { userId: `crash-${tag}`, roles: [] };
    // What `pay` does up to the moment the process dies: the attempt is recorded and the gateway charges.
    const started = await startAttempt(deps, actor, { orderId: o.order.id, paymentMethod: 'pm_card_visa', amount: o.amount });
    if ('__typename' in started) throw new Error(started.__typename);
    expect(await deps.payments.charge(chargeRequestOf(started.attempt))).toMatchObject({ status: 'succeeded', gateway: 'stripe' });
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    // A fresh PROCESSING attempt may still be in a live `pay`: left alone.
    expect(await reconcilePayments(deps, { staleAfterMs: 60_000 })).toMatchObject({ examined: 0 });
    // Later it is stale: settled from Stripe's record.
    const later = { ...deps, now: () => new Date(Date.now() + 120_000) };
    expect(await reconcilePayments(later, { staleAfterMs: 60_000 })).toMatchObject({ examined: 1, succeeded: 1 });
    expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'COMPLETED', transactionId: stripe.charges.at(-1)!.intentId });
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
    expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    expect((await payOnce(o)).data.pay.__typename).toBe('AlreadyPaid');
    expect(await reconcilePayments(later, { staleAfterMs: 60_000 })).toMatchObject({ examined: 0 });
  });

  it('crash before the gateway was called: reconciliation finds nothing charged; on expiry the stock goes back', async () => {
    const before = counts();
    const o = await holdAndCheckout('crash-early', { ttl: 1 });
    const deps = h.backend.runtime.deps;
    const started = await startAttempt(deps, { userId: `crash-early-${tag}`, roles: [] }, { orderId: o.order.id, paymentMethod: 'pm_card_visa', amount: o.amount });
    if ('__typename' in started) throw new Error(started.__typename);
    await new Promise((r) => setTimeout(r, 1100));
    await h.worker.tick();
    // The sweeper leaves an order with a payment in flight alone.
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 1, sold: 0 });
    const later = { ...deps, now: () => new Date(Date.now() + 120_000) };
    expect(await reconcilePayments(later, { staleAfterMs: 60_000 })).toMatchObject({ examined: 1, notCharged: 1 });
    expect((await attemptsOf(o.order.id))[0].status).toBe('FAILED');
    // Stripe's intent for the attempt is cancelled, so it can never be charged later.
    expect([...stripe.intents.values()].filter((i) => i.metadata.order_id === o.order.id).map((i) => i.status)).toEqual(['canceled']);
    await h.worker.tick();
    expect((await orderOf(o.order.id, o.token)).status).toBe('CANCELLED');
    expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
    expect(counts()).toEqual(before);
  });
});
