// The Redis event bus tells caches to re-read the truth after events may have been missed:
// on its own reconnect (only once the re-subscription is acknowledged), and when another
// process had to deliver its events locally because its publisher was not connected.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DegradingEventBus } from '../src/adapters/pubsub/degrading.js';
import { RedisEventBus } from '../src/adapters/pubsub/redis.js';
import type { InventorySnapshot } from '../src/domain/events.js';
import { sql } from 'drizzle-orm';
import { rowsOf } from '../src/adapters/db/client.js';
import { reserve } from '../src/domain/cart/reserve.js';
import { RetryableError } from '../src/domain/context.js';
import type { ResilientGate } from '../src/domain/gate/resilient.js';
import { createProduct } from '../src/domain/inventory/products.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { quietLog, scratchDatabase, uniqueName } from './support/backends.js';
import { type OwnRedis, ownRedis, silentCutProxy, waitFor as waitUntil } from './support/servers.js';

const waitFor = (cond: () => boolean | Promise<boolean>) => waitUntil(cond, 'the processes to catch up', 20_000, 20);
const admin = { userId: 'operator', roles: ['admin'] };
const shopper = (userId: string) => ({ userId, roles: [] });
const snapshot = (productId: string, availableQuantity: number, version: number): InventorySnapshot => ({
  productId,
  totalQuantity: 1,
  availableQuantity,
  reservedQuantity: 0,
  soldQuantity: 1 - availableQuantity,
  version,
  updatedAt: new Date().toISOString(),
});

describe('event bus resync on a private Redis', () => {
  let redis: OwnRedis;
  const clients: Redis[] = [];
  const client = (opts: { lazyConnect?: boolean } = {}) => {
    const c = new Redis(redis.url, { retryStrategy: () => 50, lazyConnect: opts.lazyConnect ?? false });
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    redis = await ownRedis();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await redis?.kill();
  });

  // Resync waits for a PING sent behind the re-subscription; that the subscription is counted
  // here holds with or without the wait (Redis takes the SUBSCRIBE before this probe's NUMSUB),
  // so this checks the outcome, not the ordering the PING guarantees.
  it('after a reconnect, resync runs with the subscription in place', async () => {
    const prefix = `${uniqueName('rs')}:`;
    const sub = client();
    const bus = new RedisEventBus(client(), sub, prefix);
    await bus.listen('stock', () => {});
    const seen: number[] = [];
    bus.onResync(() => {
      // Counted by Redis at the moment the caches would re-read.
      void probe.pubsub('NUMSUB', `${prefix}events:stock`).then((r) => seen.push(Number((r as unknown[])[1])));
    });
    const probe = client();
    await redis.kill();
    await redis.start();
    await waitFor(() => seen.length > 0);
    expect(seen[0]).toBe(1);
    await bus.close();
  }, 60_000);

  it('a process whose publisher was down asks the others to re-read once it is back, and only then', async () => {
    const prefix = `${uniqueName('rs')}:`;
    const a = new RedisEventBus(client(), client(), prefix);
    await a.listen('stock', () => {});
    let resyncs = 0;
    a.onResync(() => resyncs++);

    // B's publisher is not connected (its reconnect lags the others'): its event stays local.
    const pubB = client({ lazyConnect: true });
    const rawB = new RedisEventBus(pubB, client(), prefix);
    const b = new DegradingEventBus(rawB, pubB);
    const localB: InventorySnapshot[] = [];
    const seenA: InventorySnapshot[] = [];
    await a.listen('stock', (s) => seenA.push(s));
    await b.listen('stock', (s) => localB.push(s));
    await b.publish('stock', 'p1', snapshot('p1', 0, 2));
    expect(localB).toHaveLength(1);
    expect(b.localOnly).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(seenA).toHaveLength(0);
    expect(resyncs).toBe(0);

    // B's publisher is back: A is told to re-read (B is not: it missed nothing).
    let resyncsB = 0;
    b.onResync(() => resyncsB++);
    await pubB.connect();
    await waitFor(() => resyncs === 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(resyncs).toBe(1);
    expect(resyncsB).toBe(0);

    // Connected, B publishes normally: no further resync.
    await b.publish('stock', 'p1', snapshot('p1', 1, 3));
    await waitFor(() => seenA.length === 1);
    expect(resyncs).toBe(1);
    await b.close();
    await a.close();
  }, 60_000);
});

