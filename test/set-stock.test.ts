// An operator sets a product's total units (setStock): a restock goes on sale at once, a
// withdrawal comes off it, never below what is held or sold; on every backend and in every process.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { Redis } from 'ioredis';
import { gateKeys } from '../src/adapters/redis/gate.js';
import { type ReconcileMemo, reconcileGate } from '../src/domain/gate/reconcile.js';
import { BACKENDS, REDIS_URL } from './support/backends.js';
import { type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';

const SET = /* GraphQL */ `
  mutation($id: ID!, $total: Int!) { setStock(productId: $id, totalQuantity: $total) { id sale { state } inventory { totalQuantity availableQuantity reservedQuantity } } }
`;
const INVENTORY = /* GraphQL */ `query($id: ID!) { inventory(productId: $id) { totalQuantity availableQuantity } }`;

describe.each(BACKENDS)('setStock on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');
  const shopper = (name: string) => h.token(`${name}-${tag}`);
  const reserveAs = async (name: string, id: string) => (await h.gql(RESERVE, { input: { productId: id } }, await shopper(name))).data.reserve.__typename;
  const movements = async (id: string) =>
    rowsOf<{ kind: string; quantity: number; actor: string }>(
      await h.backend.runtime.deps.db.execute(sql`select kind, quantity, actor from stock_movements where product_id = ${id} and kind in ('RESTOCK', 'WITHDRAW') order by id`),
    );

  it('restocks a sold-out product: the new units are reserved at once, exactly as many as were added', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    expect([await reserveAs('rs-a', id), await reserveAs('rs-b', id), await reserveAs('rs-c', id)]).toEqual(['ReserveSuccess', 'ReserveSuccess', 'SoldOut']);
    expect(h.backend.runtime.deps.gate.knownSoldOut(id)).toBe(true);

    const set = await h.gql(SET, { id, total: 5 }, await h.admin());
    expect(set.errors).toBeUndefined();
    expect(set.data.setStock).toMatchObject({ sale: { state: 'LIVE' }, inventory: { totalQuantity: 5, availableQuantity: 3, reservedQuantity: 2 } });
    expect((await h.gql(INVENTORY, { id })).data.inventory).toEqual({ totalQuantity: 5, availableQuantity: 3 });
    expect(h.backend.runtime.deps.gate.knownSoldOut(id)).toBe(false);
    // The gate got exactly the three: three more shoppers win, the fourth is refused.
    const after = [];
    for (const n of ['rs-d', 'rs-e', 'rs-f', 'rs-g']) after.push(await reserveAs(n, id));
    expect(after).toEqual(['ReserveSuccess', 'ReserveSuccess', 'ReserveSuccess', 'SoldOut']);
    expect(await h.ledger(id)).toEqual({ total: 5, available: 0, reserved: 5, sold: 0 });
    expect(await movements(id)).toEqual([{ kind: 'RESTOCK', quantity: 3, actor: 'operator' }]);
  });

  it('withdraws unsold units, never below what is held or sold; the last ones withdrawn make it sold out; the same total again changes nothing', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    expect(await reserveAs('wd-a', id)).toBe('ReserveSuccess');
    const admin = await h.admin();
    expect((await h.gql(SET, { id, total: 3 }, admin)).data.setStock.inventory).toMatchObject({ totalQuantity: 3, availableQuantity: 2 });

    const below = await h.gql(SET, { id, total: 0 }, admin);
    expect(below.errors![0]).toMatchObject({ message: expect.stringMatching(/cannot go below the 1 units already held or sold/), extensions: { code: 'INVALID_INPUT', field: 'totalQuantity' } });
    expect(await h.ledger(id)).toEqual({ total: 3, available: 2, reserved: 1, sold: 0 });

    expect((await h.gql(SET, { id, total: 1 }, admin)).data.setStock).toMatchObject({ sale: { state: 'SOLD_OUT' }, inventory: { totalQuantity: 1, availableQuantity: 0 } });
    expect(await reserveAs('wd-b', id)).toBe('SoldOut');
    // The product's followers are told it sold out, as after the last reserve.
    const outbox = rowsOf(await h.backend.runtime.deps.db.execute(sql`select 1 from outbox where topic = 'product.sold_out' and aggregate_id = ${id}`));
    expect(outbox).toHaveLength(1);

    const again = await h.gql(SET, { id, total: 1 }, admin);
    expect(again.data.setStock.inventory).toMatchObject({ totalQuantity: 1, availableQuantity: 0 });
    expect(await movements(id)).toEqual([
      { kind: 'WITHDRAW', quantity: 2, actor: 'operator' },
      { kind: 'WITHDRAW', quantity: 2, actor: 'operator' },
    ]);
    expect(await h.ledger(id)).toEqual({ total: 1, available: 0, reserved: 1, sold: 0 });
  });

  it('is for operators only; bad input and unknown products are refused; nothing changes; every call is audited', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    expect((await h.gql(SET, { id, total: 9 }, await shopper('set-mallory'))).errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(SET, { id, total: 9 })).errors![0].extensions.code).toBe('UNAUTHENTICATED');
    const admin = await h.admin();
    expect((await h.gql(SET, { id, total: -1 }, admin)).errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'totalQuantity' });
    expect((await h.gql(SET, { id, total: 100_000_001 }, admin)).errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'totalQuantity' });
    expect((await h.gql(SET, { id: 'no-such-product', total: 3 }, admin)).errors![0].extensions.code).toBe('NOT_FOUND');
    expect((await h.gql(SET, { id: "'; drop table products; --", total: 3 }, admin)).errors![0].extensions.code).toBe('INVALID_INPUT');
    expect(await h.ledger(id)).toEqual({ total: 2, available: 2, reserved: 0, sold: 0 });
    expect(await movements(id)).toEqual([]);
    // Refused calls are audited too (no target: nothing was returned; the arguments say which).
    const audited = rowsOf<{ actor: string; outcome: string }>(
      await h.backend.runtime.deps.db.execute(sql`select actor, outcome from audit_log where action = 'mutation.setStock' and details::text like ${`%"${id}"%`} order by id`),
    );
    expect(audited).toEqual([
      { actor: `set-mallory-${tag}`, outcome: 'FORBIDDEN' },
      { actor: 'anonymous', outcome: 'UNAUTHENTICATED' },
      { actor: 'operator', outcome: 'INVALID_INPUT' },
      { actor: 'operator', outcome: 'INVALID_INPUT' },
    ]);
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('setStock across processes (Postgres + Redis)', () => {
  it('one api process restocks a product another knew was sold out; the other serves the new units', async () => {
    const { a, b, gql, admin, product, close } = await twoApis('setstock');
    const reserve = async (url: string, who: string) => (await gql(url, RESERVE, { input: { productId: 'two-proc-stock' } }, await signToken(TEST_SECRET, { sub: who }))).data.reserve.__typename;
    try {
      await product('two-proc-stock', { totalQuantity: 1 });
      expect(await reserve(b.url, 'y1')).toBe('ReserveSuccess');
      // B knows it is sold out (answered from memory from now on).
      expect(await reserve(b.url, 'y2')).toBe('SoldOut');

      expect((await gql(a.url, SET, { id: 'two-proc-stock', total: 3 }, admin)).data.setStock.inventory.availableQuantity).toBe(2);
      // B learns it from the stock event, and sells exactly the two new units.
      let available = 0;
      for (let i = 0; i < 100 && available !== 2; i++) {
        await new Promise((r) => setTimeout(r, 20));
        available = (await gql(b.url, INVENTORY, { id: 'two-proc-stock' })).data.inventory.availableQuantity;
      }
      expect(available).toBe(2);
      expect([await reserve(b.url, 'y3'), await reserve(b.url, 'y4'), await reserve(b.url, 'y5')]).toEqual(['ReserveSuccess', 'ReserveSuccess', 'SoldOut']);
    } finally {
      await close();
    }
  }, 120_000);
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('setStock and the gate reconciliation (Postgres + Redis)', () => {
  let h: Harness;
  let spy: Redis;
  beforeAll(async () => {
    h = await harness('postgres+redis');
    spy = new Redis(REDIS_URL);
  }, 180_000);
  afterAll(async () => {
    spy?.disconnect();
    await h?.close();
  });

  /** What setStock's transaction commits, done by hand so a pass can run before the adjustment. */
  const commitTotal = (id: string, delta: number) =>
    h.backend.runtime.deps.db.execute(
      sql`update products set total_quantity = total_quantity + ${delta}, available_quantity = available_quantity + ${delta}, version = version + 1 where id = ${id}`,
    );

  it('a pass between the commit and the adjustment changes nothing, so the change is counted once (withdrawal and restock)', async () => {
    const deps = h.backend.runtime.deps;
    const { id } = await h.product({ totalQuantity: 10 });
    const key = gateKeys(h.backend.redisPrefix!, id).gate;
    const stock = async () => Number(await spy.hget(key, 'stock'));
    const memo: ReconcileMemo = new Map();
    const pass = () => reconcileGate(deps, { settleMs: 0, productIds: [id] }, memo);
    expect(await stock()).toBe(10);

    // Withdraw 4: Postgres has it, the gate not yet. Without the mark the pass would lower the gate to
    // 6, and the adjustment then take it to 2.
    await deps.gate.beginAdjust(id);
    await commitTotal(id, -4);
    expect(await pass()).toMatchObject({ lowered: 0 });
    expect(await stock()).toBe(10);
    await deps.gate.adjustStock(id, -4);
    expect(await stock()).toBe(6);
    expect(await pass()).toMatchObject({ lowered: 0, raised: 0 });

    // Restock 5: the raise path (two passes, the gate standing still) waits for the adjustment too.
    await deps.gate.beginAdjust(id);
    await commitTotal(id, 5);
    expect(await pass()).toMatchObject({ raised: 0 });
    expect(await pass()).toMatchObject({ raised: 0 });
    await deps.gate.adjustStock(id, 5);
    expect(await stock()).toBe(11);
    for (let i = 0; i < 2; i++) expect(await pass()).toMatchObject({ lowered: 0, raised: 0 });
    expect(await stock()).toBe(11);
    expect(await h.ledger(id)).toMatchObject({ total: 11, available: 11 });
    expect(await spy.hmget(key, 'adjusting', 'adjustUntil')).toEqual([null, null]);
  });

  it('a mark whose process died runs out, and the pass then corrects the gate', async () => {
    const deps = h.backend.runtime.deps;
    const { id } = await h.product({ totalQuantity: 8 });
    const key = gateKeys(h.backend.redisPrefix!, id).gate;
    // Marked, committed, and the process gone before its adjustment: the mark ran out long ago.
    await deps.gate.beginAdjust(id);
    await commitTotal(id, -3);
    await spy.hset(key, 'adjustUntil', '1');
    expect(await reconcileGate(deps, { settleMs: 0, productIds: [id] }, new Map())).toMatchObject({ lowered: 1 });
    expect(await spy.hget(key, 'stock')).toBe('5');
    expect(await spy.hmget(key, 'adjusting', 'adjustUntil')).toEqual([null, null]);
  });

  it('setStock itself leaves no mark behind, whether it changed the stock, changed nothing or was refused', async () => {
    const { id } = await h.product({ totalQuantity: 3 });
    const key = gateKeys(h.backend.redisPrefix!, id).gate;
    const admin = await h.admin();
    expect((await h.gql(SET, { id, total: 7 }, admin)).errors).toBeUndefined();
    expect((await h.gql(SET, { id, total: 7 }, admin)).errors).toBeUndefined();
    expect((await h.gql(RESERVE, { input: { productId: id } }, await h.token('mark-holder'))).data.reserve.__typename).toBe('ReserveSuccess');
    expect((await h.gql(SET, { id, total: 0 }, admin)).errors![0].extensions.code).toBe('INVALID_INPUT');
    expect(await spy.hmget(key, 'stock', 'adjusting', 'adjustUntil')).toEqual(['6', null, null]);
  });
});
