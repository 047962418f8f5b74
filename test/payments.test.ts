// Payments through the real Stripe and PayPal SDKs, each pointed at a small local
// server that speaks the endpoints we use and records every charge it takes. Every
// test asserts how many charges each gateway took.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payments } from '../src/adapters/db/schema/tables.js';
import { createPaymentGateway } from '../src/adapters/payments/index.js';
import { ConfigError, loadPaymentsConfig } from '../src/config.js';
import { chargeRequestOf, startAttempt } from '../src/domain/payments/pay.js';
import type { PaymentGateway } from '../src/domain/payments/port.js';
import { reconcilePayments } from '../src/domain/payments/reconcile.js';
import { GatewayRouter } from '../src/domain/payments/router.js';
import { BACKENDS, quietLog } from './support/backends.js';
import { type FakePayPal, startFakePayPal } from './support/fake-paypal.js';
import { type FakeStripe, startFakeStripe } from './support/fake-stripe.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';

const STRIPE_KEY = 'sk_test_flashsale_0123456789';
const WEBHOOK_SECRET = 'whsec_flashsale_test_secret';
const PAYPAL = { clientId: 'flashsale-client', clientSecret: 'flashsale-secret' };
const TIMEOUT_MS = 300;
const PAYPAL_WEBHOOK_ID = 'WH-FLASHSALE-TEST-0001';

function gatewayFor(stripe: FakeStripe, paypal: FakePayPal, extra: Record<string, string> = {}): PaymentGateway {
  const config = loadPaymentsConfig({
    PAYMENT_GATEWAYS: 'stripe,paypal',
    STRIPE_SECRET_KEY: STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripe.url,
    PAYPAL_CLIENT_ID: PAYPAL.clientId,
    PAYPAL_CLIENT_SECRET: PAYPAL.clientSecret,
    PAYPAL_ENVIRONMENT: 'sandbox',
    PAYPAL_API_BASE: paypal.url,
    PAYPAL_WEBHOOK_ID,
    PAYMENT_TIMEOUT_MS: String(TIMEOUT_MS),
    PAYMENT_BREAKER_FAILURES: '5',
    ...extra,
  });
  return createPaymentGateway(config, quietLog);
}

