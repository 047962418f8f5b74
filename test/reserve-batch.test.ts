// Group commit of admitted reservations (src/domain/cart/commit-batch.ts), on the embedded
// default and on Postgres + Redis: concurrent reserves share transactions, store exactly
// what one-by-one commits would, and a batch Postgres cannot take whole falls back to one
// by one in arrival order.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { type Admitted, MAX_BATCH } from '../src/domain/cart/commit-batch.js';
import { batcherOf, releaseReservation, reserve } from '../src/domain/cart/reserve.js';
import { createProduct } from '../src/domain/inventory/products.js';
import { createRuntime } from '../src/deps.js';
import { BACKENDS, quietLog, REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { type Harness, harness, RESERVE } from './support/harness.js';

describe.each(BACKENDS)('batched reservations on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });
  const deps = () => h.backend.runtime.deps;
  const stats = () => ({ ...batcherOf(deps()).stats });

  it('commits 400 concurrent shoppers, one reservation and one stock movement each, as they were told', async () => {
    const { id } = await h.product({ totalQuantity: 1000 });
    const tokens = await Promise.all(Array.from({ length: 400 }, (_, i) => h.token(`batch-${i}`)));
    const results = await Promise.all(tokens.map((t) => h.gql(RESERVE, { input: { productId: id } }, t)));
    expect(results.map((r) => r.data?.reserve.__typename ?? JSON.stringify(r.errors))).toEqual(tokens.map(() => 'ReserveSuccess'));
    expect(await h.ledger(id)).toEqual({ total: 1000, available: 600, reserved: 400, sold: 0 });
    const [row] = rowsOf<{ reservations: number; movements: number; sequences: number; moved: number }>(
      await deps().db.execute(sql`
        select (select count(*)::int from reservations where product_id = ${id}) as reservations,
               (select count(distinct sequence)::int from reservations where product_id = ${id}) as sequences,
               (select count(*)::int from stock_movements where product_id = ${id} and kind = 'RESERVE') as movements,
               (select coalesce(sum(quantity), 0)::int from stock_movements where product_id = ${id} and kind = 'RESERVE') as moved`),
    );
    expect(row).toEqual({ reservations: 400, sequences: 400, movements: 400, moved: 400 });
    // What the shoppers were told is what was stored.
    const told = results.map((r) => r.data.reserve.reservation);
    const stored = rowsOf<{ id: string; sequence: number; user_id: string }>(
      await deps().db.execute(sql`select id, sequence, user_id from reservations where product_id = ${id}`),
    );
    const byId = new Map(stored.map((s) => [s.id, s]));
    for (const r of told) expect(Number(byId.get(r.id)?.sequence)).toBe(r.sequence);
  });

  /** Admitted attempts handed straight to the committer, as if the gate had let them all through. */
  const admitted = (productId: string, users: string[], first: number): Admitted[] =>
    users.map((u, i) => ({ actor: { userId: u, roles: [] }, productId, quantity: 1, reservationId: randomUUID(), sequence: first + i }));

  it('commits attempts admitted together, and those that queue behind a commit in flight, in shared transactions', async () => {
    const { id } = await h.product({ totalQuantity: 1000 });
    const before = stats();
    const b = batcherOf(deps());
    // Admitted in one turn of the event loop, the 300 share transactions (at most MAX_BATCH each);
    // the single path (six round trips) is left for RESERVE_BATCH_MAX=1 and for fallbacks.
    const attempts = admitted(id, Array.from({ length: 300 }, (_, i) => `queued-${backend}-${i}`), 100);
    const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string; reservation: { id: string; sequence: number } }[];
    expect(outcomes.map((o) => o.__typename)).toEqual(Array(300).fill('ReserveSuccess'));
    expect(outcomes.map((o) => [o.reservation.id, o.reservation.sequence])).toEqual(attempts.map((a) => [a.reservationId, a.sequence]));
    const after = stats();
    expect(after.batches - before.batches).toBe(Math.ceil(300 / MAX_BATCH));
    expect(after.attempts - before.attempts).toBe(300);
    expect(after.fallbacks).toBe(before.fallbacks);
    expect(await h.ledger(id)).toEqual({ total: 1000, available: 700, reserved: 300, sold: 0 });
  });

  it('falls back to one by one when Postgres cannot take the whole batch: the earliest arrivals win, the rest are SoldOut', async () => {
    const { id } = await h.product({ totalQuantity: 10 });
    const before = stats();
    const b = batcherOf(deps());
    // The 30 form one batch that needs 30 of the 10 units.
    const attempts = admitted(id, Array.from({ length: 30 }, (_, i) => `over-${backend}-${i}`), 1_000);
    const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string; reservation?: { sequence: number } }[];
    const won = outcomes.flatMap((o, i) => (o.__typename === 'ReserveSuccess' ? [attempts[i].sequence] : []));
    expect(won).toEqual(attempts.slice(0, 10).map((a) => a.sequence));
    expect(outcomes.slice(10).map((o) => o.__typename)).toEqual(Array(20).fill('SoldOut'));
    expect(stats().fallbacks).toBeGreaterThan(before.fallbacks);
    expect(await h.ledger(id)).toEqual({ total: 10, available: 0, reserved: 10, sold: 0 });
    // The refused batch committed nothing (its COMMIT went out with it and rolled back): only the
    // ten winners have an active cart, none of the twenty the single path refused.
    const [carts] = rowsOf<{ n: number }>(await deps().db.execute(sql`select count(*)::int as n from carts where user_id like ${`over-${backend}-%`} and status = 'ACTIVE'`));
    expect(Number(carts.n)).toBe(10);
  });

  it('a batch that takes the last units writes the sold-out event in the same transaction', async () => {
    const { id } = await h.product({ totalQuantity: 30 });
    const before = stats();
    const b = batcherOf(deps());
    const attempts = admitted(id, Array.from({ length: 30 }, (_, i) => `last-${backend}-${i}`), 1_000);
    const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string }[];
    expect(outcomes.every((o) => o.__typename === 'ReserveSuccess')).toBe(true);
    expect(stats().fallbacks).toBe(before.fallbacks);
    const rows = rowsOf<{ payload: unknown; n: number }>(
      await deps().db.execute(sql`select payload, (select count(*) from outbox where topic = 'product.sold_out' and aggregate_id = ${id})::int as n from outbox where topic = 'product.sold_out' and aggregate_id = ${id}`),
    );
    expect(rows).toHaveLength(1);
    const payload = typeof rows[0].payload === 'string' ? JSON.parse(rows[0].payload) : rows[0].payload;
    const [p] = rowsOf<{ name: string; version: number }>(await deps().db.execute(sql`select name, version from products where id = ${id}`));
    expect(payload).toEqual({ productId: id, name: p.name, version: Number(p.version) });
  });

  it('publishes the stock after the commit, and no event for the new holds (nobody can be watching them yet)', async () => {
    const { id } = await h.product({ totalQuantity: 500 });
    const b = batcherOf(deps());
    const held: string[] = [];
    const stock: number[] = [];
    const offR = await deps().events.listen('reservation', (e) => {
      if (e.productId === id) held.push(e.reservationId);
    });
    const offS = await deps().events.listen('stock', (e) => {
      if (e.productId === id) stock.push(e.availableQuantity);
    });
    try {
      const before = stats();
      const attempts = admitted(id, Array.from({ length: 120 }, (_, i) => `news-${backend}-${i}`), 10_000);
      const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string }[];
      expect(outcomes.map((o) => o.__typename)).toEqual(Array(120).fill('ReserveSuccess'));
      expect(stats().batches).toBeGreaterThan(before.batches);
      for (let i = 0; i < 100 && !stock.includes(380); i++) await new Promise((r) => setTimeout(r, 50));
      expect(Math.min(...stock)).toBe(380);
      // A hold's events start with its first change: one released now is announced (and only that).
      const first = attempts[0];
      const rel = await releaseReservation(deps(), first.actor, first.reservationId);
      expect(rel.__typename).toBe('ReleaseSuccess');
      for (let i = 0; i < 100 && !held.length; i++) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      expect(held).toEqual([first.reservationId]);
      expect(await h.ledger(id)).toEqual({ total: 500, available: 381, reserved: 119, sold: 0 });
    } finally {
      await offR();
      await offS();
    }
  });

  it('holds the per-user limit across attempts of one shopper in the same batch', async () => {
    const { id } = await h.product({ totalQuantity: 100, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2 } });
    const b = batcherOf(deps());
    const greedy = `greedy-${backend}`;
    const users = [`lead-${backend}`, greedy, `x-${backend}`, greedy, greedy, `y-${backend}`, greedy];
    const attempts = admitted(id, users, 5_000);
    const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string }[];
    expect(outcomes.map((o) => o.__typename)).toEqual([
      'ReserveSuccess',
      'ReserveSuccess',
      'ReserveSuccess',
      'ReserveSuccess',
      'LimitExceeded',
      'ReserveSuccess',
      'LimitExceeded',
    ]);
    expect(await h.ledger(id)).toEqual({ total: 100, available: 95, reserved: 5, sold: 0 });
  });

});

