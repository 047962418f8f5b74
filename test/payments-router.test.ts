// The gateway router and its circuit breakers, through the real SDKs against local
// gateways (no database needed), and the payments configuration.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadPaymentsConfig } from '../src/config.js';
import { SandboxGateway } from '../src/adapters/payments/sandbox.js';
import type { GatewayRouter } from '../src/domain/payments/router.js';
import { type FakePayPal, startFakePayPal } from './support/fake-paypal.js';
import { type FakeStripe, startFakeStripe } from './support/fake-stripe.js';
import { gatewayFor, PAYPAL, STRIPE_KEY, TIMEOUT_MS, WEBHOOK_SECRET } from './support/payments.js';

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
    const router = (await gatewayFor(stripe, paypal, { PAYMENT_BREAKER_FAILURES: '2', PAYMENT_BREAKER_OPEN_MS: '400' })) as GatewayRouter;
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
    const router = (await gatewayFor(stripe, paypal)) as GatewayRouter;
    const before = { stripe: stripe.charges.length, paypal: paypal.charges.length };
    // Stripe charges but answers too late; then the retry's create (the first one passes) fails with a 500.
    stripe.fault('confirm', { kind: 'slow', ms: TIMEOUT_MS * 4 });
    stripe.fault('create', { kind: '500' }, 1, 1);
    expect(await router.charge(req(30))).toMatchObject({ status: 'succeeded', gateway: 'stripe' });
    expect({ stripe: stripe.charges.length, paypal: paypal.charges.length }).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
  });

  it('with every gateway down, nothing is charged and the shopper gets a retry hint', async () => {
    const router = (await gatewayFor(stripe, paypal, { PAYMENT_BREAKER_FAILURES: '1', PAYMENT_BREAKER_OPEN_MS: '5000' })) as GatewayRouter;
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

  it('refunds through each real SDK: the whole charge, once per key; an already refunded charge counts as refunded', async () => {
    const [stripeGw, paypalGw] = (await gatewayFor(stripe, paypal)).members!;
    const s = await stripeGw.charge(req(900));
    const p = await paypalGw.charge(req(901));
    if (s.status !== 'succeeded' || p.status !== 'succeeded') throw new Error('charges failed');
    for (const [gw, charge] of [[stripeGw, s], [paypalGw, p]] as const) {
      const refund = { transactionId: charge.transactionId, amount: 500, currency: 'EUR', idempotencyKey: `refund-${gw.name}` };
      const first = await gw.refund!(refund);
      expect(first.refundId).toMatch(/^\w+$/);
      expect(await gw.refund!(refund)).toEqual(first); // the same key: the first answer again
      expect(await gw.refund!({ ...refund, idempotencyKey: `refund-${gw.name}-again` })).toEqual({ refundId: 'already-refunded' });
      await expect(gw.refund!({ ...refund, transactionId: 'nothing-here', idempotencyKey: `refund-${gw.name}-unknown` })).rejects.toThrow(/refused the refund/);
    }
    expect(stripe.refunds.map((r) => r.amount)).toEqual([500]);
    expect(paypal.refunds.map((r) => [r.value, r.currency])).toEqual([['5.00', 'EUR']]);
    // The embedded default's sandbox keeps the same rules.
    const sandbox = new SandboxGateway();
    const charged = await sandbox.charge(req(902));
    if (charged.status !== 'succeeded') throw new Error('sandbox charge failed');
    const r = { transactionId: charged.transactionId, amount: 500, currency: 'EUR', idempotencyKey: 'refund-sbx' };
    expect(await sandbox.refund(r)).toEqual(await sandbox.refund(r));
    expect(sandbox.refunds).toBe(1);
    await expect(sandbox.refund({ ...r, transactionId: 'sbx_unknown', idempotencyKey: 'refund-sbx-2' })).rejects.toThrow(/No such charge/);
  });

  it('a PayPal decline is a decline, and PayPal-Request-Id makes a repeat charge once', async () => {
    const router = await gatewayFor(stripe, paypal, { PAYMENT_GATEWAYS: 'paypal' });
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