describe.each(BACKENDS)('payments through Stripe and PayPal on %s', (backend) => {
  let h: Harness;
  const tag = backend.replace(/\W/g, '-');
  let stripe: FakeStripe;
  let paypal: FakePayPal;
  beforeAll(async () => {
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: WEBHOOK_SECRET });
    paypal = await startFakePayPal(PAYPAL);
    h = await harness(backend, { payments: gatewayFor(stripe, paypal) });
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

  async function holdAndCheckout(sub: string, opts: { quantity?: number; ttl?: number } = {}) {
    const { id } = await h.product({
      priceAmount: 1999,
      totalQuantity: 10,
      sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5, reservationTtlSeconds: opts.ttl ?? 300 },
    });
    const token = await h.token(`${sub}-${tag}`);
    const r = await h.gql(RESERVE, { input: { productId: id, quantity: opts.quantity ?? 1 } }, token);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, token);
    expect(c.data.checkout.__typename).toBe('CheckoutSuccess');
    const order = c.data.checkout.order;
    return { productId: id, token, order, amount: order.total.amount as number };
  }

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

  describe('webhooks', () => {
    const deliver = (body: string, headers: Record<string, string>) => h.app.fetch('http://test/webhooks/stripe', { method: 'POST', headers, body });

    /** An order whose attempt Stripe charged while our commit never happened. */
    async function chargedButUnsettled(sub: string) {
      const o = await holdAndCheckout(sub);
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `${sub}-${tag}`, roles: [] }, { orderId: o.order.id, paymentMethod: 'pm_card_visa', amount: o.amount });
      if ('__typename' in started) throw new Error(started.__typename);
      await deps.payments.charge(chargeRequestOf(started.attempt));
      const intent = [...stripe.intents.values()].find((i) => i.metadata.order_id === o.order.id)!;
      return { ...o, intent };
    }

    it('a bad signature is refused with 400 and changes nothing', async () => {
      const before = counts();
      const o = await chargedButUnsettled('webhook-forged');
      const forged = await stripe.signEvent('payment_intent.succeeded', o.intent, { secret: 'whsec_not_the_right_one' });
      const res = await deliver(forged.body, forged.headers);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('INVALID_SIGNATURE');
      // A tampered body under a genuine signature is refused too.
      const genuine = await stripe.signEvent('payment_intent.succeeded', o.intent);
      const tampered = await deliver(genuine.body.replace('"livemode":false', '"livemode":true'), genuine.headers);
      expect(tampered.status).toBe(400);
      const missing = await deliver(genuine.body, { 'content-type': 'application/json' });
      expect(missing.status).toBe(400);
      expect((await attemptsOf(o.order.id))[0].status).toBe('PROCESSING');
      expect((await orderOf(o.order.id, o.token)).status).toBe('PENDING');
      expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 1, sold: 0 });
      expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    });

    it('a genuine event settles the order; duplicates and a late contradicting event change nothing', async () => {
      const before = counts();
      const o = await chargedButUnsettled('webhook-dup');
      const event = await stripe.signEvent('payment_intent.succeeded', o.intent, { id: `evt_dup_${tag}` });
      const first = await deliver(event.body, event.headers);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual({ received: true, result: 'settled' });
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'COMPLETED', transactionId: o.intent.id });
      for (let n = 0; n < 3; n++) {
        const dup = await deliver(event.body, event.headers);
        expect(dup.status).toBe(200);
        expect(await dup.json()).toEqual({ received: true, result: 'already-settled' });
      }
      // Out of order: a stale failure event for the same intent arrives after the success.
      const stale = { ...o.intent, status: 'requires_payment_method' as const, last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } };
      const late = await stripe.signEvent('payment_intent.payment_failed', stale);
      expect((await deliver(late.body, late.headers)).status).toBe(200);
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'COMPLETED' });
      expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
      // Events about other things are acknowledged and ignored.
      const other = await stripe.signEvent('payment_intent.created', o.intent);
      expect(await (await deliver(other.body, other.headers)).json()).toEqual({ received: true, ignored: true });
      expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    });

    it('a failure event declines the order and puts the stock back', async () => {
      const before = counts();
      const o = await holdAndCheckout('webhook-fail');
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `webhook-fail-${tag}`, roles: [] }, { orderId: o.order.id, paymentMethod: 'pm_card_chargeDeclined', amount: o.amount });
      if ('__typename' in started) throw new Error(started.__typename);
      // Only the Stripe adapter: the decline happens at Stripe, our commit is lost.
      const stripeGw = (deps.payments as GatewayRouter).members[0];
      expect(await stripeGw.charge(chargeRequestOf(started.attempt))).toMatchObject({ status: 'declined' });
      const intent = [...stripe.intents.values()].find((i) => i.metadata.order_id === o.order.id)!;
      const ev = await stripe.signEvent('payment_intent.payment_failed', intent);
      expect(await (await deliver(ev.body, ev.headers)).json()).toEqual({ received: true, result: 'settled' });
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED' });
      expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
      expect(counts()).toEqual(before);
    });

    it('PayPal: a forged notification is refused with 400; a genuine one settles once, duplicates change nothing', async () => {
      const before = counts();
      const o = await holdAndCheckout('paypal-webhook');
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `paypal-webhook-${tag}`, roles: [] }, { orderId: o.order.id, paymentMethod: 'pm_card_visa', amount: o.amount });
      if ('__typename' in started) throw new Error(started.__typename);
      // Charged through PayPal (after a failover, say); our commit is lost.
      const paypalGw = (deps.payments as GatewayRouter).members[1];
      expect(await paypalGw.charge(chargeRequestOf(started.attempt))).toMatchObject({ status: 'succeeded' });
      const capture = paypal.charges.at(-1)!;
      const resource = { id: capture.captureId, status: 'COMPLETED', custom_id: started.attempt.gatewayKey, amount: { currency_code: 'USD', value: '19.99' } };
      const send = (d: { body: string; headers: Record<string, string> }) => h.app.fetch('http://test/webhooks/paypal', { method: 'POST', headers: d.headers, body: d.body });

      const wrongKey = paypal.signEvent('PAYMENT.CAPTURE.COMPLETED', resource, { webhookId: PAYPAL_WEBHOOK_ID, key: 'other' });
      expect((await send(wrongKey)).status).toBe(400);
      const wrongHook = paypal.signEvent('PAYMENT.CAPTURE.COMPLETED', resource, { webhookId: 'WH-SOMEONE-ELSE' });
      expect((await send(wrongHook)).status).toBe(400);
      const genuine = paypal.signEvent('PAYMENT.CAPTURE.COMPLETED', resource, { webhookId: PAYPAL_WEBHOOK_ID });
      expect((await send({ ...genuine, body: genuine.body.replace('19.99', '0.01') })).status).toBe(400);
      const foreignCert = { ...genuine, headers: { ...genuine.headers, 'paypal-cert-url': 'https://evil.example/cert.pem' } };
      expect((await send(foreignCert)).status).toBe(400);
      expect((await attemptsOf(o.order.id))[0].status).toBe('PROCESSING');
      expect((await orderOf(o.order.id, o.token)).status).toBe('PENDING');

      const ok = await send(genuine);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ received: true, result: 'settled' });
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'COMPLETED', transactionId: capture.captureId });
      expect((await attemptsOf(o.order.id))[0]).toMatchObject({ gateway: 'paypal', status: 'SUCCEEDED' });
      expect(await (await send(genuine)).json()).toEqual({ received: true, result: 'already-settled' });
      expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 9, reserved: 0, sold: 1 });
      expect(counts()).toEqual({ stripe: before.stripe, paypal: before.paypal + 1 });
    });
  });
});

