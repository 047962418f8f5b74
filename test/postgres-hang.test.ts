// A Postgres that stops answering (SIGSTOP on a cluster of our own: its connections stay open, as
// with a hung server or a partition that sends no reset). Before the watchdog a reserve waited
// for it with no end; the 20 s bounds here only turn a hang into a failure.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createVerifier, signToken } from '../src/auth.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { quietLog, REDIS_URL, uniqueName } from './support/backends.js';
import { RESERVE, TEST_SECRET } from './support/harness.js';
import { type OwnPostgres, ownPostgres, waitFor } from './support/servers.js';
import { Redis } from 'ioredis';

const within20s = <T>(p: Promise<T>) => Promise.race([p, new Promise<string>((r) => setTimeout(() => r('no answer in 20 s'), 20_000))]);

describe('Postgres not answering', () => {
  let pg: OwnPostgres;
  let runtime: Runtime;
  let admin: postgres.Sql;
  let spy: Redis;
  const prefix = `${uniqueName('fspg')}:`;
  let gql: (query: string, variables: unknown, sub: string, roles?: string[]) => Promise<any>;
  let app: ReturnType<typeof buildApp>;

  beforeAll(async () => {
    pg = await ownPostgres();
    runtime = await createRuntime(
      { databaseUrl: pg.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent', ops: { gateFallback: 'postgres', postgresTimeoutMs: 1000 } },
      { log: quietLog, redisPrefix: prefix },
    );
    app = buildApp(runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }) });
    gql = async (query, variables, sub, roles = []) => {
      const tok = await signToken(TEST_SECRET, { sub, roles });
      const res = await app.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify({ query, variables }),
      });
      return res.json();
    };
    admin = postgres(pg.url, { max: 2, onnotice: () => {} });
    spy = new Redis(REDIS_URL);
  }, 60_000);
  afterAll(async () => {
    pg?.resume();
    await runtime?.close().catch(() => {});
    await admin?.end({ timeout: 1 });
    spy?.disconnect();
    await pg?.destroy();
  });

  it('cuts the waiting reserve with an answer that says to retry with its key, fails new requests at once, and the retry finds the reservation the server stored when it woke', async () => {
    const productId = 'hung-pg';
    const created = await gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id: productId, name: 'x', priceAmount: 100, currency: 'USD', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2, reservationTtlSeconds: 300 } } },
      'op',
      ['admin'],
    );
    expect(created.errors).toBeUndefined();
    expect((await gql(RESERVE, { input: { productId } }, 'before')).data.reserve.__typename).toBe('ReserveSuccess');

    // The reserve's statements and COMMIT reach the server and wait there on the product row,
    // which another session holds; then the server stops answering.
    const holder = await admin.reserve();
    await holder`begin`;
    await holder`select 1 from products where id = ${productId} for update`;
    const key = 'doubt-key-1';
    const doubtful = gql(RESERVE, { input: { productId, idempotencyKey: key } }, 'doubt');
    await waitFor(
      async () => (await admin`select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '%with attempt as%'`).length > 0,
      'the reserve to wait on the product row',
      10_000,
      20,
    );
    pg.pause();
    let answer: any;
    let unkeyed: any;
    let cart: any;
    let rest: any;
    let ready: number;
    let metrics: string;
    try {
      answer = await within20s(doubtful);
      expect(runtime.deps.postgres?.unresponsive).toBe(true);
      // While it answers nothing: refused at once, before the gate, and every read that needs it.
      unkeyed = await within20s(gql(RESERVE, { input: { productId } }, 'meanwhile'));
      cart = await within20s(gql(`{ cart { id } }`, {}, 'before'));
      const restReserve = await app.fetch('http://test/reserve-inventory', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await signToken(TEST_SECRET, { sub: 'rest' })}` },
        body: JSON.stringify({ product_id: productId }),
      });
      rest = { status: restReserve.status, retryAfter: restReserve.headers.get('retry-after'), body: await restReserve.json() };
      ready = (await app.fetch('http://test/ready')).status;
      metrics = await (await app.fetch('http://test/metrics')).text();
    } finally {
      pg.resume();
    }
    expect(answer.errors?.[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(answer.errors[0].message).toMatch(/same idempotencyKey/);
    expect(unkeyed.errors?.[0]).toMatchObject({ message: expect.stringMatching(/not answering; nothing was reserved/), extensions: { code: 'UNAVAILABLE', retryable: true } });
    expect(cart.errors?.[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(rest).toMatchObject({ status: 503, retryAfter: '2', body: { error: { code: 'UNAVAILABLE', message: expect.stringMatching(/not answering; nothing was reserved/) } } });
    expect(ready).toBe(503);
    expect(metrics).toMatch(/^flashsale_postgres_answering 0$/m);
    expect(metrics).toMatch(/^flashsale_postgres_unresponsive_total 1$/m);
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('3'); // 'doubt' still admitted; 'meanwhile' never was

    // Awake: the held row is released, and the cut reserve's statements, already there, commit.
    await holder`commit`;
    holder.release();
    await waitFor(async () => (await admin`select 1 from reservations where idempotency_key = ${key}`).length === 1, 'the cut reserve to be stored', 10_000);
    await waitFor(() => runtime.deps.postgres?.unresponsive === false, 'the watchdog to see Postgres answer', 10_000);

    // The retry with the key answers with that reservation: counted once, in Postgres and the gate.
    const retry = await gql(RESERVE, { input: { productId, idempotencyKey: key } }, 'doubt');
    expect(retry.data.reserve.__typename).toBe('ReserveSuccess');
    const [stored] = await admin`select id from reservations where user_id = 'doubt'`;
    expect(retry.data.reserve.reservation.id).toBe(stored.id);
    expect(await admin`select id from reservations where user_id = 'doubt'`).toHaveLength(1);
    const [product] = await admin`select available_quantity from products where id = ${productId}`;
    expect(product.available_quantity).toBe(3);
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('3');
    // And requests are served as before.
    expect((await gql(RESERVE, { input: { productId } }, 'after')).data.reserve.__typename).toBe('ReserveSuccess');
    expect(await (await app.fetch('http://test/metrics')).text()).toMatch(/^flashsale_postgres_answering 1$/m);
  }, 90_000);
});
