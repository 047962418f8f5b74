// The gate's rebuild after an outage (src/domain/gate/reconcile.ts rebuildGate), with the
// interleaving forced: the rebuilding process reads its snapshot from Postgres, other processes
// reserve through the gate, then the rebuild writes. Real Postgres (a scratch database) and the
// shared Redis under a prefix of its own; nothing is killed here (test/gate-fallback.test.ts and
// test/live-soldout.test.ts restart their own Redis).
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisGate } from '../src/adapters/redis/gate.js';
import { redisRebuilder, sequenceFloor } from '../src/adapters/redis/resilient.js';
import { reserve } from '../src/domain/cart/reserve.js';
import { type GateRebuilder, rebuildGate } from '../src/domain/gate/reconcile.js';
import type { ResilientGate } from '../src/domain/gate/resilient.js';
import { createProduct, endSale, getProduct } from '../src/domain/inventory/products.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { BACKENDS, quietLog, REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { waitFor } from './support/servers.js';

const admin = { userId: 'operator', roles: ['admin'] };
const shopper = (userId: string) => ({ userId, roles: [] });

/** Waits for a process's gate to be back on Redis (its probe found Redis and it rebuilt). */
const backUp = (gate: ResilientGate) => waitFor(() => gate.mode === 'up', 'the cut-off process to come back', 15_000);

