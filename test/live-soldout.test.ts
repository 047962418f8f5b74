// Sold-out flags known to every process without round trips, and resync after a Redis outage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reserve, releaseReservation } from '../src/domain/cart/reserve.js';
import { reconcileGate, type ReconcileMemo } from '../src/domain/gate/reconcile.js';
import type { ResilientGate } from '../src/domain/gate/resilient.js';
import { createProduct } from '../src/domain/inventory/products.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { quietLog, scratchDatabase, uniqueName } from './support/backends.js';
import { type OwnRedis, ownRedis, waitFor as waitUntil } from './support/servers.js';

const admin = { userId: 'operator', roles: ['admin'] };
const shopper = (userId: string) => ({ userId, roles: [] });
const waitFor = (cond: () => boolean) => waitUntil(cond, 'the processes to see it', 20_000, 25);

describe('two runtimes on a private Redis', () => {
  let redis: OwnRedis;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let a: Runtime;
  let b: Runtime;
  beforeAll(async () => {
    [redis, db] = await Promise.all([ownRedis(), scratchDatabase()]);
    const config = { databaseUrl: db.url, redisUrl: redis.url, dataDir: '', logLevel: 'silent' };
    const redisPrefix = `${uniqueName('fsmem')}:`;
    a = await createRuntime(config, { log: quietLog, redisPrefix });
    b = await createRuntime(config, { log: quietLog, redisPrefix });
  }, 180_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await redis?.kill();
    await db?.drop();
  });

  it('sold out is known to every process without a Redis or Postgres round trip, and clears when stock comes back', async () => {
    const id = 'so-1';
    const p = await createProduct(a.deps, admin, { id, name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 2, sale: { startsAt: new Date(Date.now() - 1000), perUserLimit: 1, reservationTtlSeconds: 300 } });
    expect('__typename' in p).toBe(false);
    const r1 = await reserve(a.deps, shopper('u1'), { productId: id, quantity: 1 });
    const r2 = await reserve(a.deps, shopper('u2'), { productId: id, quantity: 1 });
    expect([r1.__typename, r2.__typename]).toEqual(['ReserveSuccess', 'ReserveSuccess']);
    // B learns it over pub/sub, without asking.
    await waitFor(() => b.deps.gate.knownSoldOut(id));
    expect(b.deps.inventory.get(id)?.availableQuantity).toBe(0);

    // With Redis gone, any round trip would fail; and Postgres is not asked either.
    await redis.kill();
    const queries = [a.database.queryCount(), b.database.queryCount()];
    for (const rt of [a, b]) {
      for (let i = 0; i < 20; i++) {
        expect((await reserve(rt.deps, shopper(`late-${i}`), { productId: id, quantity: 1 })).__typename).toBe('SoldOut');
      }
    }
    expect([a.database.queryCount(), b.database.queryCount()]).toEqual(queries);

    // Stock comes back while Redis is down: A commits the release in Postgres, but its event is lost.
    if (r1.__typename !== 'ReserveSuccess') throw new Error('unreachable');
    expect((await releaseReservation(a.deps, shopper('u1'), r1.reservation.id)).__typename).toBe('ReleaseSuccess');
    expect(a.deps.gate.knownSoldOut(id)).toBe(false);
    await new Promise((r) => setTimeout(r, 2500));
    // B missed it: still sold out in its memory.
    expect(b.deps.gate.knownSoldOut(id)).toBe(true);
    expect(b.deps.inventory.get(id)?.availableQuantity).toBe(0);

    // Redis is back: B re-reads the truth on reconnect (no further event is published), the flag clears.
    await redis.start();
    await waitFor(() => !b.deps.gate.knownSoldOut(id));
    expect(b.deps.inventory.get(id)?.availableQuantity).toBe(1);
    // The fresh Redis has no gate: it is loaded from Postgres, and B admits the unit.
    expect((await reserve(b.deps, shopper('u3'), { productId: id, quantity: 1 })).__typename).toBe('ReserveSuccess');
    await waitFor(() => a.deps.gate.knownSoldOut(id));
  });

  it('a unit reconciliation gives back to the gate clears every process\'s sold-out flag', async () => {
    const id = 'so-reconcile';
    // Both gates back on Redis after the outage above (a process still down admits through Postgres).
    await waitFor(() => [a, b].every((rt) => (rt.deps.gate as ResilientGate).mode === 'up'));
    await createProduct(a.deps, admin, { id, name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 2, sale: { startsAt: new Date(Date.now() - 1000), perUserLimit: 1, reservationTtlSeconds: 300 } });
    expect((await reserve(b.deps, shopper('w1'), { productId: id, quantity: 1 })).__typename).toBe('ReserveSuccess');
    // An api process admitted the other unit at the gate and died before Postgres stored it.
    expect((await b.deps.gate.admit({ productId: id, userId: 'ghost', quantity: 1, nowMs: Date.now(), reservationId: crypto.randomUUID() })).outcome).toBe('ADMITTED');
    // Postgres has a unit left; the gate has none, so both processes learn "sold out" from it.
    for (const rt of [a, b]) expect((await reserve(rt.deps, shopper('w2'), { productId: id, quantity: 1 })).__typename).toBe('SoldOut');
    expect([a.deps.gate.knownSoldOut(id), b.deps.gate.knownSoldOut(id)]).toEqual([true, true]);
    await waitFor(() => a.deps.inventory.get(id)?.availableQuantity === 1 && b.deps.inventory.get(id)?.availableQuantity === 1);

    // The worker's reconciliation (here in A) gives the unit back to the gate. Postgres does not
    // change, so only its re-announcement can tell B.
    const memo: ReconcileMemo = new Map();
    await reconcileGate(a.deps, { settleMs: 100, productIds: [id] }, memo);
    await new Promise((r) => setTimeout(r, 150));
    expect(await reconcileGate(a.deps, { settleMs: 100, productIds: [id] }, memo)).toMatchObject({ raised: 1 });
    await waitFor(() => !a.deps.gate.knownSoldOut(id) && !b.deps.gate.knownSoldOut(id));
    expect((await reserve(b.deps, shopper('w2'), { productId: id, quantity: 1 })).__typename).toBe('ReserveSuccess');
    await waitFor(() => a.deps.gate.knownSoldOut(id) && b.deps.gate.knownSoldOut(id));
  });
});
