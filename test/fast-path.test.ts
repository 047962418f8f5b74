// The node:http fast path in front of Yoga must answer exactly what Yoga answers:
// the same operations sent through Yoga (app.fetch) and through the real port (fast
// path) give the same status, headers and body, errors and auth failures included;
// and every check Yoga's plugins make (request id, load shedding, metrics and logs,
// security headers, persisted operations, abuse limits, read limits, audit, client IP)
// holds on the fast path too.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { RedisRateLimitStore } from '../src/adapters/redis/ratelimit.js';
import { type App, buildApp } from '../src/app.js';
import { createVerifier, signToken } from '../src/auth.js';
import type { FastPathStats } from '../src/http/fast-path.js';
import { cachedVerifier } from '../src/http/token-cache.js';
import { defaultOpsConfig, type OpsConfig } from '../src/ops/config.js';
import { loadSecurityConfig } from '../src/security/config.js';
import type { RateLimitStore } from '../src/security/ratelimit.js';
import { securityHeaders, sha256 } from '../src/security/plugins.js';
import { BACKENDS, type BackendName } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { testClock } from './support/security.js';
import { ownRedis } from './support/servers.js';

const INVENTORY = /* GraphQL */ `
  query Inventory($productId: ID!) {
    inventory(productId: $productId) { productId totalQuantity availableQuantity reservedQuantity soldQuantity soldOut updatedAt }
  }
`;

interface Answer {
  status: number;
  type: string | null;
  /** Every response header but the connection's own (date, keep-alive...), the length and the request id. */
  headers: Record<string, string>;
  body: any;
  text: string;
}

const TRANSPORT = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'x-request-id']);

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  const headers = Object.fromEntries([...res.headers].map(([k, v]) => [k.toLowerCase(), v]).filter(([k]) => !TRANSPORT.has(k)));
  return { status: res.status, type: res.headers.get('content-type'), headers, body, text };
}

/** Replaces what differs between two successful reserves (ids, times, sequence) with placeholders. */
function normaliseReservation(a: Answer): Answer {
  const r = a.body?.data?.reserve?.reservation;
  if (r) {
    for (const k of ['id', 'cartId', 'expiresAt', 'sequence']) if (k in r) r[k] = `<${k}>`;
  }
  return { ...a, text: '<normalised>' };
}