describe('gateway router circuit breaker (real SDKs, local gateways)', () => {
  let stripe: FakeStripe;
  let paypal: FakePayPal;
  beforeAll(async () => {
    stripe = await startFakeStripe({ secretKey: STRIPE_KEY, webhookSecret: WEBHOOK_SECRET });
    paypal = await startFakePayPal(PAYPAL);
  });
  afterAll(async () => {
    await stripe?.close();
    await paypal?.close();
  });
  const req = (n: number) => ({ orderId: `breaker-${n}`, amount: 500, currency: 'EUR', paymentMethod: 'pm_card_visa', idempotencyKey: `breaker_${n}` });

  it('opens after N failures (traffic goes straight to PayPal), probes Stripe again later and closes', async () => {
    const router = gatewayFor(stripe, paypal, { PAYMENT_BREAKER_FAILURES: '2', PAYMENT_BREAKER_OPEN_MS: '400' }) as GatewayRouter;
    stripe.fault('create', { kind: '500' }, 2);
    expect(await router.charge(req(1))).toMatchObject({ status: 'succeeded', gateway: 'paypal' });
    expect(router.breaker('stripe')!.state).toBe('CLOSED');
    expect(await router.charge(req(2))).toMatchObject({ status: 'succeeded', gateway: 'paypal' });
    expect(router.breaker('stripe')!.state).toBe('OPEN');
    const stripeRequests = stripe.requests.length;
    expect(await router.charge(req(3))).toMatchObject({ status: 'succeeded', gateway: 'paypal' });
    expect(stripe.requests.length).toBe(stripeRequests);
    expect({ stripe: stripe.charges.length, paypal: paypal.charges.length }).toEqual({ stripe: 0, paypal: 3 });
    expect(paypal.charges.map((c) => c.value)).toEqual(['5.00', '5.00', '5.00']);
    await new Promise((r) => setTimeout(r, 450));
    expect(router.breaker('stripe')!.state).toBe('HALF_OPEN');
    expect(await router.charge(req(4))).toMatchObject({ status: 'succeeded', gateway: 'stripe' });
    expect(router.breaker('stripe')!.state).toBe('CLOSED');
    expect({ stripe: stripe.charges.length, paypal: paypal.charges.length }).toEqual({ stripe: 1, paypal: 3 });
  });

  it('a timeout, then a 5xx on the retry: the first request may have charged, so no failover before the lookup', async () => {
    const router = gatewayFor(stripe, paypal) as GatewayRouter;
    const before = { stripe: stripe.charges.length, paypal: paypal.charges.length };
    // Stripe charges but answers too late; then the retry's create (the first one passes) fails with a 500.
    stripe.fault('confirm', { kind: 'slow', ms: TIMEOUT_MS * 4 });
    stripe.fault('create', { kind: '500' }, 1, 1);
    expect(await router.charge(req(30))).toMatchObject({ status: 'succeeded', gateway: 'stripe' });
    expect({ stripe: stripe.charges.length, paypal: paypal.charges.length }).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
  });

  it('with every gateway down, nothing is charged and the shopper gets a retry hint', async () => {
    const router = gatewayFor(stripe, paypal, { PAYMENT_BREAKER_FAILURES: '1', PAYMENT_BREAKER_OPEN_MS: '5000' }) as GatewayRouter;
    const before = { stripe: stripe.charges.length, paypal: paypal.charges.length };
    stripe.fault('create', { kind: '500' });
    paypal.fault('create', { kind: '500' });
    const out = await router.charge(req(10));
    expect(out).toMatchObject({ status: 'unavailable' });
    expect(out.status === 'unavailable' && out.retryAfterSeconds).toBeGreaterThan(0);
    // Both circuits are open now: refused without a request.
    const requests = stripe.requests.length + paypal.requests.length;
    expect(await router.charge(req(11))).toMatchObject({ status: 'unavailable', retryAfterSeconds: 5 });
    expect(stripe.requests.length + paypal.requests.length).toBe(requests);
    expect({ stripe: stripe.charges.length, paypal: paypal.charges.length }).toEqual(before);
  });

  it('a PayPal decline is a decline, and PayPal-Request-Id makes a repeat charge once', async () => {
    const router = gatewayFor(stripe, paypal, { PAYMENT_GATEWAYS: 'paypal' });
    const before = paypal.charges.length;
    expect(await router.charge({ ...req(20), paymentMethod: 'pm_card_chargeDeclined' })).toMatchObject({ status: 'declined', declineCode: 'instrument_declined', gateway: 'paypal' });
    const a = await router.charge(req(21));
    const b = await router.charge(req(21));
    expect(a).toMatchObject({ status: 'succeeded' });
    expect(b).toEqual(a);
    expect(paypal.charges.length).toBe(before + 1);
  });
});

describe('payments configuration', () => {
  it('defaults to the sandbox and refuses incomplete gateway settings', () => {
    expect(loadPaymentsConfig({})).toMatchObject({ gateways: ['sandbox'], timeoutMs: 10_000, breakerFailures: 5 });
    expect(() => loadPaymentsConfig({ PAYMENT_GATEWAYS: 'stripe' })).toThrow(ConfigError);
    expect(() => loadPaymentsConfig({ PAYMENT_GATEWAYS: 'stripe', STRIPE_SECRET_KEY: 'pk_test_abc' })).toThrow(/publishable/);
    expect(() => loadPaymentsConfig({ PAYMENT_GATEWAYS: 'paypal', PAYPAL_CLIENT_ID: 'x' })).toThrow(/PAYPAL_CLIENT_SECRET/);
    expect(() => loadPaymentsConfig({ PAYMENT_GATEWAYS: 'stripe,adyen' })).toThrow(/adyen/);
    expect(() => loadPaymentsConfig({ PAYMENT_GATEWAYS: 'sandbox', PAYMENT_TIMEOUT_MS: '5' })).toThrow(/PAYMENT_TIMEOUT_MS/);
  });
});
