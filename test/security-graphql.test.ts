// GraphQL abuse limits, persisted operations, the guard on every field, the audit log
// and the security headers. Parse and validation rules do not depend on the backend:
// the embedded default is enough.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { getNamedType, type GraphQLNamedType, isInterfaceType, isObjectType, isUnionType } from 'graphql';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rowsOf } from '../src/adapters/db/client.js';
import { schema } from '../src/schema/index.js';
import { buildManifest } from '../src/security/manifest.js';
import { sha256 } from '../src/security/plugins.js';
import { type Harness, harness, RESERVE } from './support/harness.js';
import { securedApp } from './support/security.js';

let h: Harness;
beforeAll(async () => {
  h = await harness('embedded');
}, 180_000); // PGlite start-up is slow on a loaded machine
afterAll(async () => {
  await h?.close();
});

const reservedCount = async () =>
  Number(rowsOf<{ n: number }>(await h.backend.runtime.deps.db.execute(sql`select count(*)::int as n from reservations`))[0].n);

describe('abuse limits, refused before execution', () => {
  it('refuses a depth-50 query', async () => {
    const s = securedApp(h, {});
    const { id } = await h.product();
    // 50 levels of nesting, the way an attacker sends it (the shape need not even be valid).
    const body = Array.from({ length: 50 }).reduce<string>((inner) => `reservation { product { ${inner} } }`, 'id');
    const t = await h.token('deep');
    const res = await s.gql(`mutation($input: ReserveInput!) { reserve(input: $input) { ... on ReserveSuccess { ${body} } } }`, { input: { productId: id } }, t);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors.map((e: { message: string }) => e.message).join(' ')).toMatch(/depth|cost/i);
    expect(await reservedCount()).toBe(0);
    // Just past the depth limit (10), cheap enough for the cost limit: refused for its depth.
    const eleven = Array.from({ length: 6 }).reduce<string>((inner) => `product { sale { ${inner} } }`, 'perUserLimit');
    const res11 = await securedApp(h, { GRAPHQL_MAX_COST: '1000000' }).gql(`mutation($input: ReserveInput!) { reserve(input: $input) { ... on ReserveSuccess { ${eleven} } } }`, { input: { productId: id } }, t);
    expect(res11.body.errors.map((e: { message: string }) => e.message).join(' ')).toMatch(/depth/i);
    expect(await reservedCount()).toBe(0);
  });

  it('refuses a 1,000-alias query', async () => {
    const s = securedApp(h, { GRAPHQL_MAX_TOKENS: '100000' });
    const { id } = await h.product();
    const t = await h.token('aliases');
    const fields = Array.from({ length: 1000 }, (_, i) => `a${i}: reserve(input: { productId: "${id}" }) { __typename }`).join('\n');
    const res = await s.gql(`mutation { ${fields} }`, {}, t);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors[0].message).toMatch(/aliases/i);
    expect(await reservedCount()).toBe(0);
    // With the default token limit the same document is refused even earlier, at parse time.
    const early = await securedApp(h, {}).gql(`mutation { ${fields} }`, {}, t);
    expect(early.body.errors[0].message).toMatch(/token/i);
    expect(await reservedCount()).toBe(0);
  });

  it('refuses too many directives and too costly queries', async () => {
    const s = securedApp(h, { GRAPHQL_MAX_COST: '50' });
    const directives = Array.from({ length: 30 }, () => '@include(if: true)').join(' ');
    const d = await s.gql(`{ products { id ${directives} } }`);
    expect(d.body.errors[0].message).toMatch(/directives/i);
    const fields = 'id name price { amount currency } sale { startsAt endsAt perUserLimit reservationTtlSeconds state } inventory { productId totalQuantity availableQuantity reservedQuantity soldQuantity soldOut updatedAt }';
    const c = await s.gql(`{ a: products { ${fields} } b: products { ${fields} } c: products { ${fields} } }`);
    expect(c.body.errors[0].message).toMatch(/cost/i);
    expect((await s.gql(`{ products { id } }`)).body.data.products).toBeInstanceOf(Array);
  });

  it('bounds batched requests', async () => {
    const s = securedApp(h, { GRAPHQL_MAX_BATCH: '3' });
    const send = (n: number) =>
      s.app.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(Array.from({ length: n }, () => ({ query: '{ products { id } }' }))),
      });
    const ok = await send(3);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toHaveLength(3);
    const tooMany = await send(4);
    expect(tooMany.status).toBeGreaterThanOrEqual(400);
    expect(JSON.stringify(await tooMany.json())).toMatch(/batch/i);
  });

  it('bounds the request body: 1 MiB by default (Yoga alone allows 25 MB), GRAPHQL_MAX_BODY_BYTES to change it, on a real port through the fast path too', async () => {
    // Whitespace between JSON fields: a valid request of the given size.
    const body = (bytes: number) => `{"query":"{ products { id } }",${' '.repeat(bytes)}"variables":{}}`;
    const post = (base: string, bytes: number) => fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(bytes) });
    const byDefault = securedApp(h, {});
    const wider = securedApp(h, { GRAPHQL_MAX_BODY_BYTES: String(4 * 1024 * 1024) });
    const narrow = securedApp(h, { GRAPHQL_MAX_BODY_BYTES: '2048' });
    try {
      const [a, b, c] = await Promise.all([byDefault, wider, narrow].map(async (x) => `http://127.0.0.1:${await x.app.start(0, '127.0.0.1')}`));
      const refused = await post(a, 2 * 1024 * 1024);
      expect(refused.status).toBe(413);
      expect((await refused.json()).errors[0].extensions.code).toBe('REQUEST_ENTITY_TOO_LARGE');
      expect((await (await post(a, 512 * 1024)).json()).data.products).toBeInstanceOf(Array);
      expect((await (await post(b, 2 * 1024 * 1024)).json()).data.products).toBeInstanceOf(Array);
      // Under the fast path's own 64 KiB, the narrower limit still holds.
      expect((await post(c, 4096)).status).toBe(413);
      expect((await (await post(c, 100)).json()).data.products).toBeInstanceOf(Array);
    } finally {
      await Promise.all([byDefault, wider, narrow].map((x) => x.app.stop()));
    }
    expect(() => securedApp(h, { GRAPHQL_MAX_BODY_BYTES: '100' })).toThrow(/GRAPHQL_MAX_BODY_BYTES/);
  });

  it('turns introspection off in production (and keeps it in development)', async () => {
    const prod = securedApp(h, {}, true);
    const r = await prod.gql('{ __schema { types { name } } }');
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors[0].message).toMatch(/introspection/i);
    const dev = securedApp(h, {});
    expect((await dev.gql('{ __schema { queryType { name } } }')).body.data.__schema.queryType.name).toBe('Query');
  });
});