describe.skipIf(!BACKENDS.includes('postgres+redis'))('rebuilding the Redis gate while other processes use it', () => {
  const prefix = `${uniqueName('fsrb')}:`;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  /** The other processes: they reserve through the gate while the rebuild is under way. */
  let other: Runtime;
  let redis: Redis;
  /** The rebuilding process's view of the gate (its own sold-out flags). */
  let gate: RedisGate;
  let rebuilder: GateRebuilder;

  beforeAll(async () => {
    db = await scratchDatabase();
    other = await createRuntime({ databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' }, { log: quietLog, redisPrefix: prefix });
    redis = new Redis(REDIS_URL);
    gate = new RedisGate(redis, prefix);
    rebuilder = redisRebuilder(gate, sequenceFloor(other.deps.db));
  }, 120_000);
  afterAll(async () => {
    await other?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
    await db?.drop();
  });

  const product = async (id: string, totalQuantity: number, perUserLimit = 1) => {
    const p = await createProduct(other.deps, admin, {
      id,
      name: id,
      priceAmount: 100,
      currency: 'USD',
      totalQuantity,
      sale: { startsAt: new Date(Date.now() - 1000), perUserLimit, reservationTtlSeconds: 300 },
    });
    expect('__typename' in p).toBe(false);
  };
  const keys = (id: string) => ({ gate: `${prefix}{${id}}:gate`, users: `${prefix}{${id}}:users` });
  const buy = async (id: string, who: string) => (await reserve(other.deps, shopper(who), { productId: id, quantity: 1 })).__typename;
  /** Rebuilds every product on sale; for `id`, `between` runs after its snapshot is read and before it is written. */
  const rebuildWith = (id: string, between: () => Promise<void>) => {
    let ran = false;
    const first = async (productId: string) => {
      if (productId !== id || ran) return;
      ran = true;
      await between();
    };
    return rebuildGate(other.deps, {
      load: async (s) => (await first(s.productId), rebuilder.load(s)),
      merge: async (s) => (await first(s.productId), rebuilder.merge(s)),
    });
  };

  it('Redis restarted and another process loaded the gate and admitted first: the older snapshot does not give their units out again', async () => {
    const id = 'rb-restart';
    await product(id, 3);
    // The restart: the gate's keys are gone.
    await redis.del(keys(id).gate, keys(id).users);
    await rebuildWith(id, async () => {
      // Another process meets the empty gate first: it loads it from Postgres and admits two shoppers.
      expect([await buy(id, 'u1'), await buy(id, 'u2')]).toEqual(['ReserveSuccess', 'ReserveSuccess']);
    });
    expect((await getProduct(other.deps.db, id))!.availableQuantity).toBe(1);
    // An overwrite with the snapshot (3 units, nobody holding) would admit three more and forget u1 and u2.
    expect(await redis.hmget(keys(id).gate, 'stock', 'seq')).toEqual(['1', '2']);
    expect(await redis.hgetall(keys(id).users)).toEqual({ u1: '1', u2: '1' });
    expect(await gate.admit({ productId: id, userId: 'u1', quantity: 1, nowMs: Date.now(), reservationId: crypto.randomUUID() })).toEqual({ outcome: 'LIMIT_EXCEEDED', limit: 1 });
    expect([await buy(id, 'u3'), await buy(id, 'u4')]).toEqual(['ReserveSuccess', 'SoldOut']);
    expect(await redis.hget(keys(id).gate, 'stock')).toBe('0');
  });

  it('a rebuild whose snapshot predates the last sale leaves the gate sold out and this process’s sold-out flag set', async () => {
    const id = 'rb-flag';
    await product(id, 1);
    await rebuildWith(id, async () => {
      expect(await buy(id, 'last')).toBe('ReserveSuccess');
      // The stock event reaches this process (deps.ts: noteStock from the newest copy).
      gate.noteStock(id, 0);
    });
    expect(gate.knownSoldOut(id)).toBe(true);
    expect(await redis.hget(keys(id).gate, 'stock')).toBe('0');
  });

  it('Redis kept its state through a partition: what a cut-off process admitted through Postgres alone is taken off, its shoppers counted, the sequence above the fallback', async () => {
    const id = 'rb-partition';
    await product(id, 5, 2);
    expect(await buy(id, 'p1')).toBe('ReserveSuccess');
    // A second process loses Redis (its gate goes down; Redis itself keeps the gate) and admits p2's
    // two units through Postgres alone. Its probe finds Redis again and it rebuilds, for real.
    const cut = await createRuntime({ databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' }, { log: quietLog, redisPrefix: prefix });
    try {
      const cutGate = cut.deps.gate as ResilientGate;
      cutGate.markDown('a partition, in this test');
      const r = await reserve(cut.deps, shopper('p2'), { productId: id, quantity: 2 });
      expect(r.__typename).toBe('ReserveSuccess');
      expect(cutGate.counts.fallbackAdmits).toBe(1);
      expect(await redis.hget(keys(id).gate, 'stock')).toBe('4');
      await backUp(cutGate);
      expect(cutGate.counts.rebuilds).toBe(1);
    } finally {
      await cut.close();
    }
    expect((await getProduct(other.deps.db, id))!.availableQuantity).toBe(2);
    expect(await redis.hget(keys(id).gate, 'stock')).toBe('2');
    expect(await redis.hgetall(keys(id).users)).toEqual({ p1: '1', p2: '2' });
    const floor = await sequenceFloor(other.deps.db)(id);
    expect(floor).toBeGreaterThan(1_000_000);
    expect(Number(await redis.hget(keys(id).gate, 'seq'))).toBeGreaterThanOrEqual(floor);
    expect(await buy(id, 'p2')).toBe('LimitExceeded');
    expect([await buy(id, 'p3'), await buy(id, 'p4'), await buy(id, 'p5')]).toEqual(['ReserveSuccess', 'ReserveSuccess', 'SoldOut']);
  });

  it('a cut-off process rebuilds only after its fallback reservations are stored, not merely admitted', async () => {
    const id = 'rb-storing';
    await product(id, 5, 2);
    const cut = await createRuntime({ databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' }, { log: quietLog, redisPrefix: prefix });
    // The product's row locked elsewhere: the fallback's admission is decided at once, its storing waits.
    const locker = postgres(db.url, { max: 1, onnotice: () => {} });
    let unlock!: () => void;
    const locked = new Promise<void>((res) => (unlock = res));
    const holding = locker.begin(async (tx) => {
      await tx`select 1 from products where id = ${id} for update`;
      await locked;
    });
    try {
      const cutGate = cut.deps.gate as ResilientGate;
      cutGate.markDown('a partition, in this test');
      const pending = reserve(cut.deps, shopper('s1'), { productId: id, quantity: 2 });
      // The probe finds Redis after 500 ms; the rebuild must wait for s1's units to be stored.
      await new Promise((res) => setTimeout(res, 1500));
      expect(cutGate.counts.fallbackAdmits).toBe(1);
      expect(cutGate.mode).toBe('recovering');
      expect(cutGate.counts.rebuilds).toBe(0);
      unlock();
      await holding;
      expect((await pending).__typename).toBe('ReserveSuccess');
      await backUp(cutGate);
    } finally {
      unlock();
      await locker.end();
      await cut.close();
    }
    // The rebuild read Postgres after s1's two units were stored: the gate knows them.
    expect(await redis.hget(keys(id).gate, 'stock')).toBe('3');
    expect(await redis.hget(keys(id).users, 's1')).toBe('2');
  });

  it('an operator ends the sale while the rebuild is under way: the older snapshot does not reopen it', async () => {
    const id = 'rb-ended';
    await product(id, 5);
    await rebuildWith(id, async () => {
      expect('__typename' in (await endSale(other.deps, id))).toBe(false);
    });
    const ended = await gate.admit({ productId: id, userId: 'late', quantity: 1, nowMs: Date.now(), reservationId: crypto.randomUUID() });
    expect(ended).toEqual({ outcome: 'ENDED' });
    expect(await buy(id, 'late')).toBe('SaleNotOpen');
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('loading the Redis gate while Postgres fails', () => {
  it('is the caller’s error, as the reads before it are, and Redis is not taken for gone', async () => {
    const own = await scratchDatabase();
    const rt = await createRuntime({ databaseUrl: own.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' }, { log: quietLog, redisPrefix: `${uniqueName('fspg')}:` });
    try {
      const gate = rt.deps.gate as ResilientGate;
      expect(gate.mode).toBe('up');
      // The database goes away under the process: its connections are cut, new ones refused.
      await own.drop();
      const snapshot = { productId: 'pg-gone', stock: 5, sequence: 0, startsAtMs: Date.now() - 1000, endsAtMs: -1, perUserLimit: 1, held: {} };
      // The load reads the fallback's sequence floor from Postgres first.
      await expect(gate.load(snapshot, false)).rejects.toThrow();
      expect(gate.mode).toBe('up');
      expect(gate.counts.outages).toBe(0);
    } finally {
      await rt.close().catch(() => {});
      await own.drop();
    }
  });
});
