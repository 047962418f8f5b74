// The Redis gate's way down and back, on our own redis-server (killed and restarted
// here) and a scratch database on the shared Postgres.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileGate, type ReconcileMemo } from '../src/domain/gate/reconcile.js';
import { ResilientGate } from '../src/domain/gate/resilient.js';
import { quietLog, scratchDatabase, uniqueName } from './support/backends.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { buildApp } from '../src/app.js';
import { createVerifier, signToken } from '../src/auth.js';
import { type OwnRedis, ownRedis, waitFor } from './support/servers.js';
import { RESERVE, TEST_SECRET } from './support/harness.js';
import { handBack } from '../src/domain/cart/reserve.js';

const until = (check: () => Promise<boolean> | boolean) => waitFor(check, 'the gate to be used again', 15_000);

describe('Redis gate fallback and reconciliation', () => {
  let redis: OwnRedis;
  let db: { url: string; drop(): Promise<void> };
  const runtimes: Runtime[] = [];
  let spy: Redis;
  const prefix = `${uniqueName('fsg')}:`;

  const open = async (fallback: 'postgres' | 'error') => {
    const runtime = await createRuntime(
      { databaseUrl: db.url, redisUrl: redis.url, dataDir: '', logLevel: 'silent', ops: { gateFallback: fallback } },
      { log: quietLog, redisPrefix: prefix },
    );
    runtimes.push(runtime);
    const app = buildApp(runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }) });
    const gql = async (query: string, variables: unknown, sub: string, roles: string[] = []) => {
      const tok = await signToken(TEST_SECRET, { sub, roles });
      const res = await app.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify({ query, variables }),
      });
      return res.json() as Promise<any>;
    };
    return { runtime, app, gql, gate: runtime.deps.gate as ResilientGate };
  };

  beforeAll(async () => {
    redis = await ownRedis();
    db = await scratchDatabase();
    spy = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    spy.on('error', () => {});
  });
  afterAll(async () => {
    spy?.disconnect();
    for (const r of runtimes) await r.close().catch(() => {});
    await redis?.kill();
    await db?.drop();
  });

  it('admits through Postgres while Redis is down, refuses as retryable when so configured, and rebuilds when Redis returns', async () => {
    const a = await open('postgres');
    const b = await open('error');
    const productId = 'fallback-1';
    const created = await a.gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id: productId, name: 'x', priceAmount: 100, currency: 'USD', totalQuantity: 10, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1, reservationTtlSeconds: 300 } } },
      'op',
      ['admin'],
    );
    expect(created.errors).toBeUndefined();
    const reserve = (g: typeof a, who: string) => g.gql(RESERVE, { input: { productId } }, who);
    const before = await Promise.all([1, 2, 3].map((i) => reserve(a, `early-${i}`)));
    expect(before.map((r) => r.data.reserve.__typename)).toEqual(['ReserveSuccess', 'ReserveSuccess', 'ReserveSuccess']);

    await redis.kill();
    const during = [];
    for (let i = 0; i < 9; i++) during.push(await reserve(a, `during-${i}`));
    const kinds = during.map((r) => r.data?.reserve.__typename ?? r.errors?.[0].extensions.code);
    // 7 units left: 7 admitted through Postgres alone, then a clean SoldOut; never more.
    expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(7);
    expect(kinds.slice(7)).toEqual(['SoldOut', 'SoldOut']);
    expect(a.gate.mode).not.toBe('up');
    const seqs = [...before, ...during].filter((r) => r.data?.reserve.__typename === 'ReserveSuccess').map((r) => Number(r.data.reserve.reservation.sequence));
    expect(new Set(seqs).size).toBe(10);
    // The fallback's sequences start above every one the Redis gate handed out, and keep increasing.
    expect(seqs.slice(3).every((s) => s > Math.max(...seqs.slice(0, 3)))).toBe(true);
    expect(seqs.slice(3)).toEqual([...seqs.slice(3)].sort((x, y) => x - y));
    // Sold out and keyed while Redis is down: the gate cannot read the key, so the attempt takes the
    // full path (Postgres's answer: this shopper's earlier key, or sold out).
    expect(await a.gate.mayRepeat(productId, 'during-0', 'any-key', Date.now())).toBe(true);
    const keyed = await a.gql(RESERVE, { input: { productId, idempotencyKey: 'down-key-0001' } }, 'during-keyed');
    expect(keyed.data?.reserve.__typename).toBe('SoldOut');
    const refused = await reserve(b, 'error-mode');
    expect(refused.errors?.[0].extensions).toMatchObject({ code: 'UNAVAILABLE', retryable: true });

    await redis.start();
    // Both processes rebuild; waiting for b too keeps its rebuild (which reloads every product
    // from Postgres) from landing in the middle of the next test, which shares this Redis prefix.
    await until(() => a.gate.mode === 'up' && b.gate.mode === 'up');
    // Rebuilt from Postgres: nothing left to admit, shoppers' counts known again.
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('0');
    expect(await spy.hget(`${prefix}{${productId}}:users`, 'during-0')).toBe('1');
    expect(Number(await spy.hget(`${prefix}{${productId}}:gate`, 'seq'))).toBeGreaterThanOrEqual(Math.max(...seqs));
    expect((await reserve(a, 'after')).data.reserve.__typename).toBe('SoldOut');
  });

  const product = async (g: Awaited<ReturnType<typeof open>>, id: string, perUserLimit: number) => {
    const r = await g.gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id, name: 'x', priceAmount: 100, currency: 'USD', totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit, reservationTtlSeconds: 300 } } },
      'op',
      ['admin'],
    );
    expect(r.errors).toBeUndefined();
  };
  const admitted = async (gate: ResilientGate, productId: string, userId: string) => {
    const d = await gate.admit({ productId, userId, quantity: 1, nowMs: Date.now(), reservationId: crypto.randomUUID() });
    if (d.outcome !== 'ADMITTED') throw new Error(`not admitted: ${d.outcome}`);
    return d;
  };

  it("gives the Redis gate, once rebuilt, the hand-backs of its own admissions it missed while down; never the fallback's", async () => {
    const a = await open('postgres');
    await until(() => a.gate.mode === 'up');
    const productId = 'handback-kept';
    await product(a, productId, 2);
    const deps = a.runtime.deps;
    // Admitted by the Redis gate; Redis becomes unreachable before Postgres refuses it.
    const primary = await admitted(a.gate, productId, 'refused');
    a.gate.markDown('test: Redis unreachable, its state kept');
    await handBack(deps, productId, 'refused', 1, undefined, false, primary.sequence);
    // (The probe finds Redis answering 500 ms after the outage began: this is read well before.)
    const kept = async () => /^flashsale_gate_hand_backs_kept (\d+)$/m.exec(await (await a.app.fetch('http://test/metrics')).text())?.[1];
    expect(await kept()).toBe('1');
    // Through the fallback meanwhile: one hold stored, and one admission Postgres refuses.
    expect((await a.gql(RESERVE, { input: { productId } }, 'holder')).data.reserve.__typename).toBe('ReserveSuccess');
    const fallback = await admitted(a.gate, productId, 'holder');
    await handBack(deps, productId, 'holder', 1, undefined, false, fallback.sequence);
    fallback.stored?.();
    await until(() => a.gate.mode === 'up');
    expect(await kept()).toBe('0');
    // Merged into the gate Redis kept (each shopper's higher count), then the kept hand-back given:
    // 'refused' holds nothing; 'holder' keeps the hold Postgres stored (the fallback's refusal was
    // never the Redis gate's to give back).
    const users = await spy.hgetall(`${prefix}{${productId}}:users`);
    expect(users).toEqual({ holder: '1' });
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('2');
    expect((await a.gql(RESERVE, { input: { productId } }, 'refused')).data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('gives nothing back into a gate Redis lost and the rebuild loaded from Postgres, which counted it already', async () => {
    const a = await open('postgres');
    await until(() => a.gate.mode === 'up');
    const productId = 'handback-lost';
    await product(a, productId, 1);
    const primary = await admitted(a.gate, productId, 'lost');
    a.gate.markDown('test: Redis restarted without its state');
    await spy.del(`${prefix}{${productId}}:gate`, `${prefix}{${productId}}:users`);
    await handBack(a.runtime.deps, productId, 'lost', 1, undefined, true, primary.sequence);
    await until(() => a.gate.mode === 'up');
    // Loaded from Postgres (3 units, nobody holding), the lost admission's hand-back left alone.
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('3');
    expect(await spy.hgetall(`${prefix}{${productId}}:users`)).toEqual({});
    expect(Number(await spy.hget(`${prefix}{${productId}}:gate`, 'seq'))).toBeGreaterThan(primary.sequence);
  });

  it('a Redis that stops answering, its connection left open, is taken for gone: the reserve waiting on it goes through Postgres', async () => {
    const a = await open('postgres');
    await until(() => a.gate.mode === 'up');
    const productId = 'hung-redis';
    await product(a, productId, 1);
    expect((await a.gql(RESERVE, { input: { productId } }, 'before-hang')).data.reserve.__typename).toBe('ReserveSuccess');
    // SIGSTOP: the server answers nothing and its sockets stay open (a hung Redis, or a partition
    // that sends no reset). Before REDIS_TIMEOUT_MS, this reserve waited until the kernel gave up
    // on the socket, many minutes; the bound here is only there to fail instead of hanging.
    redis.pause();
    let during: any;
    try {
      during = await Promise.race([a.gql(RESERVE, { input: { productId } }, 'during-hang'), new Promise((r) => setTimeout(() => r('no answer in 20 s'), 20_000))]);
    } finally {
      redis.resume();
    }
    expect(during.data?.reserve.__typename).toBe('ReserveSuccess');
    expect(a.gate.counts.outages).toBeGreaterThan(0);
    // Back: the gate is rebuilt (merged into the state Redis kept) and holds what Postgres holds.
    await until(() => a.gate.mode === 'up');
    const after = await Promise.all(['after-1', 'after-2'].map(async (u) => (await a.gql(RESERVE, { input: { productId } }, u)).data.reserve.__typename));
    expect(after.sort()).toEqual(['ReserveSuccess', 'SoldOut']);
    expect(await spy.hget(`${prefix}{${productId}}:gate`, 'stock')).toBe('0');
  }, 60_000);

  it('reconciles: gives back what a dead request took, lowers what Postgres lacks, never while the gate moves', async () => {
    const a = await open('postgres');
    await until(() => a.gate.mode === 'up');
    const productId = 'reconcile-1';
    await a.gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id: productId, name: 'x', priceAmount: 100, currency: 'USD', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1, reservationTtlSeconds: 300 } } },
      'op',
      ['admin'],
    );
    const deps = a.runtime.deps;
    // A request admitted by the gate that died before Postgres stored anything.
    const d = await deps.gate.admit({ productId, userId: 'ghost', quantity: 1, nowMs: Date.now(), reservationId: crypto.randomUUID() });
    expect(d.outcome).toBe('ADMITTED');
    const key = `${prefix}{${productId}}:gate`;
    expect(await spy.hget(key, 'stock')).toBe('4');
    const memo: ReconcileMemo = new Map();
    // First look only remembers; nothing is raised while an admission might be in flight.
    expect(await reconcileGate(deps, { settleMs: 300 }, memo)).toMatchObject({ raised: 0 });
    expect(await spy.hget(key, 'stock')).toBe('4');
    await new Promise((r) => setTimeout(r, 350));
    expect(await reconcileGate(deps, { settleMs: 300, productIds: [productId] }, memo)).toMatchObject({ raised: 1 });
    expect(await spy.hget(key, 'stock')).toBe('5');
    expect(await spy.hget(`${prefix}{${productId}}:users`, 'ghost')).toBeNull();
    // A gate holding more than Postgres is lowered at once.
    await spy.hset(key, 'stock', '9');
    expect(await reconcileGate(deps, { settleMs: 60_000, productIds: [productId] }, memo)).toMatchObject({ lowered: 1 });
    expect(await spy.hget(key, 'stock')).toBe('5');
  });
});
