// One contract suite, three stores: the in-process limiter and the Redis Lua limiter, on one
// Redis server and on a Redis Cluster, must implement the same rule (src/security/ratelimit.ts `gcra`).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DegradingRateLimitStore, RedisRateLimitStore } from '../src/adapters/redis/ratelimit.js';
import { MemoryRateLimitStore, type RateLimitStore } from '../src/security/ratelimit.js';
import { REDIS_URL, uniqueName } from './support/backends.js';
import { lazyRedisCluster, type OwnRedis, ownRedis, waitFor } from './support/servers.js';

const redis = new Redis(REDIS_URL, { lazyConnect: true });
const prefix = `${uniqueName('rltest')}:`;

// A real Redis Cluster of our own (three primaries), started when its suite begins.
const cluster = lazyRedisCluster();

const stores: [string, () => RateLimitStore | Promise<RateLimitStore>][] = [
  ['memory', () => new MemoryRateLimitStore()],
  ['redis', () => new RedisRateLimitStore(redis, prefix)],
  // A request's buckets are on different nodes: taken one call each, in turn.
  ['redis cluster', async () => new RedisRateLimitStore(await cluster.client(), prefix)],
];

beforeAll(async () => {
  await redis.connect();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await cluster.stop();
});

const NOW = 1_800_000_000_000;
let n = 0;
const key = () => `k${++n}-${Math.random().toString(36).slice(2, 8)}`;