const post = (body: unknown, token?: string, extra: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

// Every backend with the default (graphql-jit), and the embedded one with FAST_PATH=graphql-js.
const MODES: [BackendName, 'jit' | 'graphql-js'][] = [...BACKENDS.map((b) => [b, 'jit'] as [BackendName, 'jit']), ['embedded', 'graphql-js']];

describe.each(MODES)('fast path on %s (FAST_PATH=%s)', (backend, mode) => {
  let h: Harness;
  let base: string;
  let productId: string;
  let soldOutId: string;

  beforeAll(async () => {
    h = await harness(backend, {}, { fastPath: mode });
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

  it("plans the SDK's queries and mutations at startup: a storefront's first reserve compiles nothing", async () => {
    const sdk = await import('../clients/sdk/src/gql/graphql.js');
    // Products, Product, Inventory, Cart, Reservation, Order, Orders, CreateProduct, Reserve,
    // ReleaseReservation, Checkout, Pay: every query and mutation the SDK sends (not its subscriptions).
    const id = (await h.product({ totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } })).id;
    const compiled = stats().compiled;
    expect(compiled).toBeGreaterThanOrEqual(12);
    const fastBefore = stats().fast;
    const token = await h.token('sdk-first-reserve');
    const a = await fast('/graphql', post({ query: sdk.ReserveDocument.toString(), variables: { input: { productId: id } } }, token));
    expect(a.body.data.reserve.__typename).toBe('ReserveSuccess');
    const b = await fast('/graphql', post({ query: sdk.InventoryDocument.toString(), variables: { productId: id } }, token));
    expect(b.body.data.inventory.availableQuantity).toBe(4);
    expect(stats().fast).toBe(fastBefore + 2);
    expect(stats().compiled).toBe(compiled);
  });

  if (backend === 'embedded' && mode === 'jit')
    it('with FAST_PATH_WARM=off plans nothing before the first request', async () => {
      const cold = await harness(backend, {}, { fastPath: mode, fastPathWarm: false });
      try {
        const listener = cold.app.server.listeners('request')[0] as unknown as { stats: FastPathStats };
        expect(listener.stats.compiled).toBe(0);
      } finally {
        await cold.close();
      }
    });

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

  it('answers the GraphQL-over-HTTP media type our SDK asks for first exactly like Yoga', async () => {
    const sdk = { accept: 'application/graphql-response+json, application/json' };
    const t = await h.token('sdk-shopper');
    const inv = await same(() => post({ query: INVENTORY, variables: { productId } }, undefined, sdk));
    expect(inv.headers['content-type']).toMatch(/^application\/graphql-response\+json/);
    await same(() => post({ query: RESERVE, variables: { input: { productId: soldOutId } } }, t, sdk));
    const noToken = await same(() => post({ query: RESERVE, variables: { input: { productId } } }, undefined, sdk));
    expect(noToken.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    await same(() => post({ query: RESERVE, variables: { input: { productId, quantity: 0 } } }, t, sdk));
    // Request errors are Yoga's to word, with this media type's status codes.
    const syntax = await same(() => post({ query: 'query { inventory(' }, undefined, sdk), '/graphql', false);
    expect(syntax.status).toBe(400);
    await same(() => post({ query: RESERVE, variables: { input: { productId, quantity: 'two' } } }, t, sdk), '/graphql', false);
    // Quality values need Yoga's own negotiation: handed over.
    await same(() => post({ query: INVENTORY, variables: { productId } }, undefined, { accept: 'application/json;q=0.5, application/graphql-response+json' }), '/graphql', false);
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

  it('hands bodies over its limit to Yoga without buffering them: a declared length over Yoga’s limit is refused before the body is sent', async () => {
    const before = stats().handed.size ?? 0;
    // 30 MB declared, 1 KB sent: the answer must not wait for the rest (before, the fast path read
    // every byte first, and handing 30 MB to Yoga as bytes took ~12 s and ~800 MB).
    const refused = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = httpRequest(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(30_000_000) } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      r.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
      r.write(`{"query":"{ products { id } }","variables":{"pad":"${'x'.repeat(1000)}`);
      // never ended: the rest never comes
    });
    expect(refused.status).toBe(413);
    expect(JSON.parse(refused.body).errors[0].extensions.code).toBe('REQUEST_ENTITY_TOO_LARGE');
    // A chunked body (no declared length) over the fast path's 64 KiB: Yoga gets what was read and
    // the rest as it comes, and answers it.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = httpRequest(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      r.on('error', reject);
      // 200 KB of JSON whitespace between the fields.
      r.write(`{"query":"query($productId: ID!) { inventory(productId: $productId) { totalQuantity } }",`);
      for (let i = 0; i < 20; i++) r.write(' '.repeat(10_000));
      r.end(`"variables":{"productId":"${productId}"}}`);
    });
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body)).toEqual({ data: { inventory: { totalQuantity: 50 } } });
    // A chunked body past Yoga's own limit (1 MiB by default), sent as fast as the server takes it:
    // refused with 413 while it is still coming (or the connection closed on the sender after the
    // answer), and the body the fast path goes on passing to Yoga after that hurts nothing.
    const tooBig = await new Promise<number | string>((resolve) => {
      const r = httpRequest(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      r.on('error', (err) => resolve((err as NodeJS.ErrnoException).code ?? 'error'));
      r.write('{"query":"{ products { id } }",');
      const pad = Buffer.alloc(16_384, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 1_500_000) {
          sent += pad.length;
          if (!r.write(pad)) return void r.once('drain', pump);
        }
        r.end('"variables":{}}');
      };
      pump();
    });
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(tooBig);
    expect((await fast('/graphql', post({ query: INVENTORY, variables: { productId } }))).body).toEqual({ data: { inventory: expect.objectContaining({ totalQuantity: 50 }) } });
    expect((stats().handed.size ?? 0) - before).toBe(3);
  }, 20_000);
});