describe('RESERVE_BATCH_MAX', () => {
  it('reads RESERVE_BATCH_MAX (default 250, 1 = every reservation commits alone) and refuses nonsense', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({}).reserveBatchMax).toBe(MAX_BATCH);
    expect(loadConfig({ RESERVE_BATCH_MAX: '1' }).reserveBatchMax).toBe(1);
    expect(() => loadConfig({ RESERVE_BATCH_MAX: '0' })).toThrow(/RESERVE_BATCH_MAX/);
  });

  it('with 1, attempts queued behind a commit still commit, each alone', async () => {
    const h = await harness('embedded', { reserveBatchMax: 1 });
    try {
      const { id } = await h.product({ totalQuantity: 100 });
      const b = batcherOf(h.backend.runtime.deps);
      const attempts = Array.from({ length: 20 }, (_, i) => ({ actor: { userId: `alone-${i}`, roles: [] }, productId: id, quantity: 1, reservationId: randomUUID(), sequence: 1 + i }));
      const outcomes = (await Promise.all(attempts.map((a) => b.commit(a)))) as { __typename: string }[];
      expect(outcomes.map((o) => o.__typename)).toEqual(Array(20).fill('ReserveSuccess'));
      expect(b.stats).toEqual({ batches: 0, attempts: 0, fallbacks: 0 });
      expect(await h.ledger(id)).toEqual({ total: 100, available: 80, reserved: 20, sold: 0 });
    } finally {
      await h.close();
    }
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('reservations on connections of their own (Postgres)', () => {
  it('DATABASE_POOL_SIZE sets the main pool (default 20): that many statements run at once, no more', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({}).poolSize).toBe(20);
    expect(loadConfig({ DATABASE_POOL_SIZE: '40' }).poolSize).toBe(40);
    for (const bad of ['0', '-3', 'many']) expect(() => loadConfig({ DATABASE_POOL_SIZE: bad })).toThrow(/DATABASE_POOL_SIZE/);
    const db = await scratchDatabase();
    const runtime = await createRuntime(
      { databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent', poolSize: 3 },
      { log: quietLog, redisPrefix: `${uniqueName('fsps')}:` },
    );
    try {
      // Eight slow statements at once on a pool of three: three backends serve them all.
      const pids = await Promise.all(
        Array.from({ length: 8 }, async () => rowsOf<{ pid: number }>(await runtime.deps.db.execute(sql`select pg_backend_pid() as pid, pg_sleep(0.2)`))[0].pid),
      );
      expect(new Set(pids).size).toBe(3);
    } finally {
      await runtime.close();
      await db.drop();
    }
  });

  it('a reserve commits while every connection of the main pool is busy; with RESERVE_CONNECTIONS=0 it waits for one', async () => {
    const { loadConfig } = await import('../src/config.js');
    expect(loadConfig({}).reserveConnections).toBe(2);
    expect(loadConfig({ RESERVE_CONNECTIONS: '0' }).reserveConnections).toBe(0);
    expect(() => loadConfig({ RESERVE_CONNECTIONS: '-1' })).toThrow(/RESERVE_CONNECTIONS/);
    for (const [reserveConnections, first] of [[undefined, 'reserve'], [0, 'main pool']] as const) {
      const db = await scratchDatabase();
      const runtime = await createRuntime(
        { databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent', reserveConnections },
        { log: quietLog, redisPrefix: `${uniqueName('fsrc')}:` },
      );
      try {
        const { deps } = runtime;
        const id = `own-${reserveConnections ?? 'default'}`;
        await createProduct(deps, { userId: 'op', roles: ['admin'] }, { id, name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000), perUserLimit: 1, reservationTtlSeconds: 300 } });
        await reserve(deps, { userId: 'warm', roles: [] }, { productId: id, quantity: 1 });
        // Checkouts and pays of a busy sale hold every connection of the main pool (20); a
        // statement for the main pool now waits behind one of them (postgres.js queues it there).
        const done: string[] = [];
        const busy = Promise.all(Array.from({ length: 20 }, () => deps.db.execute(sql`select pg_sleep(1.5)`).then(() => done.push('main pool'))));
        await new Promise((r) => setTimeout(r, 200));
        const r = await reserve(deps, { userId: 'shopper', roles: [] }, { productId: id, quantity: 1 });
        done.push('reserve');
        await busy;
        expect(r.__typename).toBe('ReserveSuccess');
        expect(done[0]).toBe(first);
      } finally {
        await runtime.close();
        await db.drop();
      }
    }
  });
});
