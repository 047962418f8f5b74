// Bots against the rate limits, on both backends (in-process limiter; Redis Lua limiter).
// The clock is frozen, so "1,000 reserves in a second" is exactly that, whatever the machine's speed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';
import { securedApp, testClock } from './support/security.js';

const LIMITS = {
  RATE_LIMIT_RESERVE_SHOPPER: '5/10s',
  RATE_LIMIT_RESERVE_IP: '50/10s',
  RATE_LIMIT_RESERVE_PRODUCT: '300/1s',
  RATE_LIMIT_CHECKOUT_SHOPPER: '3/1m',
  RATE_LIMIT_READ_SHOPPER: '20/1m',
  RATE_LIMIT_READ_IP: '40/1m',
};

describe.each(BACKENDS)('bots on %s', (backend) => {
  let h: Harness;
  const clock = testClock();
  beforeAll(async () => {
    h = await harness(backend, { now: clock.now });
  }, 180_000); // PGlite start-up is slow on a loaded machine
  afterAll(async () => {
    await h?.close();
  });
  const bigSale = () =>
    h.product({ totalQuantity: 5000, sale: { startsAt: new Date(clock.now().getTime() - 60_000).toISOString(), perUserLimit: 1000 } });

  it('one token firing 1,000 reserves in one second gets exactly the 5 admissions its budget allows', async () => {
    const s = securedApp(h, LIMITS);
    const { id } = await bigSale();
    const t = await h.token('bot-one');
    const out = await Promise.all(Array.from({ length: 1000 }, () => s.gql(RESERVE, { input: { productId: id } }, t)));
    const kinds = out.map((r) => r.body.data?.reserve.__typename ?? JSON.stringify(r.body.errors));
    expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(5);
    expect(kinds.filter((k) => k === 'RateLimited')).toHaveLength(995);
    const limited = out.find((r) => r.body.data?.reserve.__typename === 'RateLimited')!.body.data.reserve;
    expect(limited).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await h.ledger(id)).reserved).toBe(5);
    // The REST mirror answers 429 with Retry-After (2 s: one slot every 10/5 s).
    const rest = await s.post('/reserve-inventory', { product_id: id, quantity: 1 }, t);
    expect(rest.status).toBe(429);
    expect(rest.headers.get('retry-after')).toBe('2');
    expect(rest.body.error).toMatchObject({ code: 'RATE_LIMITED', retry_after_seconds: 2 });
    // A refill: two seconds later one more fits.
    clock.advance(2000);
    expect((await s.gql(RESERVE, { input: { productId: id } }, t)).body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('answers reserves on a sold-out product from memory, before the budgets: none is charged', async () => {
    const s = securedApp(h, LIMITS);
    const gone = await h.product({ totalQuantity: 1, sale: { startsAt: new Date(clock.now().getTime() - 60_000).toISOString(), perUserLimit: 1 } });
    const t = await h.token('late-bot');
    expect((await s.gql(RESERVE, { input: { productId: gone.id } }, await h.token('early-bird'))).body.data.reserve.__typename).toBe('ReserveSuccess');
    const out = await Promise.all(Array.from({ length: 100 }, () => s.gql(RESERVE, { input: { productId: gone.id } }, t)));
    expect(out.map((r) => r.body.data?.reserve.__typename ?? JSON.stringify(r.body.errors))).toEqual(Array(100).fill('SoldOut'));
    const rest = await s.post('/reserve-inventory', { product_id: gone.id, quantity: 1 }, t);
    expect(rest.status).toBe(409);
    expect(rest.body.error).toMatchObject({ code: 'SOLD_OUT' });
    // The shopper's reserve budget (5 per 10 s) is untouched: all 5 fit on a product with stock.
    const { id } = await bigSale();
    const fresh = await Promise.all(Array.from({ length: 6 }, () => s.gql(RESERVE, { input: { productId: id } }, t)));
    expect(fresh.map((r) => r.body.data.reserve.__typename).sort()).toEqual([...Array(1).fill('RateLimited'), ...Array(5).fill('ReserveSuccess')]);
    // Bad input is still refused as bad input, sold out or not (after the budgets, as before).
    clock.advance(10_000);
    const bad = await s.gql(RESERVE, { input: { productId: gone.id, quantity: 0 } }, t);
    expect(bad.body.data.reserve.__typename).toBe('InvalidInput');
  });

  it('200 tokens on one IP firing 1,000 reserves get exactly the 50 admissions the IP budget allows', async () => {
    const s = securedApp(h, LIMITS);
    const { id } = await bigSale();
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => h.token(`farm-${i}`)));
    const out = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => s.gql(RESERVE, { input: { productId: id } }, tokens[i % 200], '203.0.113.7')),
    );
    const kinds = out.map((r) => r.body.data?.reserve.__typename ?? JSON.stringify(r.body.errors));
    expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(50);
    expect(kinds.filter((k) => k === 'RateLimited')).toHaveLength(950);
    expect((await h.ledger(id)).reserved).toBe(50);
    // Another IP is unaffected.
    const other = await s.gql(RESERVE, { input: { productId: id } }, await h.token('neighbour'), '198.51.100.9');
    expect(other.body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('caps admissions per product whatever the number of shoppers and IPs', async () => {
    const s = securedApp(h, { ...LIMITS, RATE_LIMIT_RESERVE_PRODUCT: '30/1s' });
    const { id } = await bigSale();
    const tokens = await Promise.all(Array.from({ length: 60 }, (_, i) => h.token(`crowd-${i}`)));
    const out = await Promise.all(tokens.map((t, i) => s.gql(RESERVE, { input: { productId: id } }, t, `10.0.${i >> 8}.${i & 255}`)));
    expect(out.filter((r) => r.body.data?.reserve.__typename === 'ReserveSuccess')).toHaveLength(30);
    expect(out.filter((r) => r.body.data?.reserve.__typename === 'RateLimited')).toHaveLength(30);
  });

  it('keeps separate budgets: reserve exhausted, checkout and pay still go through; their own budget then runs out', async () => {
    const s = securedApp(h, LIMITS);
    const { id } = await h.product({ totalQuantity: 50, priceAmount: 500, sale: { startsAt: new Date(clock.now().getTime() - 60_000).toISOString(), perUserLimit: 3 } });
    const t = await h.token('buyer');
    const first = await s.gql(RESERVE, { input: { productId: id } }, t);
    expect(first.body.data.reserve.__typename).toBe('ReserveSuccess');
    for (let i = 0; i < 10; i++) await s.gql(RESERVE, { input: { productId: 'no-such-product' } }, t);
    expect((await s.gql(RESERVE, { input: { productId: id } }, t)).body.data.reserve.__typename).toBe('RateLimited');
    const c = await s.gql(CHECKOUT, { input: { cartId: first.body.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    expect(c.body.data.checkout.__typename).toBe('CheckoutSuccess');
    const p = await s.gql(PAY, { input: { orderId: c.body.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 500 } }, t);
    expect(p.body.data.pay.__typename).toBe('PaySuccess');
    // checkout + pay share 3 per minute: the third call passes, the fourth is refused.
    const again = await s.gql(PAY, { input: { orderId: c.body.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 500 } }, t);
    expect(again.body.data.pay.__typename).toBe('AlreadyPaid');
    const refused = await s.gql(PAY, { input: { orderId: c.body.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 500 } }, t);
    expect(refused.body.data.pay).toMatchObject({ __typename: 'RateLimited', code: 'RATE_LIMITED' });
    const rest = await s.post('/checkout', { cart_id: first.body.data.reserve.reservation.cartId, payment_method: 'pm_card_visa', shipping_address: {} }, t);
    expect(rest.status).toBe(429);
    expect(rest.headers.get('retry-after')).toBe('20');
  });

  it('limits reads per shopper and per IP with 429 and Retry-After, apart from writes', async () => {
    const s = securedApp(h, LIMITS);
    const { id } = await bigSale();
    const t = await h.token('reader');
    const q = `query($id: ID!) { inventory(productId: $id) { availableQuantity } }`;
    const out = await Promise.all(Array.from({ length: 30 }, () => s.gql(q, { id }, t)));
    expect(out.filter((r) => r.status === 200 && r.body.data?.inventory)).toHaveLength(20);
    const limited = out.find((r) => r.status === 429)!;
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(limited.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 3 });
    expect(limited.body.data).toBeUndefined();
    // Writes have their own budget.
    expect((await s.gql(RESERVE, { input: { productId: id } }, t)).body.data.reserve.__typename).toBe('ReserveSuccess');
    // Anonymous reads from one IP: 40 a minute, also on GET /inventory.
    const anon = await Promise.all(Array.from({ length: 45 }, () => s.app.fetch(`http://test/inventory/${id}`, { headers: { 'x-forwarded-for': '192.0.2.44' } })));
    expect(anon.filter((r) => r.status === 200)).toHaveLength(40);
    expect(anon.filter((r) => r.status === 429)).toHaveLength(5);
  });

  it('RATE_LIMIT=off lets a load test through', async () => {
    const s = securedApp(h, { ...LIMITS, RATE_LIMIT: 'off' });
    const { id } = await bigSale();
    const t = await h.token('load-test');
    const out = await Promise.all(Array.from({ length: 50 }, () => s.gql(RESERVE, { input: { productId: id } }, t)));
    expect(out.every((r) => r.body.data.reserve.__typename === 'ReserveSuccess')).toBe(true);
  });

  it('counts bought units against the per-user limit: buy, pay, try again -> LimitExceeded', async () => {
    const { id } = await h.product({ totalQuantity: 10, priceAmount: 700, sale: { startsAt: new Date(clock.now().getTime() - 60_000).toISOString(), perUserLimit: 1 } });
    const t = await h.token('reseller');
    const r = await h.gql(RESERVE, { input: { productId: id } }, t);
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    const p = await h.gql(PAY, { input: { orderId: c.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 700 } }, t);
    expect(p.data.pay.__typename).toBe('PaySuccess');
    const again = await h.gql(RESERVE, { input: { productId: id } }, t);
    expect(again.data.reserve).toMatchObject({ __typename: 'LimitExceeded', limit: 1 });
    // And after the gate forgets everything (reloaded from Postgres), still refused.
    await h.backend.runtime.deps.gate.load({ productId: id, stock: 9, sequence: 100, startsAtMs: clock.now().getTime() - 60_000, endsAtMs: -1, perUserLimit: 1, held: {} }, true);
    const afterReload = await h.gql(RESERVE, { input: { productId: id } }, t);
    expect(afterReload.data.reserve).toMatchObject({ __typename: 'LimitExceeded', limit: 1 });
    expect((await h.ledger(id)).sold).toBe(1);
  });
});
