// The seed's REST endpoints: exact paths, snake_case shapes, same rules as GraphQL.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { opsOf } from '../src/ops/index.js';
import { BACKENDS } from './support/backends.js';
import { type Harness, harness } from './support/harness.js';

describe.each(BACKENDS)('REST mirror on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });

  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await h.app.fetch(`http://test${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any, headers: res.headers };
  };

  it('add-to-cart -> checkout -> payment, with GET /inventory between', async () => {
    const { id } = await h.product({ totalQuantity: 10, priceAmount: 1999 });
    const t = await h.token('rest-alice');
    const inv0 = await call('GET', `/inventory/${id}`);
    expect(inv0).toMatchObject({ status: 200, body: { product_id: id, available_quantity: 10, total_quantity: 10, sold_out: false } });
    const add = await call('POST', '/add-to-cart', { user_id: 'rest-alice', product_id: id, quantity: 1 }, t);
    expect(add.status).toBe(200);
    expect(add.body).toMatchObject({ product_id: id, quantity: 1, status: 'ACTIVE' });
    expect(add.body.cart_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Date(add.body.reservation_expiry).getTime()).toBeGreaterThan(Date.now());
    expect((await call('GET', `/inventory/${id}`)).body).toMatchObject({ available_quantity: 9, reserved_quantity: 1 });
    const co = await call(
      'POST',
      '/checkout',
      {
        user_id: 'rest-alice',
        cart_id: add.body.cart_id,
        payment_method: 'pm_card_visa',
        shipping_address: { address_line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' },
      },
      t,
    );
    expect(co).toMatchObject({ status: 200, body: { status: 'PENDING', payment_status: 'PENDING', total_amount: 19.99, currency: 'USD' } });
    const wrong = await call('POST', '/payment', { user_id: 'rest-alice', order_id: co.body.order_id, payment_method: 'pm_card_visa', amount: 9.99 }, t);
    expect(wrong).toMatchObject({ status: 422, body: { error: { code: 'AMOUNT_MISMATCH' } } });
    const paid = await call('POST', '/payment', { user_id: 'rest-alice', order_id: co.body.order_id, payment_method: 'pm_card_visa', amount: 19.99 }, t);
    expect(paid).toMatchObject({ status: 200, body: { status: 'COMPLETED', payment_status: 'COMPLETED', amount: 19.99 } });
    expect(paid.body.transaction_id).toBeTruthy();
    expect((await call('GET', `/inventory/${id}`)).body).toMatchObject({ available_quantity: 9, reserved_quantity: 0, sold_quantity: 1 });
  });

  it('reserve-inventory returns the expiry; a sold-out product answers 409', async () => {
    const { id } = await h.product({ totalQuantity: 1 });
    const a = await call('POST', '/reserve-inventory', { user_id: 'rest-a', product_id: id, quantity: 1 }, await h.token('rest-a'));
    expect(a.status).toBe(200);
    expect(a.body.reservation_expiry).toBeTruthy();
    expect(a.body.cart_id).toBeUndefined();
    const b = await call('POST', '/reserve-inventory', { user_id: 'rest-b', product_id: id, quantity: 1 }, await h.token('rest-b'));
    expect(b).toMatchObject({ status: 409, body: { error: { code: 'SOLD_OUT', product_id: id } } });
  });

  it("refuses a user_id that is not the token's subject with 403, and no token with 401", async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const t = await h.token('rest-mallory');
    const r = await call('POST', '/add-to-cart', { user_id: 'rest-victim', product_id: id, quantity: 1 }, t);
    expect(r).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    const anon = await call('POST', '/add-to-cart', { user_id: 'x', product_id: id, quantity: 1 });
    expect(anon.status).toBe(401);
    expect((await h.ledger(id)).available).toBe(5);
  });

  it('answers bad input with 400 and clear messages, and changes nothing', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const t = await h.token('rest-bob');
    expect((await call('POST', '/add-to-cart', '{not json', t)).body.error.code).toBe('INVALID_INPUT');
    expect((await call('POST', '/add-to-cart', { product_id: id, quantity: 0 }, t))).toMatchObject({ status: 400, body: { error: { field: 'quantity' } } });
    expect((await call('POST', '/add-to-cart', { product_id: id, quantity: 'two' }, t)).status).toBe(400);
    expect((await call('POST', '/add-to-cart', { product_id: 'nope-nope', quantity: 1 }, t)).status).toBe(404);
    expect((await call('GET', '/inventory/%27%3B--')).status).toBe(400);
    expect((await call('GET', '/inventory/unknown-product')).status).toBe(404);
    expect((await call('POST', '/payment', { order_id: '00000000-0000-4000-8000-000000000000', payment_method: 'pm_card_visa', amount: 1.234 }, t)).status).toBe(400);
    expect((await call('GET', '/add-to-cart')).status).toBe(405);
    expect((await h.ledger(id)).available).toBe(5);
  });

  it('reads bodies through the real port with a limit: a declared or chunked body over 64 KiB is refused with 413, nothing read past it', async () => {
    const port = await h.app.start(0, '127.0.0.1');
    const base = `http://127.0.0.1:${port}`;
    const { id } = await h.product({ totalQuantity: 5 });
    const t = await h.token('rest-big');
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${t}` };
    // A normal body through node:http (not app.fetch) is read whole.
    const ok = await fetch(`${base}/add-to-cart`, { method: 'POST', headers, body: JSON.stringify({ product_id: id, quantity: 1 }) });
    expect({ status: ok.status, body: await ok.json() }).toMatchObject({ status: 200 });
    /** Sends `first`, then (chunked) `more` pieces of 10 KB; the answer may come before the rest is sent. */
    const send = (path: string, extra: Record<string, string>, first: string, more: number) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const r = httpRequest(`${base}${path}`, { method: 'POST', headers: { ...headers, ...extra } }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(body) }));
        });
        r.on('error', (err) => (['ECONNRESET', 'EPIPE'].includes((err as NodeJS.ErrnoException).code!) ? undefined : reject(err)));
        r.write(first);
        if (more < 0) return; // declared length: the rest never comes
        let i = 0;
        const next = () => {
          if (i++ < more) r.write(' '.repeat(10_000), next);
          else r.end('}');
        };
        next();
      });
    // 30 MB declared, 1 KB sent: refused without waiting for the rest.
    const declared = await send('/add-to-cart', { 'content-length': String(30_000_000) }, `{"product_id":"${id}","pad":"${'x'.repeat(1000)}`, -1);
    expect(declared).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    // A chunked body of 200 KB: refused once it passes 64 KiB.
    const chunked = await send('/add-to-cart', { 'transfer-encoding': 'chunked' }, `{"product_id":"${id}","quantity":1`, 20);
    expect(chunked).toMatchObject({ status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE' } } });
    // Just under the limit is still a body like any other.
    const padded = await fetch(`${base}/reserve-inventory`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${await h.token('rest-big-2')}` },
      body: `{"product_id":"${id}","quantity":1${' '.repeat(60_000)}}`,
    });
    expect(padded.status).toBe(200);
    expect((await h.ledger(id)).available).toBe(3);
    // The refused bodies were never parsed, so only the two read ones count as reserve attempts.
    await new Promise((res) => setTimeout(res, 1100));
    expect(await opsOf(h.backend.runtime.deps)!.attempts.perSecond(id)).toBeGreaterThan(0);
  });
});
