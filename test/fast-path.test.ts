// The node:http fast path in front of Yoga must answer exactly what Yoga answers:
// the same operations sent through Yoga (app.fetch) and through the real port (fast
// path) give the same status, content type and body, errors and auth failures included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, signToken } from '../src/auth.js';
import type { FastPathStats } from '../src/http/fast-path.js';
import { cachedVerifier } from '../src/http/token-cache.js';
import { BACKENDS } from './support/backends.js';
import { type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';

const INVENTORY = /* GraphQL */ `
  query Inventory($productId: ID!) {
    inventory(productId: $productId) { productId totalQuantity availableQuantity reservedQuantity soldQuantity soldOut updatedAt }
  }
`;

interface Answer {
  status: number;
  type: string | null;
  body: any;
  text: string;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, type: res.headers.get('content-type'), body, text };
}

/** Replaces what differs between two successful reserves (ids, times, sequence) with placeholders. */
function normaliseReservation(a: Answer): Answer {
  const r = a.body?.data?.reserve?.reservation;
  if (r) {
    for (const k of ['id', 'cartId', 'expiresAt', 'sequence']) if (k in r) r[k] = `<${k}>`;
  }
  return { ...a, text: '<normalised>' };
}

describe.each(BACKENDS)('fast path on %s', (backend) => {
  let h: Harness;
  let base: string;
  let productId: string;
  let soldOutId: string;

  beforeAll(async () => {
    h = await harness(backend, {}, { fastPath: 'jit' });
    const port = await h.app.start(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
    productId = (await h.product({ totalQuantity: 50, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5 } })).id;
    soldOutId = (await h.product({ totalQuantity: 1 })).id;
    const first = await h.gql(RESERVE, { input: { productId: soldOutId } }, await h.token('first-buyer'));
    expect(first.data.reserve.__typename).toBe('ReserveSuccess');
  });
  afterAll(async () => {
    await h?.close();
  });

  const normal = (path: string, init?: RequestInit) => h.app.fetch(`http://test${path}`, init).then(answer);
  const fast = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init).then(answer);
  const post = (body: unknown, token?: string, extra: Record<string, string> = {}): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  const stats = () => (h.app.server.listeners('request')[0] as unknown as { stats: FastPathStats }).stats;

  /** Sends the same request both ways and expects byte-identical answers; `taken`: whether the fast path must answer it itself. */
  async function same(init: () => RequestInit | Promise<RequestInit>, path = '/graphql', taken = true): Promise<Answer> {
    const viaYoga = await normal(path, await init());
    const before = { ...stats() };
    const viaFast = await fast(path, await init());
    expect(viaFast).toEqual(viaYoga);
    expect(stats().fast - before.fast).toBe(taken ? 1 : 0);
    return viaFast;
  }

  it('answers inventory(productId) exactly like Yoga, for a product, an unknown one and a malformed id', async () => {
    const a = await same(() => post({ query: INVENTORY, variables: { productId } }));
    expect(a.body.data.inventory.availableQuantity).toBe(50);
    expect((await same(() => post({ query: INVENTORY, variables: { productId: 'no-such-product' } }))).body).toEqual({ data: { inventory: null } });
    await same(() => post({ query: INVENTORY, variables: { productId: '../etc' } }));
    // Inline arguments, aliases, __typename and an operation picked by name.
    await same(() =>
      post({
        query: `query A { x: inventory(productId: "${productId}") { __typename soldOut } } query B { inventory(productId: "${productId}") { totalQuantity } }`,
        operationName: 'B',
      }),
    );
  });

  it('refuses a reserve on a sold-out product with the same SoldOut result', async () => {
    const t = await h.token('late-shopper');
    const a = await same(() => post({ query: RESERVE, variables: { input: { productId: soldOutId } } }, t));
    expect(a.body.data.reserve).toMatchObject({ __typename: 'SoldOut', code: 'SOLD_OUT', productId: soldOutId });
  });

  it('gives the same auth failures: no token, a malformed header, a bad signature, an expired token, a shopper on an admin field', async () => {
    const noToken = await same(() => post({ query: RESERVE, variables: { input: { productId } } }));
    expect(noToken.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(noToken.body.data).toBeNull();
    await same(() => post({ query: RESERVE, variables: { input: { productId } } }, undefined, { authorization: 'Token abc' }));
    const forged = await signToken('another-secret-another-secret-another-secret', { sub: 'mallory' });
    const bad = await same(() => post({ query: RESERVE, variables: { input: { productId } } }, forged));
    expect(bad.body.errors[0].message).toMatch(/Invalid token/);
    const expired = await signToken(TEST_SECRET, { sub: 'old', expiresIn: '-1h' });
    expect((await same(() => post({ query: RESERVE, variables: { input: { productId } } }, expired))).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const shopper = await h.token('not-an-admin');
    const forbidden = await same(() =>
      post(
        {
          query: `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
          variables: { input: { name: 'x', priceAmount: 1, currency: 'USD', totalQuantity: 1, sale: { startsAt: new Date().toISOString(), perUserLimit: 1, reservationTtlSeconds: 60 } } },
        },
        shopper,
      ),
    );
    expect(forbidden.body.errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('gives the same request errors: bad JSON, syntax, validation, variables of the wrong type, a missing operation', async () => {
    const t = await h.token('typo-shopper');
    await same(() => post('{"query": '), '/graphql', false);
    await same(() => post({ query: 'query { inventory(productId: "x") { ' }), '/graphql', false);
    await same(() => post({ query: 'query { inventory(productId: "x") { nope } }' }), '/graphql', false);
    await same(() => post({ query: RESERVE, variables: { input: { productId, quantity: 'two' } } }, t), '/graphql', false);
    await same(() => post({ query: RESERVE, variables: {} }, t), '/graphql', false);
    await same(() => post({ query: INVENTORY, operationName: 'Missing', variables: { productId } }), '/graphql', false);
    await same(() => post({ query: 42 }), '/graphql', false);
    // Nothing was reserved by any of them.
    expect((await h.ledger(productId)).reserved).toBe(0);
  });

  it('returns the same typed business errors for bad input and the same reservation for a success', async () => {
    const t = await h.token('careful-shopper');
    const zero = await same(() => post({ query: RESERVE, variables: { input: { productId, quantity: 0 } } }, t));
    expect(zero.body.data.reserve).toMatchObject({ __typename: 'InvalidInput', field: 'quantity' });
    await same(() => post({ query: RESERVE, variables: { input: { productId: 'no-such-product' } } }, t));
    // A success changes state: one shopper through each path, compared without ids and times.
    const viaYoga = normaliseReservation(await normal('/graphql', post({ query: RESERVE, variables: { input: { productId } } }, await h.token('s-yoga'))));
    const viaFast = normaliseReservation(await fast('/graphql', post({ query: RESERVE, variables: { input: { productId } } }, await h.token('s-fast'))));
    expect(viaFast).toEqual(viaYoga);
    expect(viaFast.body.data.reserve.__typename).toBe('ReserveSuccess');
    expect((await h.ledger(productId)).reserved).toBe(2);
  });

  it('answers the REST mirror GET /inventory/{id} like the REST plugin does', async () => {
    const get = () => ({ method: 'GET' });
    const ok = await same(get, `/inventory/${productId}`);
    expect(ok.body).toMatchObject({ product_id: productId, total_quantity: 50 });
    expect((await same(get, '/inventory/no-such-product')).status).toBe(404);
    expect((await same(get, '/inventory/bad%20id')).status).toBe(400);
    await same(get, `/inventory/${productId}?fields=all`);
  });

  it('carries the caller’s x-request-id and leaves subscriptions, GET and SSE to Yoga', async () => {
    const res = await fetch(`${base}/graphql`, post({ query: INVENTORY, variables: { productId } }, undefined, { 'x-request-id': 'trace-123' }));
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const viaGet = await fast(`/graphql?query=${encodeURIComponent(`{ inventory(productId: "${productId}") { totalQuantity } }`)}`, {
      headers: { accept: 'application/json' },
    });
    expect(viaGet.body).toEqual({ data: { inventory: { totalQuantity: 50 } } });
    const sse = await fetch(`${base}/graphql`, post({ query: INVENTORY, variables: { productId } }, undefined, { accept: 'text/event-stream' }));
    expect(sse.headers.get('content-type')).toMatch(/text\/event-stream/);
    await sse.body?.cancel();
  });
});

describe('token cache', () => {
  it('trusts a verified token until its ttl or its exp, whichever is first, and remembers refusals briefly', async () => {
    let clock = Date.now();
    let calls = 0;
    const inner = createVerifier({ secret: TEST_SECRET });
    const counting = { verify: (t: string) => (calls++, inner.verify(t)) };
    const v = cachedVerifier(counting, { ttlMs: 30_000, now: () => clock });
    const token = await signToken(TEST_SECRET, { sub: 'shopper-1', expiresIn: '10s' });
    expect(await v.verify(token)).toMatchObject({ userId: 'shopper-1', roles: [] });
    expect(await v.verify(token)).toMatchObject({ userId: 'shopper-1', roles: [] });
    expect(calls).toBe(1);
    clock += 11_000; // past the token's exp, well within the ttl: not trusted from the cache any more
    await v.verify(token).catch(() => undefined);
    expect(calls).toBe(2);
    await expect(v.verify('garbage')).rejects.toThrow(/Invalid token/);
    await expect(v.verify('garbage')).rejects.toThrow(/Invalid token/);
    expect(calls).toBe(3);
  });
});

describe('performance settings', () => {
  it('reads FAST_PATH, TOKEN_CACHE_MS, WORKERS and REDIS_PREFIX, and refuses what cannot work', async () => {
    const { loadConfig } = await import('../src/config.js');
    const real = { DATABASE_URL: 'postgres://localhost/x', REDIS_URL: 'redis://localhost:6379' };
    expect(loadConfig({})).toMatchObject({ fastPath: 'off', tokenCacheMs: 30_000, workers: 1, redisPrefix: 'fs:' });
    expect(loadConfig({ ...real, FAST_PATH: 'off', TOKEN_CACHE_MS: '0', WORKERS: 'auto', REDIS_PREFIX: 'sale-7:' })).toMatchObject({
      fastPath: 'off',
      tokenCacheMs: 0,
      workers: 0,
      redisPrefix: 'sale-7:',
    });
    expect(() => loadConfig({ FAST_PATH: 'turbo' })).toThrow(/FAST_PATH/);
    expect(() => loadConfig({ WORKERS: '4' })).toThrow(/DATABASE_URL and REDIS_URL/);
    expect(() => loadConfig({ ...real, WORKERS: '-1' })).toThrow(/WORKERS/);
    expect(() => loadConfig({ REDIS_PREFIX: 'has space' })).toThrow(/REDIS_PREFIX/);
  });
});