describe.each(stores)('%s rate limiter', (_name, make) => {
  let store: RateLimitStore;
  beforeAll(async () => {
    store = await make();
  });

  it('admits a full burst of `count`, then refuses with the wait until the next slot', async () => {
    const k = key();
    const rule = { count: 5, periodSeconds: 10 };
    const out = [];
    for (let i = 0; i < 8; i++) out.push(await store.take(k, rule, NOW));
    expect(out.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    // One slot every 2 s: the next fits 2 s later.
    expect(out[5].retryAfterMs).toBe(2000);
    expect((await store.take(k, rule, NOW + 1999)).allowed).toBe(false);
    expect((await store.take(k, rule, NOW + 2000)).allowed).toBe(true);
    expect((await store.take(k, rule, NOW + 2000)).allowed).toBe(false);
  });

  it('refills completely after one period and keeps buckets apart', async () => {
    const a = key();
    const b = key();
    const rule = { count: 2, periodSeconds: 1 };
    expect((await store.take(a, rule, NOW)).allowed).toBe(true);
    expect((await store.take(a, rule, NOW)).allowed).toBe(true);
    expect((await store.take(a, rule, NOW)).allowed).toBe(false);
    expect((await store.take(b, rule, NOW)).allowed).toBe(true);
    expect((await store.take(a, rule, NOW + 1000)).allowed).toBe(true);
    expect((await store.take(a, rule, NOW + 1000)).allowed).toBe(true);
    expect((await store.take(a, rule, NOW + 1000)).allowed).toBe(false);
  });

  it('a refused request takes nothing', async () => {
    const k = key();
    const rule = { count: 1, periodSeconds: 10 };
    expect((await store.take(k, rule, NOW)).allowed).toBe(true);
    for (let i = 0; i < 50; i++) expect((await store.take(k, rule, NOW + i * 100)).allowed).toBe(false);
    expect((await store.take(k, rule, NOW + 10_000)).allowed).toBe(true);
  });

  it('counts cost: a request of cost 3 uses three slots', async () => {
    const k = key();
    const rule = { count: 4, periodSeconds: 4 };
    expect((await store.take(k, rule, NOW, 3)).allowed).toBe(true);
    expect((await store.take(k, rule, NOW, 3)).allowed).toBe(false);
    expect((await store.take(k, rule, NOW, 1)).allowed).toBe(true);
  });

  it('is atomic under 1,000 concurrent takes: exactly `count` pass', async () => {
    const k = key();
    const rule = { count: 37, periodSeconds: 60 };
    const out = await Promise.all(Array.from({ length: 1000 }, () => store.take(k, rule, NOW)));
    expect(out.filter((d) => d.allowed)).toHaveLength(37);
  });

  it("takeAll takes a request's buckets in turn: the first refusal wins, those before it stay taken", async () => {
    const [user, ip, product] = [key(), key(), key()];
    const r = (u: number, i: number, p: number) => [
      { key: user, rule: { count: u, periodSeconds: 10 } },
      { key: ip, rule: { count: i, periodSeconds: 10 } },
      { key: product, rule: { count: p, periodSeconds: 10 } },
    ];
    expect(await store.takeAll(r(3, 2, 5), NOW)).toEqual({ allowed: true, retryAfterMs: 0 });
    expect(await store.takeAll(r(3, 2, 5), NOW)).toEqual({ allowed: true, retryAfterMs: 0 });
    // The ip bucket (2 per 10 s) refuses: the user's third slot is taken, the product's is not.
    expect(await store.takeAll(r(3, 2, 5), NOW)).toEqual({ allowed: false, retryAfterMs: 5000 });
    expect((await store.take(user, { count: 3, periodSeconds: 10 }, NOW)).allowed).toBe(false);
    expect((await store.take(product, { count: 5, periodSeconds: 10 }, NOW)).allowed).toBe(true);
    expect((await store.take(product, { count: 5, periodSeconds: 10 }, NOW)).allowed).toBe(true);
    expect((await store.take(product, { count: 5, periodSeconds: 10 }, NOW)).allowed).toBe(true);
    expect((await store.take(product, { count: 5, periodSeconds: 10 }, NOW)).allowed).toBe(false);
    expect(await store.takeAll([], NOW)).toEqual({ allowed: true, retryAfterMs: 0 });
  });

  it('takeAll from many requests at once: each sees what the ones before it took, exactly `count` pass', async () => {
    const shared = key();
    const rule = { count: 37, periodSeconds: 60 };
    // 1,000 requests in one turn, each its own bucket and the shared one (twice for every tenth).
    const out = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        store.takeAll([{ key: `${shared}-own-${i}`, rule: { count: 1, periodSeconds: 60 } }, { key: shared, rule, cost: i % 10 === 0 ? 2 : 1 }], NOW),
      ),
    );
    const passed = out.map((d, i): number => (d.allowed ? (i % 10 === 0 ? 2 : 1) : 0)).reduce((a, b) => a + b, 0);
    expect(passed).toBeLessThanOrEqual(37);
    expect(passed).toBeGreaterThanOrEqual(36);
    // In arrival order: the first ones pass, then only refusals.
    const firstRefused = out.findIndex((d) => !d.allowed);
    expect(out.slice(firstRefused).filter((d) => d.allowed).length).toBeLessThanOrEqual(1);
    expect(out[999]).toEqual({ allowed: false, retryAfterMs: expect.any(Number) });
  });

  it('takeAll at different times in one turn: each request decided at its own time, to the microsecond', async () => {
    const k = key();
    // 2 per second: a slot every 500 ms. Six requests of one turn, each at its own time (fractions of a
    // ms included), the second and third at the same instant, one of them a cost of 2.
    const rule = { count: 2, periodSeconds: 1 };
    const at = [0, 0.4, 0.4, 499.9995, 500.0015, 1200.25];
    const cost = [1, 1, 2, 1, 1, 2];
    const out = await Promise.all(at.map((t, i) => store.takeAll([{ key: `${k}-own-${i}`, rule }, { key: k, rule, cost: cost[i] }], NOW + t)));
    expect(out).toEqual([
      { allowed: true, retryAfterMs: 0 },
      { allowed: true, retryAfterMs: 0 },
      { allowed: false, retryAfterMs: 1000 },
      { allowed: false, retryAfterMs: 1 },
      { allowed: true, retryAfterMs: 0 },
      { allowed: false, retryAfterMs: 300 },
    ]);
  });

  it('refuses a cost that is not a whole number, or a time that is not a number, and takes nothing', async () => {
    const k = key();
    const rule = { count: 1, periodSeconds: 60 };
    await expect(store.takeAll([{ key: k, rule }, { key: key(), rule, cost: 1.5 }], NOW)).rejects.toThrow(RangeError);
    await expect(store.takeAll([{ key: k, rule, cost: -1 }], NOW)).rejects.toThrow(/whole number/);
    await expect(store.takeAll([{ key: k, rule }], Number.NaN)).rejects.toThrow(/time/);
    expect(await store.takeAll([{ key: k, rule }], NOW)).toEqual({ allowed: true, retryAfterMs: 0 });
  });

  it('remembers a one-time token: first use true, every replay false', async () => {
    const k = key();
    const uses = await Promise.all(Array.from({ length: 20 }, () => store.once(k, 60)));
    expect(uses.filter(Boolean)).toHaveLength(1);
    expect(await store.once(k, 60)).toBe(false);
    expect(await store.once(key(), 60)).toBe(true);
  });

  it('counts distinct members in a window', async () => {
    const k = key();
    expect(await store.distinct(k, 'alice', 60, NOW)).toBe(1);
    expect(await store.distinct(k, 'alice', 60, NOW)).toBe(1);
    expect(await store.distinct(k, 'bob', 60, NOW)).toBe(2);
    for (let i = 0; i < 30; i++) await store.distinct(k, `bot-${i}`, 60, NOW);
    expect(await store.distinct(k, 'carol', 60, NOW)).toBe(33);
  });
});