describe('a process started while Redis is unreachable', () => {
  it('starts, answers a reserve with a retryable fault or through the Postgres fallback, and once Redis is back subscribes and keeps up', async () => {
    const [redis, db] = await Promise.all([ownRedis(), scratchDatabase()]);
    await redis.kill();
    const config = { databaseUrl: db.url, redisUrl: redis.url, dataDir: '', logLevel: 'silent' };
    const redisPrefix = `${uniqueName('fsdown')}:`;
    let a: Runtime | undefined;
    let b: Runtime | undefined;
    try {
      // Before: the stock subscription's SUBSCRIBE failed after two retries and start-up threw
      // (MaxRetriesPerRequestError), so no process could start during a Redis outage.
      a = await createRuntime(config, { log: quietLog, redisPrefix });
      const created = await createProduct(a.deps, admin, { id: 'down-1', name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000), perUserLimit: 1, reservationTtlSeconds: 300 } });
      expect('__typename' in created).toBe(false);
      const during = await reserve(a.deps, shopper('early'), { productId: 'down-1', quantity: 1 }).then(
        (r) => r.__typename,
        (err: Error) => (err instanceof RetryableError ? 'retryable' : `unexpected: ${err.message}`),
      );
      expect(['ReserveSuccess', 'retryable']).toContain(during);

      await redis.start();
      b = await createRuntime(config, { log: quietLog, redisPrefix });
      // A change made by another process reaches A: its subscription was made once Redis came back.
      await waitFor(async () => (await reserve(b!.deps, shopper(`late-${Date.now()}`), { productId: 'down-1', quantity: 1 }).catch(() => undefined))?.__typename === 'ReserveSuccess');
      const truth = async () => (await b!.database.db.execute(sql`select available_quantity as n from products where id = 'down-1'`)) as unknown;
      const availableNow = async () => Number(rowsOf<{ n: number }>(await truth())[0].n);
      await waitFor(async () => a!.deps.inventory.get('down-1')?.availableQuantity === (await availableNow()));
      const last = await reserve(b.deps, shopper('last-one'), { productId: 'down-1', quantity: 1 });
      expect(last.__typename).toBe('ReserveSuccess');
      await waitFor(async () => a!.deps.inventory.get('down-1')?.availableQuantity === (await availableNow()));
      // And A reserves through the Redis gate again.
      expect((await reserve(a.deps, shopper('after'), { productId: 'down-1', quantity: 1 })).__typename).toBe('ReserveSuccess');
    } finally {
      await b?.close();
      await a?.close();
      await redis.kill();
      await db.drop();
    }
  }, 90_000);
});

describe('connections to Redis that go silent (a partition, no reset)', () => {
  it('are replaced after REDIS_TIMEOUT_MS: the subscriber, pinged, re-subscribes and re-reads what it missed; the gate serves again', async () => {
    const [redis, db] = await Promise.all([ownRedis(), scratchDatabase()]);
    const proxy = await silentCutProxy(redis.port);
    const redisPrefix = `${uniqueName('fssilent')}:`;
    let a: Runtime | undefined;
    let b: Runtime | undefined;
    try {
      a = await createRuntime({ databaseUrl: db.url, redisUrl: redis.url, dataDir: '', logLevel: 'silent' }, { log: quietLog, redisPrefix });
      // B reaches Redis through the proxy.
      b = await createRuntime(
        { databaseUrl: db.url, redisUrl: proxy.url, dataDir: '', logLevel: 'silent', ops: { gateFallback: 'postgres', redisTimeoutMs: 500 } },
        { log: quietLog, redisPrefix },
      );
      const created = await createProduct(a.deps, admin, { id: 'silent-1', name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000), perUserLimit: 1, reservationTtlSeconds: 300 } });
      expect('__typename' in created).toBe(false);
      await waitFor(() => b!.deps.inventory.get('silent-1')?.availableQuantity === 5);
      // Every connection B has goes silent; new ones get through.
      proxy.cutSilently();
      expect((await reserve(a.deps, shopper('u1'), { productId: 'silent-1', quantity: 1 })).__typename).toBe('ReserveSuccess');
      // Nothing arrives on B's old subscriber connection. Before the PING every REDIS_TIMEOUT_MS it
      // waited there for good, and B showed 5 units left until it restarted.
      await waitFor(() => b!.deps.inventory.get('silent-1')?.availableQuantity === 4);
      expect((await reserve(b.deps, shopper('u2'), { productId: 'silent-1', quantity: 1 })).__typename).toBe('ReserveSuccess');
      await waitFor(() => (b!.deps.gate as ResilientGate).mode === 'up');
      expect((await reserve(b.deps, shopper('u3'), { productId: 'silent-1', quantity: 1 })).__typename).toBe('ReserveSuccess');
      await waitFor(() => a!.deps.inventory.get('silent-1')?.availableQuantity === 2);
    } finally {
      await b?.close();
      await a?.close();
      await proxy.close();
      await redis.kill();
      await db.drop();
    }
  }, 90_000);
});
