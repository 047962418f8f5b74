// One contract suite, two stores: the in-process limiter and the Redis Lua limiter
// must implement the same rule (src/security/ratelimit.ts `gcra`).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimitStore } from '../src/adapters/redis/ratelimit.js';
import { MemoryRateLimitStore, type RateLimitStore } from '../src/security/ratelimit.js';
import { REDIS_URL, uniqueName } from './support/backends.js';

const redis = new Redis(REDIS_URL, { lazyConnect: true });
const prefix = `${uniqueName('rltest')}:`;

const stores: [string, () => RateLimitStore][] = [
  ['memory', () => new MemoryRateLimitStore()],
  ['redis', () => new RedisRateLimitStore(redis, prefix)],
];

beforeAll(async () => {
  await redis.connect();
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

const NOW = 1_800_000_000_000;
let n = 0;
const key = () => `k${++n}-${Math.random().toString(36).slice(2, 8)}`;

describe.each(stores)('%s rate limiter', (_name, make) => {
  const store = make();

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
