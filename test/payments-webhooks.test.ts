// Gateway webhooks (Stripe, PayPal) through the real app: signatures verified on the
// raw body, settling idempotent; every test asserts how many charges each gateway took.
import { request as httpRequest } from 'node:http';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payments, refunds } from '../src/adapters/db/schema/tables.js';
import { chargeRequestOf, settlePayment, startAttempt } from '../src/domain/payments/pay.js';
import { DEFAULT_REFUND_SETTINGS, oweRefund, runRefunds } from '../src/domain/payments/refunds.js';
import type { GatewayRouter } from '../src/domain/payments/router.js';
import { BACKENDS } from './support/backends.js';
import { type FakePayPal, startFakePayPal } from './support/fake-paypal.js';
import { type FakeStripe, startFakeStripe } from './support/fake-stripe.js';
import { type Harness, harness } from './support/harness.js';
import { gatewayFor, PAYPAL, PAYPAL_WEBHOOK_ID, STRIPE_KEY, WEBHOOK_SECRET } from './support/payments.js';

describe.each(BACKENDS)('payments webhooks on %s', (backend) => {
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

    it('a body over 512 KiB is refused with 413 through the real port, declared or chunked, and a genuine event still settles', async () => {
      const base = `http://127.0.0.1:${await h.app.start(0, '127.0.0.1')}`;
      /** Sends 10 KB pieces of a body without a declared length, and never ends it: the answer must not wait for the end. */
      const chunked = (pieces: number) =>
        new Promise<number>((resolve, reject) => {
          const r = httpRequest(`${base}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          });
          r.on('error', (err) => (['ECONNRESET', 'EPIPE'].includes((err as NodeJS.ErrnoException).code!) ? undefined : reject(err)));
          let i = 0;
          const next = () => i++ < pieces && r.write(' '.repeat(10_000), next);
          next();
        });
      // Before, a chunked body was read to its end, however long, and only then measured.
      expect(await chunked(60)).toBe(413);
      expect((await fetch(`${base}/webhooks/stripe`, { method: 'POST', body: ' '.repeat(600_000) })).status).toBe(413);
      const o = await chargedButUnsettled('webhook-sized');
      const genuine = await stripe.signEvent('payment_intent.succeeded', o.intent);
      const res = await fetch(`${base}/webhooks/stripe`, { method: 'POST', headers: genuine.headers, body: genuine.body });
      expect(res.status).toBe(200);
      expect((await orderOf(o.order.id, o.token)).status).toBe('COMPLETED');
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

    it('a charge that lands after the attempt was settled as not charged is refunded, once, by the worker', async () => {
      const before = counts();
      const o = await chargedButUnsettled('webhook-orphan');
      const deps = h.backend.runtime.deps;
      // Settled as declined first (a stale failure event), so the order failed and its stock went back...
      const stale = { ...o.intent, status: 'requires_payment_method' as const, last_payment_error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'Your card was declined.' } };
      const failed = await stripe.signEvent('payment_intent.payment_failed', stale);
      expect(await (await deliver(failed.body, failed.headers)).json()).toEqual({ received: true, result: 'settled' });
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED' });
      // ...then Stripe says it charged: money without an order.
      const charged = await stripe.signEvent('payment_intent.succeeded', o.intent);
      for (let n = 0; n < 2; n++) expect(await (await deliver(charged.body, charged.headers)).json()).toEqual({ received: true, result: 'already-settled' });
      const [attempt] = await attemptsOf(o.order.id);
      const owed = await deps.db.select().from(refunds).where(eq(refunds.paymentId, attempt.id));
      expect(owed).toMatchObject([{ status: 'PENDING', gateway: 'stripe', transactionId: o.intent.id, amount: o.amount, attempts: 0 }]);

      // Stripe fails the first refund request; the worker retries it with the same key.
      stripe.fault('refund', { kind: '500' });
      const fast = { ...DEFAULT_REFUND_SETTINGS, retryBaseMs: 1 };
      expect(await runRefunds(deps, fast)).toMatchObject({ claimed: 1, refunded: 0, retrying: 1 });
      expect(stripe.refunds).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 5));
      await h.worker.tick(); // the worker's own refunds job takes the retry
      expect(stripe.refunds).toHaveLength(1);
      expect(stripe.refunds).toEqual([expect.objectContaining({ intentId: o.intent.id, amount: o.amount, idempotencyKey: `refund-${attempt.id}` })]);
      const [done] = await deps.db.select().from(refunds).where(eq(refunds.paymentId, attempt.id));
      expect(done).toMatchObject({ status: 'SUCCEEDED', attempts: 2, lastError: null, refundId: stripe.refunds[0].id });
      // The shopper's own data export shows the money given back.
      const exported = JSON.parse((await h.gql('{ exportMyData }', {}, o.token)).data.exportMyData);
      const mine = exported.data.shopping.orders.find((x: { id: string }) => x.id === o.order.id);
      expect(mine.refunds).toEqual([expect.objectContaining({ gateway: 'stripe', amount: o.amount, status: 'SUCCEEDED', refundId: stripe.refunds[0].id })]);
      // Nothing more: another delivery, another pass.
      await deliver(charged.body, charged.headers);
      await h.worker.tick();
      expect(stripe.refunds).toHaveLength(1);
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED' });
      expect(await h.ledger(o.productId)).toEqual({ total: 10, available: 10, reserved: 0, sold: 0 });
      expect(counts()).toEqual({ stripe: before.stripe + 1, paypal: before.paypal });
    });

    it('the same when the late charge comes through a settlement (a pay or reconciliation answer), not a webhook', async () => {
      const o = await chargedButUnsettled('settle-orphan');
      const deps = h.backend.runtime.deps;
      const [attempt] = await attemptsOf(o.order.id);
      await settlePayment(deps, attempt.id, { status: 'declined', declineCode: 'generic_decline', message: 'declined', gateway: 'stripe' });
      const late = { status: 'succeeded' as const, transactionId: o.intent.id, gateway: 'stripe' };
      await settlePayment(deps, attempt.id, late);
      await settlePayment(deps, attempt.id, late);
      expect(await deps.db.select().from(refunds).where(eq(refunds.paymentId, attempt.id))).toMatchObject([{ status: 'PENDING', gateway: 'stripe', transactionId: o.intent.id, amount: o.amount }]);
      await h.worker.tick();
      expect(stripe.refunds.filter((r) => r.intentId === o.intent.id)).toHaveLength(1);
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED' });
    });

    it('a refund the gateway keeps refusing is FAILED after the last attempt, for an operator', async () => {
      const o = await chargedButUnsettled('webhook-orphan-refused');
      const deps = h.backend.runtime.deps;
      const [attempt] = await attemptsOf(o.order.id);
      // Recorded as owed for a charge id Stripe does not know: every request is refused.
      await oweRefund(deps.db, { paymentId: attempt.id, orderId: o.order.id, gateway: 'stripe', transactionId: 'pi_unknown', amount: o.amount, currency: 'USD' });
      const settings = { ...DEFAULT_REFUND_SETTINGS, retryBaseMs: 1, maxAttempts: 2 };
      expect(await runRefunds(deps, settings)).toMatchObject({ retrying: 1 });
      await new Promise((r) => setTimeout(r, 5));
      expect(await runRefunds(deps, settings)).toMatchObject({ failed: 1 });
      const [row] = await deps.db.select().from(refunds).where(eq(refunds.paymentId, attempt.id));
      expect(row).toMatchObject({ status: 'FAILED', attempts: 2 });
      expect(row.lastError).toMatch(/Stripe refused the refund: .*No such payment_intent/);
      expect(await runRefunds(deps, settings)).toMatchObject({ claimed: 0 });
      // The metrics page shows it.
      const metrics = await (await h.app.fetch('http://test/metrics')).text();
      expect(metrics).toMatch(/flashsale_refunds\{status="FAILED"\} [1-9]/);
    });

    it('PayPal: a capture that completes after the attempt was settled as not charged is refunded once', async () => {
      const o = await holdAndCheckout('paypal-orphan');
      const deps = h.backend.runtime.deps;
      const started = await startAttempt(deps, { userId: `paypal-orphan-${tag}`, roles: [] }, { orderId: o.order.id, paymentMethod: 'pm_card_visa', amount: o.amount });
      if ('__typename' in started) throw new Error(started.__typename);
      const paypalGw = (deps.payments as GatewayRouter).members[1];
      expect(await paypalGw.charge(chargeRequestOf(started.attempt))).toMatchObject({ status: 'succeeded' });
      const capture = paypal.charges.at(-1)!;
      // We had settled it as failed (nothing charged, we believed): the order failed, the stock went back.
      await settlePayment(deps, started.attempt.id, { status: 'declined', declineCode: 'processor_declined', message: 'declined', gateway: 'paypal' });
      const resource = { id: capture.captureId, status: 'COMPLETED', custom_id: started.attempt.gatewayKey, amount: { currency_code: 'USD', value: '19.99' } };
      const completed = paypal.signEvent('PAYMENT.CAPTURE.COMPLETED', resource, { webhookId: PAYPAL_WEBHOOK_ID });
      const send = () => h.app.fetch('http://test/webhooks/paypal', { method: 'POST', headers: completed.headers, body: completed.body });
      expect(await (await send()).json()).toEqual({ received: true, result: 'already-settled' });
      // PayPal fails the first refund request (500); the retry, same PayPal-Request-Id, refunds once.
      paypal.fault('refund', { kind: '500' });
      const fast = { ...DEFAULT_REFUND_SETTINGS, retryBaseMs: 1 };
      expect(await runRefunds(deps, fast)).toMatchObject({ retrying: 1 });
      await new Promise((r) => setTimeout(r, 5));
      expect(await runRefunds(deps, fast)).toMatchObject({ refunded: 1 });
      expect(paypal.refunds.filter((r) => r.captureId === capture.captureId)).toEqual([
        expect.objectContaining({ value: '19.99', currency: 'USD', requestId: `refund-${started.attempt.id}` }),
      ]);
      await send();
      await h.worker.tick();
      expect(paypal.refunds.filter((r) => r.captureId === capture.captureId)).toHaveLength(1);
      expect(await orderOf(o.order.id, o.token)).toMatchObject({ status: 'FAILED' });
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