describe('persisted operations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fs-persisted-'));
  const file = join(dir, 'persisted-operations.json');
  const PRODUCTS = 'query Products { products { id name } }';
  writeFileSync(file, JSON.stringify({ [sha256(PRODUCTS)]: PRODUCTS, [sha256(RESERVE)]: RESERVE }));

  it('PERSISTED_OPERATIONS=only runs manifest operations by id or exact text, and nothing else', async () => {
    const s = securedApp(h, { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: file });
    const { id } = await h.product();
    const byId = await s.app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documentId: sha256(PRODUCTS) }),
    });
    expect((await byId.json()).data.products.some((p: { id: string }) => p.id === id)).toBe(true);
    const apq = await s.app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await h.token('persisted')}` },
      body: JSON.stringify({ variables: { input: { productId: id } }, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(RESERVE) } } }),
    });
    expect((await apq.json()).data.reserve.__typename).toBe('ReserveSuccess');
    expect((await s.gql(PRODUCTS)).body.data.products).toBeInstanceOf(Array);
    const free = await s.gql('{ products { id price { amount } } }');
    expect(free.status).toBe(400);
    expect(free.body.errors[0].extensions.code).toBe('PERSISTED_QUERY_ONLY');
    const unknown = await s.app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documentId: 'f'.repeat(64) }),
    });
    expect((await unknown.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('builds the manifest from client .graphql files (operations with their fragments) and serves only those', async () => {
    const ops = `fragment Inv on Inventory { availableQuantity soldOut }
      query ProductPage($id: ID!) { product(id: $id) { id name inventory { ...Inv } } }`;
    const built = buildManifest([{ file: 'web/product.graphql', text: ops }]);
    const [[hash, text]] = Object.entries(built);
    expect(text).toMatch(/query ProductPage[\s\S]*fragment Inv on Inventory/);
    expect(hash).toBe(sha256(text));
    expect(() => buildManifest([{ file: 'bad.graphql', text: 'query Bad { nope }' }])).toThrow(/bad.graphql Bad/);
    const builtFile = join(dir, 'built.json');
    writeFileSync(builtFile, JSON.stringify(built));
    const s = securedApp(h, { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: builtFile });
    const { id } = await h.product({ totalQuantity: 4 });
    const res = await s.app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ documentId: hash, variables: { id } }),
    });
    expect((await res.json()).data.product.inventory).toEqual({ availableQuantity: 4, soldOut: false });
  });

  it('holds over graphql-ws too: free text refused, a manifest operation streams', async () => {
    const STOCK = 'subscription Stock($id: ID!) { stockChanged(productId: $id) { availableQuantity } }';
    const wsFile = join(dir, 'ws.json');
    writeFileSync(wsFile, JSON.stringify({ [sha256(STOCK)]: STOCK }));
    const s = securedApp(h, { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: wsFile });
    const port = await s.app.start(0, '127.0.0.1');
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    const first = (query: string, variables: Record<string, unknown>) =>
      new Promise<any>((resolve) => {
        const stop = client.subscribe({ query, variables }, {
          next: (v) => { stop(); resolve(v); },
          error: (e) => resolve({ errors: Array.isArray(e) ? e : [e] }),
          complete: () => {},
        });
      });
    try {
      const { id } = await h.product({ totalQuantity: 6 });
      const free = await first('subscription { stockChanged(productId: "x") { soldOut } }', {});
      expect(JSON.stringify(free.errors)).toMatch(/persisted/i);
      const ok = await first(STOCK, { id });
      expect(ok.data.stockChanged.availableQuantity).toBe(6);
    } finally {
      await client.dispose();
      await s.app.stop();
    }
  });

  it('PERSISTED_OPERATIONS=allow resolves ids and still accepts free text', async () => {
    const s = securedApp(h, { PERSISTED_OPERATIONS: 'allow', PERSISTED_OPERATIONS_FILE: file });
    expect((await s.gql('{ products { id price { amount } } }')).body.data.products).toBeInstanceOf(Array);
  });

  it('refuses to start without a readable manifest', () => {
    expect(() => securedApp(h, { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: join(dir, 'missing.json') })).toThrow(/PERSISTED_OPERATIONS_FILE/);
    expect(() => securedApp(h, { PERSISTED_OPERATIONS: 'only' })).toThrow(/PERSISTED_OPERATIONS_FILE/);
  });
});

describe('every field has its guard', () => {
  /** Root fields anyone may use; everything else needs a signed-in shopper or an admin. */
  const PUBLIC = new Set(['Query.products', 'Query.product', 'Query.inventory', 'Subscription.stockChanged']);
  const ADMIN = new Set(['Mutation.createProduct']);

  const guardOf = (f: { extensions?: unknown }) =>
    (f.extensions as { pothosOptions?: { authScopes?: Record<string, boolean> } } | undefined)?.pothosOptions?.authScopes;

  it('walks the schema: public roots are the listed few, every other root field is guarded', () => {
    const seen: string[] = [];
    for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
      for (const [name, field] of Object.entries(root!.getFields())) {
        const key = `${root!.name}.${name}`;
        seen.push(key);
        const scopes = guardOf(field);
        if (PUBLIC.has(key)) {
          expect(scopes, `${key} is public`).toBeUndefined();
        } else if (ADMIN.has(key) || (scopes && scopes.admin && !scopes.shopper)) {
          expect(scopes, `${key} needs admin`).toEqual({ admin: true });
        } else {
          expect(scopes, `${key} must declare authScopes (shopper or admin)`).toEqual({ shopper: true });
        }
      }
    }
    for (const p of [...PUBLIC, ...ADMIN]) expect(seen).toContain(p);
  });

  it('type fields carry no guard of their own: they are reached only through a guarded or public root', () => {
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__') || ['Query', 'Mutation', 'Subscription'].includes(type.name)) continue;
      for (const [name, field] of Object.entries(type.getFields())) expect(guardOf(field), `${type.name}.${name}`).toBeUndefined();
    }
  });

  it('nothing reachable from a public root carries personal data (an address, email or phone)', () => {
    const personal = /address|email|phone/i;
    /** Every type a client can reach from these root fields. */
    const reach = (keys: Iterable<string>) => {
      const reached = new Set<string>();
      const visit = (t: GraphQLNamedType) => {
        if (reached.has(t.name)) return;
        reached.add(t.name);
        if (isObjectType(t) || isInterfaceType(t)) for (const f of Object.values(t.getFields())) visit(getNamedType(f.type));
        if (isUnionType(t)) for (const m of t.getTypes()) visit(m);
      };
      for (const key of keys) {
        const [root, field] = key.split('.');
        const type = root === 'Query' ? schema.getQueryType() : root === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType();
        visit(getNamedType(type!.getFields()[field].type));
      }
      return reached;
    };
    const pub = reach(PUBLIC);
    expect(pub).toContain('Product');
    for (const name of pub) {
      expect(name, `${name} is public`).not.toMatch(personal);
      const t = schema.getType(name);
      if (isObjectType(t)) for (const f of Object.keys(t.getFields())) expect(`${name}.${f}`).not.toMatch(personal);
    }
    // The walk can fail: the operators' export reaches a shipping address.
    expect(reach(['Query.paidOrders'])).toContain('ShippingAddress');
  });

  it('answers UNAUTHENTICATED without a token and FORBIDDEN to a shopper on admin fields', async () => {
    const anon = await h.gql('{ cart { id } }');
    expect(anon.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    const exp = await h.gql('{ exportMyData }');
    expect(exp.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    const erase = await h.gql('mutation { eraseMyData { pseudonym } }');
    expect(erase.errors![0].extensions.code).toBe('UNAUTHENTICATED');
    const shopper = await h.token('not-an-admin');
    const create = await h.gql(
      `mutation { createProduct(input: { name: "x", priceAmount: 1, totalQuantity: 1, sale: { startsAt: "2026-01-01T00:00:00Z" } }) { id } }`,
      {},
      shopper,
    );
    expect(create.errors![0].extensions.code).toBe('FORBIDDEN');
  });
});

describe('audit log and headers', () => {
  it('writes who did what for every admin mutation, with the outcome', async () => {
    const before = Date.now() - 1000;
    const { id } = await h.product({ name: 'Audited drop' });
    const rows = rowsOf<{ actor: string; action: string; target: string; outcome: string; details: any; at: Date }>(
      await h.backend.runtime.deps.db.execute(sql`select actor, action, target, outcome, details, at from audit_log where target = ${id}`),
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ actor: 'operator', action: 'mutation.createProduct', target: id, outcome: 'ok' });
    expect(rows[0].details.arguments.input).toMatchObject({ id, totalQuantity: 100 });
    expect(new Date(rows[0].at).getTime()).toBeGreaterThan(before);
    // A refused admin mutation is audited too, with its error code.
    const dup = await h.gql(`mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }`, {
      i: { id, name: 'dup', priceAmount: 1, totalQuantity: 1, sale: { startsAt: new Date().toISOString() } },
    }, await h.admin());
    expect(dup.errors![0].extensions.code).toBe('INVALID_INPUT');
    const all = rowsOf<{ outcome: string }>(
      await h.backend.runtime.deps.db.execute(sql`select outcome from audit_log where action = 'mutation.createProduct' and outcome <> 'ok'`),
    );
    expect(all.map((r) => r.outcome)).toContain('INVALID_INPUT');
  });

  it('sets security headers on GraphQL, REST and health responses; no HSTS without TLS', async () => {
    const s = securedApp(h, {});
    const { id } = await h.product();
    for (const res of [
      await s.app.fetch('http://test/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ products { id } }"}' }),
      await s.app.fetch(`http://test/inventory/${id}`),
      await s.app.fetch('http://test/health'),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBe("frame-ancestors 'none'");
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });
});