describe('the Redis rate limiter, batching', () => {
  it("sends a turn's checks as one script call", async () => {
    const store = new RedisRateLimitStore(redis, prefix);
    const before = { ...store.stats };
    const rule = { count: 1000, periodSeconds: 60 };
    const k = key();
    const out = await Promise.all(Array.from({ length: 300 }, (_, i) => store.takeAll([{ key: `${k}-u${i}`, rule }, { key: `${k}-ip`, rule }, { key: `${k}-p`, rule }], NOW)));
    expect(out.every((d) => d.allowed)).toBe(true);
    expect({ calls: store.stats.calls - before.calls, checks: store.stats.checks - before.checks }).toEqual({ calls: 1, checks: 300 });
    // The shared buckets gave 300 each, in one call: 700 of their 1,000 are left.
    for (const shared of [`${k}-ip`, `${k}-p`]) {
      expect((await store.take(shared, rule, NOW, 700)).allowed).toBe(true);
      expect((await store.take(shared, rule, NOW)).allowed).toBe(false);
    }
  });

  it("on a Redis Cluster, a turn's checks take one call per scope per round, and the shared buckets count every request once", async () => {
    const store = new RedisRateLimitStore(await cluster.client(), prefix);
    const before = { ...store.stats };
    const rule = { count: 1000, periodSeconds: 60 };
    const k = key();
    // The shopper's buckets are 300 keys on many nodes' slots without the scope's hash tag.
    const out = await Promise.all(
      Array.from({ length: 300 }, (_, i) => store.takeAll([{ key: `rs:u:${k}-${i}`, rule }, { key: `rs:ip:${k}`, rule }, { key: `rs:p:${k}`, rule }], NOW)),
    );
    expect(out.every((d) => d.allowed)).toBe(true);
    expect(store.stats.calls - before.calls).toBe(3);
    for (const shared of [`rs:ip:${k}`, `rs:p:${k}`]) {
      expect((await store.take(shared, rule, NOW, 700)).allowed).toBe(true);
      expect((await store.take(shared, rule, NOW)).allowed).toBe(false);
    }
  });

  it('a call Redis cannot take fails each of its checks', async () => {
    const broken = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    broken.on('error', () => {});
    const store = new RedisRateLimitStore(broken, prefix);
    const rule = { count: 5, periodSeconds: 60 };
    const out = await Promise.allSettled([store.takeAll([{ key: key(), rule }], NOW), store.takeAll([{ key: key(), rule }], NOW)]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    broken.disconnect();
  });
});

describe('the Redis rate limiter while Redis cannot answer (DegradingRateLimitStore)', () => {
  let own: OwnRedis;
  let client: Redis;
  beforeAll(async () => {
    own = await ownRedis();
    client = new Redis(own.url, { commandTimeout: 300, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await new Promise((resolve) => client.once('ready', resolve));
  });
  afterAll(async () => {
    own.resume();
    client.disconnect();
    await own.kill();
  });

  it('takes from Redis while it answers, from its own buckets while it is hung or down, and from Redis again once it is back', async () => {
    const store = new DegradingRateLimitStore(client, new RedisRateLimitStore(client, prefix), new MemoryRateLimitStore());
    const rule = { count: 2, periodSeconds: 60 };
    const k = key();
    // Shared with every process: what Redis holds.
    expect((await store.takeAll([{ key: k, rule }], NOW)).allowed).toBe(true);
    expect(await client.exists(`${prefix}rl:${k}`)).toBe(1);
    expect(store.counts.local).toBe(0);

    // Hung (SIGSTOP: the connection stays open and ready, nothing answers): each call times out and is
    // answered here, by this process's own buckets, which start full.
    own.pause();
    const hung = await Promise.all([store.takeAll([{ key: k, rule }], NOW), store.takeAll([{ key: k, rule }], NOW), store.takeAll([{ key: k, rule }], NOW)]);
    expect(hung.map((d) => d.allowed)).toEqual([true, true, false]);
    expect(await store.once('solution-1', 60)).toBe(true);
    expect(await store.once('solution-1', 60)).toBe(false);
    expect(await store.distinct(`${k}-ip`, 'alice', 60, NOW)).toBe(1);
    expect(store.counts.local).toBe(6);

    // Down: the connection is not ready, so nothing waits for a timeout.
    own.resume();
    await own.kill();
    await waitFor(() => client.status !== 'ready', 'the client to see Redis gone');
    const t0 = Date.now();
    expect((await store.take(`${k}-down`, rule, NOW)).allowed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(250);
    expect(store.counts.local).toBe(7);

    // A wrong call is refused as wrong, not answered here.
    await expect(store.takeAll([{ key: k, rule, cost: 1.5 }], NOW)).rejects.toThrow(RangeError);

    // Back (empty: this Redis keeps nothing): Redis's buckets again.
    await own.start();
    await waitFor(() => client.status === 'ready', 'the client to reconnect');
    expect((await store.takeAll([{ key: k, rule }], NOW)).allowed).toBe(true);
    expect(await client.exists(`${prefix}rl:${k}`)).toBe(1);
    expect(store.counts.local).toBe(7);
  });
});