describe.each(BACKENDS)('fast path applies every check Yoga applies, on %s', (backend) => {
  let h: Harness;
  // Frozen, so rate-limit answers (Retry-After) are the same through both paths.
  const clock = testClock();
  const apps: App[] = [];
  beforeAll(async () => {
    h = await harness(backend, { now: clock.now });
    clock.set(Date.now());
  }, 180_000);
  afterAll(async () => {
    for (const a of apps) await a.stop().catch(() => {});
    await h?.close();
  });

  const onSale = async (totalQuantity: number) =>
    (await h.product({ totalQuantity, sale: { startsAt: new Date(clock.now().getTime() - 60_000).toISOString(), perUserLimit: 5 } })).id;
  let n = 0;
  /** A shopper no other test uses (per-shopper budgets). */
  const shopper = (stem: string) => h.token(`${stem}-${backend.replace(/\W/g, '-')}-${++n}`);

  interface Served {
    app: App;
    base: string;
    stats(): FastPathStats;
    yoga(path: string, init?: RequestInit): Promise<Answer>;
    fast(path: string, init?: RequestInit): Promise<Answer>;
    /**
     * The same request through Yoga, then through the port: the same answer. `taken`: the
     * fast path answered it itself (true) or read it and handed it to Yoga (the reason).
     */
    same(init: () => RequestInit, path?: string, taken?: true | string): Promise<Answer>;
  }

  /** An app on the harness's deps with these settings (rate limits on, one trusted proxy), on a real port. */
  async function served(
    o: { env?: Record<string, string>; ops?: Partial<OpsConfig>; production?: boolean; log?: pino.Logger; limiter?: RateLimitStore; replay?: boolean } = {},
  ): Promise<Served> {
    const deps = { ...h.backend.runtime.deps, ...(o.log ? { log: o.log } : {}), ...(o.limiter ? { limiter: o.limiter } : {}) };
    const app = buildApp(deps, {
      verifier: createVerifier({ secret: TEST_SECRET }),
      security: loadSecurityConfig({ TRUST_PROXY: '1', ...o.env }, o.production ?? false),
      production: o.production,
      ops: o.ops ? { config: { ...defaultOpsConfig(), ...o.ops } } : undefined,
      fastPath: 'jit',
      fastPathReplay: o.replay,
    });
    apps.push(app);
    const base = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
    const stats = () => (app.server.listeners('request')[0] as unknown as { stats: FastPathStats }).stats;
    const yoga = (path: string, init?: RequestInit) => app.fetch(`http://test${path}`, init).then(answer);
    const fast = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init).then(answer);
    return {
      app,
      base,
      stats,
      yoga,
      fast,
      async same(init, path = '/graphql', taken = true) {
        const viaYoga = await yoga(path, init());
        const before = structuredClone(stats());
        const viaFast = await fast(path, init());
        expect(viaFast).toEqual(viaYoga);
        expect(stats().fast - before.fast).toBe(taken === true ? 1 : 0);
        if (taken !== true) expect((stats().handed[taken] ?? 0) - (before.handed[taken] ?? 0)).toBe(1);
        return viaFast;
      },
    };
  }

  const reservedUnits = async () =>
    Number(rowsOf<{ n: number }>(await h.backend.runtime.deps.db.execute(sql`select coalesce(sum(reserved_quantity), 0)::int as n from products`))[0].n);

  it('echoes the request id (or makes one) as Yoga does, and hands the resolvers the same id (the audit row records it)', async () => {
    const s = await served();
    const id = await onSale(3);
    const withId = (rid: string) => post({ query: INVENTORY, variables: { productId: id } }, undefined, { 'x-request-id': rid });
    const given = await fetch(`${s.base}/graphql`, withId('trace-fast-1'));
    expect(given.headers.get('x-request-id')).toBe('trace-fast-1');
    const long = 'r'.repeat(100);
    const [y, f] = [await s.app.fetch('http://test/graphql', withId(long)), await fetch(`${s.base}/graphql`, withId(long))];
    expect(f.headers.get('x-request-id')).toBe(y.headers.get('x-request-id'));
    expect(f.headers.get('x-request-id')).toBe('r'.repeat(64));
    const made = await fetch(`${s.base}/inventory/${id}`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // The context's request id is the echoed one: an admin mutation's audit row carries it.
    const pid = `audited-${backend.replace(/\W/g, '-')}`;
    const create = async (productId: string, rid: string) =>
      post(
        { query: `mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }`, variables: { i: { id: productId, name: 'Audited', priceAmount: 100, totalQuantity: 2, sale: { startsAt: clock.now().toISOString() } } } },
        undefined,
        { authorization: `Bearer ${await h.admin()}`, 'x-request-id': rid },
      );
    const before = s.stats().fast;
    const res = await fetch(`${s.base}/graphql`, await create(pid, `audit-${pid}`));
    expect((await res.json()).data.createProduct.id).toBe(pid);
    expect(s.stats().fast).toBe(before + 1);
    const rows = rowsOf<{ actor: string; action: string; target: string; outcome: string; request_id: string; details: any }>(
      await h.backend.runtime.deps.db.execute(sql`select actor, action, target, outcome, request_id, details from audit_log where target = ${pid}`),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: 'operator', action: 'mutation.createProduct', outcome: 'ok', request_id: `audit-${pid}` });
    expect(rows[0].details.arguments.input).toMatchObject({ id: pid, totalQuantity: 2 });
  });

  it('audits admin mutations as Yoga does, refused ones with their code', async () => {
    const s = await served();
    const id = await onSale(2);
    const count = async () =>
      Number(rowsOf<{ n: number }>(await h.backend.runtime.deps.db.execute(sql`select count(*)::int as n from audit_log where action = 'mutation.createProduct' and outcome = 'INVALID_INPUT'`))[0].n);
    const before = await count();
    const admin = await h.admin();
    // The product exists already: refused, through both paths, and audited by both.
    const dup = await s.same(() =>
      post({ query: `mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }`, variables: { i: { id, name: 'dup', priceAmount: 1, totalQuantity: 1, sale: { startsAt: clock.now().toISOString() } } } }, admin),
    );
    expect(dup.body.errors[0].extensions.code).toBe('INVALID_INPUT');
    expect(await count()).toBe(before + 2);
  });

  it('sheds reads and reserves the way Yoga does (same status, body, Retry-After), keeps checkout, and counts them', async () => {
    const s = await served({ ops: { shedding: true, shedMaxInFlight: 1, shedRetryAfterSeconds: 2 } });
    const id = await onSale(5);
    const t = await shopper('shed');
    const held = await h.gql(RESERVE, { input: { productId: id } }, t);
    const cartId = held.data.reserve.reservation.cartId;
    const rest = await s.same(() => ({ method: 'GET' }), `/inventory/${id}`);
    expect(rest.status).toBe(503);
    expect(rest.headers['retry-after']).toBe('2');
    expect(rest.body.error).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    const read = await s.same(() => post({ query: INVENTORY, variables: { productId: id } }));
    expect(read.headers['retry-after']).toBe('2');
    expect(read.body.errors[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true, retryAfterSeconds: 2 });
    expect(read.body.data).toBeUndefined();
    const other = await shopper('shed-other');
    const reserve = await s.same(() => post({ query: RESERVE, variables: { input: { productId: id } } }, other));
    expect(reserve.body.errors[0].extensions.code).toBe('UNAVAILABLE');
    // Checkout and pay are shed last: a lone checkout goes through, on the fast path.
    const before = s.stats().fast;
    const co = await s.fast('/graphql', post({ query: CHECKOUT, variables: { input: { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } } }, t));
    expect(co.body.data.checkout.__typename).toBe('CheckoutSuccess');
    expect(s.stats().fast).toBe(before + 1);
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 1, sold: 0 });
    const metrics = (await s.yoga('/metrics')).text;
    expect(metrics).toContain('flashsale_shed_requests_total{priority="read"} 4');
    expect(metrics).toContain('flashsale_shed_requests_total{priority="reserve"} 2');
    expect(metrics).toContain('flashsale_shed_requests_total{priority="critical"} 0');
    expect(metrics).toContain('flashsale_reserve_outcomes_total{outcome="SHED"} 2');
    expect(metrics).toContain('flashsale_in_flight_requests 0');
  });

  it('counts and logs fast-path requests like Yoga ones, with the security headers on every answer', async () => {
    const lines: any[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const s = await served({ ops: { requestLog: true }, log });
    const id = await onSale(1);
    await h.gql(RESERVE, { input: { productId: id } }, await shopper('buys-the-last'));
    const read = await s.same(() => post({ query: INVENTORY, variables: { productId: id } }));
    for (const [k, v] of Object.entries(securityHeaders(false))) expect(read.headers[k]).toBe(v);
    expect(read.headers['strict-transport-security']).toBeUndefined();
    const late = await shopper('late');
    expect((await s.same(() => post({ query: RESERVE, variables: { input: { productId: id } } }, late))).body.data.reserve.__typename).toBe('SoldOut');
    await s.same(() => ({ method: 'GET' }), `/inventory/${id}`);
    // Handed to Yoga (a syntax error): counted once, by Yoga.
    await s.same(() => post({ query: '{ inventory(' }), '/graphql', 'invalid');
    await fetch(`${s.base}/graphql`, post({ query: INVENTORY, variables: { productId: id } }, undefined, { 'x-request-id': 'log-me' }));
    const metrics = (await s.yoga('/metrics')).text;
    expect(metrics).toContain('flashsale_requests_total{operation="query inventory",outcome="ok"} 3');
    expect(metrics).toMatch(/flashsale_request_duration_seconds_count\{operation="query inventory"\} 3/);
    expect(metrics).toContain('flashsale_requests_total{operation="mutation reserve",outcome="ok"} 2');
    expect(metrics).toContain('flashsale_reserve_outcomes_total{outcome="SoldOut"} 2');
    expect(metrics).toContain('flashsale_requests_total{operation="REST inventory",outcome="ok"} 2');
    expect(metrics).toContain('flashsale_requests_total{operation="graphql",outcome="ok"} 2');
    expect(metrics).toContain('flashsale_in_flight_requests 0');
    const logged = lines.filter((l) => l.msg === 'request');
    expect(logged.filter((l) => l.operation === 'query inventory')).toHaveLength(3);
    expect(logged.find((l) => l.requestId === 'log-me')).toMatchObject({ method: 'POST', path: '/graphql', operation: 'query inventory', status: 200, outcome: 'ok' });
    expect(logged.filter((l) => l.operation === 'REST inventory').map((l) => l.path)).toEqual([`/inventory/${id}`, `/inventory/${id}`]);
  });

  describe('persisted operations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fs-fast-persisted-'));
    const file = join(dir, 'persisted-operations.json');
    const PRODUCTS = 'query Products { products { id name } }';
    writeFileSync(file, JSON.stringify({ [sha256(PRODUCTS)]: PRODUCTS, [sha256(RESERVE)]: RESERVE, [sha256(INVENTORY)]: INVENTORY }));

    it('PERSISTED_OPERATIONS=only: free text refused exactly as Yoga refuses it; ids, APQ hashes and manifest text run on the fast path', async () => {
      const s = await served({ env: { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: file } });
      const id = await onSale(4);
      const free = await s.same(() => post({ query: '{ products { id price { amount } } }' }));
      expect(free.status).toBe(400);
      expect(free.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_ONLY');
      const unknown = await s.same(() => post({ documentId: 'f'.repeat(64) }));
      expect(unknown.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
      const byId = await s.same(() => post({ documentId: sha256(INVENTORY), variables: { productId: id } }));
      expect(byId.body.data.inventory.availableQuantity).toBe(4);
      const byText = await s.same(() => post({ query: INVENTORY, variables: { productId: id } }));
      expect(byText.body).toEqual(byId.body);
      const t = await shopper('apq');
      const apq = await s.same(() => post({ variables: { input: { productId: 'no-such-product' } }, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(RESERVE) } } }, t));
      expect(apq.body.data.reserve.__typename).toBe('NotFound');
      // No query and no id: Yoga's refusal, handed over.
      expect((await s.same(() => post({}), '/graphql', 'body')).body.errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    });

    it('PERSISTED_OPERATIONS=allow: free text runs on the fast path, ids resolve', async () => {
      const s = await served({ env: { PERSISTED_OPERATIONS: 'allow', PERSISTED_OPERATIONS_FILE: file } });
      expect((await s.same(() => post({ query: '{ products { id price { amount } } }' }))).body.data.products).toBeInstanceOf(Array);
      expect((await s.same(() => post({ documentId: sha256(PRODUCTS) }))).body.data.products).toBeInstanceOf(Array);
    });
  });

  it('applies the GraphQL Armor limits: a document over one is handed to Yoga, which refuses it, and nothing runs', async () => {
    const id = await onSale(3);
    const t = await shopper('armor');
    const before = await reservedUnits();
    const cheap = await served({ env: { GRAPHQL_MAX_COST: '1000000' } });
    const eleven = Array.from({ length: 6 }).reduce<string>((inner) => `product { sale { ${inner} } }`, 'perUserLimit');
    const deep = await cheap.same(() => post({ query: `mutation($input: ReserveInput!) { reserve(input: $input) { ... on ReserveSuccess { reservation { ${eleven} } } } }`, variables: { input: { productId: id } } }, t), '/graphql', 'invalid');
    expect(deep.body.errors[0].message).toMatch(/depth/i);
    const s = await served();
    const aliases = Array.from({ length: 16 }, (_, i) => `a${i}: inventory(productId: "${id}") { soldOut }`).join(' ');
    expect((await s.same(() => post({ query: `{ ${aliases} }` }), '/graphql', 'invalid')).body.errors[0].message).toMatch(/aliases/i);
    const directives = Array.from({ length: 30 }, () => '@include(if: true)').join(' ');
    expect((await s.same(() => post({ query: `{ products { id ${directives} } }` }), '/graphql', 'invalid')).body.errors[0].message).toMatch(/directives/i);
    const many = Array.from({ length: 200 }, (_, i) => `a${i}: reserve(input: { productId: "${id}" }) { __typename }`).join(' ');
    expect((await s.same(() => post({ query: `mutation { ${many} }` }, t), '/graphql', 'invalid')).body.errors[0].message).toMatch(/token/i);
    const costly = await served({ env: { GRAPHQL_MAX_COST: '50' } });
    const fields = 'id name price { amount currency } sale { startsAt endsAt perUserLimit reservationTtlSeconds state } inventory { productId totalQuantity availableQuantity reservedQuantity soldQuantity soldOut updatedAt }';
    expect((await costly.same(() => post({ query: `{ a: products { ${fields} } b: products { ${fields} } c: products { ${fields} } }` }), '/graphql', 'invalid')).body.errors[0].message).toMatch(/cost/i);
    // Within every limit: answered by the fast path.
    await s.same(() => post({ query: `{ products { id } }` }));
    expect(await reservedUnits()).toBe(before);
  });

  it('in production: introspection off and field suggestions hidden, as Yoga does', async () => {
    const s = await served({ production: true });
    expect((await s.same(() => post({ query: '{ __schema { types { name } } }' }), '/graphql', 'invalid')).body.errors[0].message).toMatch(/introspection/i);
    const typo = await s.same(() => post({ query: '{ product { idd } }' }), '/graphql', 'invalid');
    expect(JSON.stringify(typo.body)).not.toMatch(/Did you mean/);
  });

  it('takes reads from the same read budget as Yoga: over it, the same 429 with Retry-After; mutations are not reads', async () => {
    const s = await served({ env: { RATE_LIMIT_READ_SHOPPER: '2/1m' } });
    const id = await onSale(1);
    await h.gql(RESERVE, { input: { productId: id } }, await shopper('first'));
    const t = await shopper('reader');
    const read = () => post({ query: INVENTORY, variables: { productId: id } }, t);
    expect((await s.fast('/graphql', read())).body.data.inventory.soldOut).toBe(true);
    const replayed = s.stats().replayed;
    expect((await s.fast('/graphql', read())).body.data.inventory.soldOut).toBe(true);
    // The second read was replayed from the first, and still took from the budget.
    expect(s.stats().replayed).toBe(replayed + 1);
    const limited = await s.same(read);
    expect(limited.status).toBe(429);
    expect(limited.body.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED' });
    expect(limited.headers['retry-after']).toBe(String(limited.body.errors[0].extensions.retryAfterSeconds));
    // The REST read shares the budget.
    const rest = await s.same(() => ({ method: 'GET', headers: { authorization: `Bearer ${t}` } }), `/inventory/${id}`);
    expect(rest.status).toBe(429);
    expect(rest.body.error.code).toBe('RATE_LIMITED');
    // A mutation is not a read.
    expect((await s.same(() => post({ query: RESERVE, variables: { input: { productId: id } } }, t))).body.data.reserve.__typename).toBe('SoldOut');
  });

  it('replays a remembered answer only while it holds: inventory while the stock snapshot stands, SoldOut while sold out and signed in', async () => {
    const s = await served();
    const id = await onSale(2);
    const until = async (what: string, check: () => Promise<boolean>) => {
      for (let i = 0; i < 100; i++) {
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect.fail(`timed out: ${what}`);
    };
    const read = () => post({ query: INVENTORY, variables: { productId: id } });
    const replayed = () => s.stats().replayed;

    // The first read computes the answer; the same bytes again are replayed, byte for byte what Yoga answers.
    expect((await s.same(read)).body.data.inventory.availableQuantity).toBe(2);
    let r = replayed();
    expect((await s.same(read)).body.data.inventory).toMatchObject({ availableQuantity: 2, reservedQuantity: 0, soldOut: false });
    expect(replayed()).toBe(r + 1);

    // The stock moves: the snapshot is replaced, and the next reads show the new count.
    const buyer = await shopper('replay-buyer');
    const held = await h.gql(RESERVE, { input: { productId: id } }, buyer);
    expect(held.data.reserve.__typename).toBe('ReserveSuccess');
    await until('the fast path shows the reservation', async () => (await s.fast('/graphql', read())).body.data.inventory.availableQuantity === 1);
    expect((await s.same(read)).body.data.inventory).toMatchObject({ availableQuantity: 1, reservedQuantity: 1 });

    // Sold out: one shopper's SoldOut is replayed to the next, and counted like any other.
    expect((await h.gql(RESERVE, { input: { productId: id } }, await shopper('replay-last'))).data.reserve.__typename).toBe('ReserveSuccess');
    const late = () => post({ query: RESERVE, variables: { input: { productId: id } } });
    const lateWith = (t: string) => ({ ...late(), headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` } });
    const t1 = await shopper('replay-late');
    await until('the process knows the product is sold out', async () => (await s.fast('/graphql', lateWith(t1))).body.data.reserve.__typename === 'SoldOut');
    r = replayed();
    const t2 = await shopper('replay-later');
    expect((await s.same(() => lateWith(t2))).body.data.reserve).toMatchObject({ __typename: 'SoldOut', productId: id });
    expect(replayed()).toBe(r + 1);
    // Not signed in, or a bad token: never the remembered SoldOut.
    r = replayed();
    expect((await s.same(late)).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await s.same(() => lateWith('not.a.token'))).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(replayed()).toBe(r);
    const metrics = (await s.yoga('/metrics')).text;
    expect(metrics).toMatch(/flashsale_reserve_outcomes_total\{outcome="SoldOut"\} [1-9]/);

    // Stock comes back (the first buyer lets go): the remembered SoldOut no longer holds.
    const released = await h.gql(`mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: held.data.reserve.reservation.id }, buyer);
    expect(released.data.releaseReservation.__typename).toBe('ReleaseSuccess');
    const t3 = await shopper('replay-after');
    await until('a reserve goes through again', async () => (await s.fast('/graphql', lateWith(t3))).body.data.reserve.__typename === 'ReserveSuccess');
    expect(await h.ledger(id)).toEqual({ total: 2, available: 0, reserved: 2, sold: 0 });

    // FAST_PATH_REPLAY=off: every request runs.
    const off = await served({ replay: false });
    expect((await off.same(read)).body.data.inventory.soldOut).toBe(true);
    expect((await off.same(read)).body.data.inventory.soldOut).toBe(true);
    expect(off.stats().replayed).toBe(0);
  });

  it("replays a keyed SoldOut for every fresh key (the SDK's reserves) after one key lookup; never for a key that was admitted", async () => {
    const s = await served();
    const id = await onSale(1);
    const replayed = () => s.stats().replayed;
    const keyed = (t: string | undefined, idempotencyKey: string) => () => post({ query: RESERVE, variables: { input: { productId: id, idempotencyKey } } }, t);
    const winner = await shopper('keyed-winner');
    const won = await s.fast('/graphql', keyed(winner, 'winner-key-1')());
    expect(won.body.data.reserve.__typename).toBe('ReserveSuccess');
    // The first keyed SoldOut is computed (and remembered under the body less its key).
    const t1 = await shopper('keyed-late');
    for (let i = 0; i < 100 && (await s.fast('/graphql', keyed(t1, `late-${i}`)())).body.data.reserve.__typename !== 'SoldOut'; i++) await new Promise((r) => setTimeout(r, 50));
    const gate = h.backend.runtime.deps.gate;
    const lookups = { n: 0 };
    const mayRepeat = gate.mayRepeat;
    gate.mayRepeat = (...args) => (lookups.n++, mayRepeat.apply(gate, args));
    try {
      // A fresh key from another shopper: the same answer as Yoga's, replayed after one lookup.
      let r = replayed();
      const t2 = await shopper('keyed-later');
      expect((await s.same(keyed(t2, 'fresh-key-0001'))).body.data.reserve).toMatchObject({ __typename: 'SoldOut', productId: id });
      expect(replayed()).toBe(r + 1);
      const asked = lookups.n;
      expect((await s.fast('/graphql', keyed(t2, 'fresh-key-0002')())).body.data.reserve.__typename).toBe('SoldOut');
      expect(replayed()).toBe(r + 2);
      expect(lookups.n).toBe(asked + 1);
      // The winner's retry with its key: its reservation, not the remembered SoldOut.
      r = replayed();
      const again = await s.fast('/graphql', keyed(winner, 'winner-key-1')());
      expect(again.body.data.reserve.__typename).toBe('ReserveSuccess');
      expect(again.body.data.reserve.reservation.id).toBe(won.body.data.reserve.reservation.id);
      expect(replayed()).toBe(r);
      // The same key from another shopper was never theirs: SoldOut, replayed.
      expect((await s.fast('/graphql', keyed(t2, 'winner-key-1')())).body.data.reserve.__typename).toBe('SoldOut');
      expect(replayed()).toBe(r + 1);
      // A bad key, no token, a bad token: computed (the same answers as Yoga's), never replayed.
      r = replayed();
      expect((await s.same(keyed(t2, 'x'.repeat(129)))).body.data.reserve).toMatchObject({ __typename: 'InvalidInput', field: 'idempotencyKey' });
      expect((await s.same(keyed(t2, 'has space'))).body.data.reserve).toMatchObject({ __typename: 'InvalidInput', field: 'idempotencyKey' });
      expect((await s.same(keyed(undefined, 'fresh-key-0003'))).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect((await s.same(keyed('not.a.token', 'fresh-key-0004'))).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(replayed()).toBe(r);
      // The lookup fails: not replayed; the full path answers (the gate's script refuses it).
      gate.mayRepeat = () => Promise.reject(new Error('read failed'));
      expect((await s.fast('/graphql', keyed(t2, 'fresh-key-0005')())).body.data.reserve.__typename).toBe('SoldOut');
      expect(replayed()).toBe(r);
    } finally {
      gate.mayRepeat = mayRepeat;
    }
    // Stock comes back: a fresh key takes the unit.
    const released = await h.gql(`mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: won.body.data.reserve.reservation.id }, winner);
    expect(released.data.releaseReservation.__typename).toBe('ReleaseSuccess');
    const t3 = await shopper('keyed-after');
    let got = '';
    for (let i = 0; i < 100 && got !== 'ReserveSuccess'; i++) {
      got = (await s.fast('/graphql', keyed(t3, `after-${i}`)())).body.data.reserve.__typename;
      if (got !== 'ReserveSuccess') await new Promise((r) => setTimeout(r, 50));
    }
    expect(got).toBe('ReserveSuccess');
    expect(await h.ledger(id)).toEqual({ total: 1, available: 0, reserved: 1, sold: 0 });
  });

  it('answers reads whose rate-limit store is down as Yoga does: a retryable UNAVAILABLE, for GraphQL and REST', async () => {
    const own = await ownRedis();
    const client = new Redis(own.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    client.on('error', () => {});
    await new Promise((ready) => client.once('ready', ready));
    try {
      const s = await served({ env: { RATE_LIMIT_READ_SHOPPER: '100/1m' }, limiter: new RedisRateLimitStore(client, 'fast-path-down:') });
      const id = await onSale(5);
      const t = await shopper('stranded');
      const read = () => post({ query: INVENTORY, variables: { productId: id } }, t);
      const up = await s.same(read);
      expect(up.body.data?.inventory.availableQuantity, JSON.stringify(up.body)).toBe(5);
      await own.kill();
      const down = await s.same(read);
      expect(down.body.errors[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
      const rest = await s.same(() => ({ method: 'GET', headers: { authorization: `Bearer ${t}`, 'x-request-id': 'store-down-1' } }), `/inventory/${id}`);
      expect(rest.status).toBe(503);
      expect(rest.body.error.code).toBe('UNAVAILABLE');
    } finally {
      client.disconnect();
      await own.kill();
    }
  });

  it('gives the resolvers the client IP as Yoga does: X-Forwarded-For behind a trusted proxy, else the socket address', async () => {
    // Every bucket starts afresh an hour later.
    clock.advance(3_600_000);
    const proxied = await served({ env: { RATE_LIMIT_READ_IP: '2/1h', RATE_LIMIT_RESERVE_IP: '1/1h' } });
    const id = await onSale(5);
    const ip = backend === 'embedded' ? '198.51.100.7' : '198.51.100.8';
    const from = (addr: string, token?: string, body: unknown = { query: INVENTORY, variables: { productId: id } }) => post(body, token, { 'x-forwarded-for': addr });
    expect((await proxied.fast('/graphql', from(`203.0.113.1, ${ip}`))).status).toBe(200);
    expect((await proxied.fast('/graphql', from(ip))).status).toBe(200);
    // The third read from that IP (the rightmost, added by the trusted proxy): refused on both paths (one bucket, one key).
    expect((await proxied.same(() => from(ip))).status).toBe(429);
    expect((await proxied.fast('/graphql', from('198.51.100.99'))).status).toBe(200);
    // The reserve guard (security.reserve) sees the same IP: one reserve per IP per hour.
    const reserveFrom = async (addr: string, stem: string) =>
      (await proxied.fast('/graphql', from(addr, await shopper(stem), { query: RESERVE, variables: { input: { productId: id } } }))).body.data.reserve.__typename;
    expect(await reserveFrom(ip, 'ip-a')).toBe('ReserveSuccess');
    expect(await reserveFrom(ip, 'ip-b')).toBe('RateLimited');
    expect(await reserveFrom('198.51.100.98', 'ip-c')).toBe('ReserveSuccess');
    // No trusted proxy: the header is the client's to forge; the socket address counts.
    clock.advance(3_600_000);
    const direct = await served({ env: { TRUST_PROXY: '0', RATE_LIMIT_READ_IP: '1/1h' } });
    expect((await direct.fast('/graphql', from('192.0.2.1'))).status).toBe(200);
    expect((await direct.fast('/graphql', from('192.0.2.2'))).status).toBe(429);
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

  it("takes a token's exp from the verifier's actor, and from the token itself when a verifier does not say it", async () => {
    let clock = Date.now();
    const inner = createVerifier({ secret: TEST_SECRET });
    const token = await signToken(TEST_SECRET, { sub: 'shopper-2', expiresIn: '10s' });
    const exp = (await inner.verify(token)).expiresAtMs!;
    expect(Math.abs(exp - (Date.now() + 10_000))).toBeLessThan(2_000);
    for (const says of [true, false]) {
      let calls = 0;
      const verifier = { verify: async (t: string) => (calls++, says ? inner.verify(t) : { ...(await inner.verify(t)), expiresAtMs: undefined }) };
      const v = cachedVerifier(verifier, { ttlMs: 30_000, now: () => clock });
      expect(await v.verify(token)).toMatchObject({ userId: 'shopper-2', roles: [] });
      clock = exp - 1;
      await v.verify(token);
      expect(calls).toBe(1);
      clock = exp; // at its exp: verified again, whoever said when it ends
      await v.verify(token).catch(() => undefined);
      expect(calls).toBe(2);
      clock = Date.now();
    }
  });
});

describe('performance settings', () => {
  it('reads FAST_PATH, TOKEN_CACHE_MS, WORKERS and REDIS_PREFIX, and refuses what cannot work', async () => {
    const { loadConfig } = await import('../src/config.js');
    const real = { DATABASE_URL: 'postgres://localhost/x', REDIS_URL: 'redis://localhost:6379' };
    // The fast path is the default; FAST_PATH=off sends everything through Yoga.
    expect(loadConfig({})).toMatchObject({ fastPath: 'jit', fastPathReplay: true, fastPathWarm: true, tokenCacheMs: 30_000, workers: 1, redisPrefix: 'fs:' });
    expect(loadConfig({ FAST_PATH_REPLAY: 'off' }).fastPathReplay).toBe(false);
    expect(() => loadConfig({ FAST_PATH_REPLAY: 'maybe' })).toThrow(/FAST_PATH_REPLAY/);
    expect(loadConfig({ FAST_PATH_WARM: 'off' }).fastPathWarm).toBe(false);
    expect(() => loadConfig({ FAST_PATH_WARM: 'later' })).toThrow(/FAST_PATH_WARM/);
    expect(loadConfig({ FAST_PATH: 'graphql-js' }).fastPath).toBe('graphql-js');
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
