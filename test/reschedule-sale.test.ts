// An operator moves a sale's window (rescheduleSale): a scheduled sale postponed or brought forward, an
// open sale extended; every backend, every process and every live ticker follows; what is refused changes nothing.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { rowsOf } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { BACKENDS } from './support/backends.js';
import { type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';
import { waitFor } from './support/servers.js';

const RESCHEDULE = /* GraphQL */ `
  mutation($id: ID!, $startsAt: DateTime!, $endsAt: DateTime) {
    rescheduleSale(productId: $id, startsAt: $startsAt, endsAt: $endsAt) { id sale { startsAt endsAt state } }
  }
`;
const PRODUCT = /* GraphQL */ `query($id: ID!) { product(id: $id) { sale { startsAt endsAt state } inventory { saleStartsAt saleEndsAt } } }`;
const TICKER = /* GraphQL */ `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity saleStartsAt saleEndsAt } }`;

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
const ms = (iso: string) => new Date(iso).getTime();

interface Tick {
  availableQuantity: number;
  saleStartsAt: string;
  saleEndsAt: string | null;
}

/** A real graphql-ws client on `url` watching the product's ticker; `until` waits for a matching push. */
function ticker(url: string, id: string) {
  const client = createClient({ url: url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0 });
  const seen: Tick[] = [];
  let failed: unknown;
  const stop = client.subscribe<{ stockChanged: Tick }>(
    { query: TICKER, variables: { id } },
    { next: (m) => seen.push(m.data!.stockChanged), error: (e) => (failed = e), complete: () => {} },
  );
  return {
    seen,
    async until(ok: (t: Tick) => boolean): Promise<Tick> {
      let hit: Tick | undefined;
      await waitFor(
        () => {
          if (failed) throw new Error(`ticker failed: ${JSON.stringify(failed)}`);
          return (hit = seen.find(ok)) !== undefined;
        },
        'a matching stockChanged push',
        5_000,
        20,
      );
      return hit!;
    },
    async close() {
      stop();
      await client.dispose();
    },
  };
}

describe.each(BACKENDS)('rescheduleSale on %s', (backend) => {
  let h: Harness;
  let url: string;
  beforeAll(async () => {
    h = await harness(backend);
    url = `http://127.0.0.1:${await h.app.start(0, '127.0.0.1')}`;
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');
  const shopper = (name: string) => h.token(`${name}-${tag}`);

  it('postpones a scheduled sale: the new window everywhere (product, gate, refusals, live ticker); a repeat changes nothing', async () => {
    const { id } = await h.product({ totalQuantity: 4, sale: { startsAt: inMinutes(60) } });
    const watch = ticker(url, id);
    try {
      await watch.until((t) => t.availableQuantity === 4);
      const startsAt = inMinutes(120);
      const endsAt = inMinutes(180);
      const moved = await h.gql(RESCHEDULE, { id, startsAt, endsAt }, await h.admin());
      expect(moved.errors).toBeUndefined();
      expect(moved.data.rescheduleSale.sale).toEqual({ startsAt, endsAt, state: 'SCHEDULED' });
      // The live ticker carries the new window without a change of stock.
      expect(await watch.until((t) => t.saleStartsAt === startsAt)).toEqual({ availableQuantity: 4, saleStartsAt: startsAt, saleEndsAt: endsAt });
      expect((await h.gql(PRODUCT, { id })).data.product).toEqual({
        sale: { startsAt, endsAt, state: 'SCHEDULED' },
        inventory: { saleStartsAt: startsAt, saleEndsAt: endsAt },
      });
      // The REST mirror too.
      const rest = await (await h.app.fetch(`http://test/inventory/${id}`)).json();
      expect(rest).toMatchObject({ available_quantity: 4, sale_starts_at: startsAt, sale_ends_at: endsAt });
      const early = await h.gql(RESERVE, { input: { productId: id } }, await shopper('rs-early'));
      expect(early.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_NOT_STARTED' });
      expect(early.data.reserve.message).toContain(startsAt);
      // The gate holds the new window itself: 90 minutes from now is still before the start.
      const gate = h.backend.runtime.deps.gate;
      const at = (min: number) => gate.admit({ productId: id, userId: `rs-gate-${tag}`, quantity: 1, nowMs: Date.now() + min * 60_000, reservationId: randomUUID() });
      expect(await at(90)).toEqual({ outcome: 'NOT_STARTED' });
      expect(await at(200)).toEqual({ outcome: 'ENDED' });

      const again = await h.gql(RESCHEDULE, { id, startsAt, endsAt }, await h.admin());
      expect(again.data.rescheduleSale.sale).toEqual(moved.data.rescheduleSale.sale);
      expect(await h.ledger(id)).toEqual({ total: 4, available: 4, reserved: 0, sold: 0 });
      // Both calls are in the audit log, with who made them.
      const audited = rowsOf<{ actor: string; outcome: string }>(
        await h.backend.runtime.deps.db.execute(sql`select actor, outcome from audit_log where action = 'mutation.rescheduleSale' and target = ${id}`),
      );
      expect(audited).toEqual([
        { actor: 'operator', outcome: 'ok' },
        { actor: 'operator', outcome: 'ok' },
      ]);
    } finally {
      await watch.close();
    }
  });

  it('brings a scheduled sale forward: a start already past opens it now, and shoppers reserve at once', async () => {
    const { id } = await h.product({ totalQuantity: 2, sale: { startsAt: inMinutes(60), endsAt: inMinutes(90) } });
    const before = Date.now();
    const opened = await h.gql(RESCHEDULE, { id, startsAt: new Date(before - 3_600_000).toISOString(), endsAt: null }, await h.admin());
    expect(opened.errors).toBeUndefined();
    const sale = opened.data.rescheduleSale.sale;
    expect(sale).toMatchObject({ endsAt: null, state: 'LIVE' });
    // Stored as the moment it opened, not an hour ago.
    expect(ms(sale.startsAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(ms(sale.startsAt)).toBeLessThanOrEqual(Date.now());
    const r = await h.gql(RESERVE, { input: { productId: id } }, await shopper('rs-first'));
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    expect(await h.ledger(id)).toEqual({ total: 2, available: 1, reserved: 1, sold: 0 });
  });

  it('extends an open sale or gives it an end; its start cannot move; holds keep their time', async () => {
    const { id } = await h.product({ totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: inMinutes(10) } });
    const held = await h.gql(RESERVE, { input: { productId: id } }, await shopper('rs-holder'));
    expect(held.data.reserve.__typename).toBe('ReserveSuccess');
    const { startsAt } = (await h.gql(PRODUCT, { id })).data.product.sale;

    const longer = await h.gql(RESCHEDULE, { id, startsAt, endsAt: inMinutes(30) }, await h.admin());
    expect(longer.errors).toBeUndefined();
    expect(longer.data.rescheduleSale.sale.state).toBe('LIVE');
    const openEnded = await h.gql(RESCHEDULE, { id, startsAt, endsAt: null }, await h.admin());
    expect(openEnded.data.rescheduleSale.sale).toEqual({ startsAt, endsAt: null, state: 'LIVE' });
    // The gate too: a reserve a day from now would still be admitted.
    const gated = await h.backend.runtime.deps.gate.admit({ productId: id, userId: `rs-later-${tag}`, quantity: 1, nowMs: Date.now() + 86_400_000, reservationId: randomUUID() });
    expect(gated.outcome).toBe('ADMITTED');
    await h.backend.runtime.deps.gate.release(id, `rs-later-${tag}`, 1, true);

    const admin = await h.admin();
    const refused = async (vars: Record<string, unknown>, field: string, message: RegExp) => {
      const out = await h.gql(RESCHEDULE, { id, ...vars }, admin);
      expect(out.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field });
      expect(out.errors![0].message).toMatch(message);
    };
    await refused({ startsAt: inMinutes(5), endsAt: inMinutes(30) }, 'startsAt', /opened at .*can no longer move/);
    await refused({ startsAt, endsAt: new Date(Date.now() - 1000).toISOString() }, 'endsAt', /in the past/);
    await refused({ startsAt, endsAt: new Date(ms(startsAt) - 1000).toISOString() }, 'endsAt', /after startsAt/);
    // Nothing changed: still open-ended, the hold still active.
    expect((await h.gql(PRODUCT, { id })).data.product.sale).toEqual({ startsAt, endsAt: null, state: 'LIVE' });
    expect(await h.ledger(id)).toEqual({ total: 3, available: 2, reserved: 1, sold: 0 });
  });

  it('does not reopen a sale that is over, is for operators only, and refuses bad input; nothing changes', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    const admin = await h.admin();
    const startsAt = inMinutes(5);
    const denied = await h.gql(RESCHEDULE, { id, startsAt }, await shopper('rs-mallory'));
    expect(denied.errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(RESCHEDULE, { id, startsAt })).errors![0].extensions.code).toMatch(/UNAUTHENTICATED|FORBIDDEN/);
    expect((await h.gql(RESCHEDULE, { id: 'no-such-product', startsAt }, admin)).errors![0].extensions.code).toBe('NOT_FOUND');
    expect((await h.gql(RESCHEDULE, { id: "'; drop table products; --", startsAt }, admin)).errors![0].extensions.code).toBe('INVALID_INPUT');
    expect((await h.gql(RESCHEDULE, { id, startsAt: 'tomorrow' }, admin)).errors![0].extensions.code).toBe('INVALID_INPUT');
    expect((await h.gql(PRODUCT, { id })).data.product.sale.state).toBe('LIVE');

    const ended = await h.gql(`mutation($id: ID!) { endSale(productId: $id) { sale { startsAt endsAt } } }`, { id }, admin);
    const over = await h.gql(RESCHEDULE, { id, startsAt, endsAt: inMinutes(60) }, admin);
    expect(over.errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'productId' });
    expect(over.errors![0].message).toMatch(/is not reopened/);
    expect((await h.gql(PRODUCT, { id })).data.product.sale).toEqual({ ...ended.data.endSale.sale, state: 'ENDED' });
    const r = await h.gql(RESERVE, { input: { productId: id } }, await shopper('rs-after-end'));
    expect(r.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_ENDED' });
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('rescheduleSale across processes (Postgres + Redis)', () => {
  it("one api process postpones the sale; the other's catalogue, gate answers and live ticker follow", async () => {
    const { a, b, gql, admin, product, close } = await twoApis('reschedule');
    let watch: ReturnType<typeof ticker> | undefined;
    try {
      await product('two-proc-move', { sale: { startsAt: inMinutes(60) } });
      watch = ticker(b.url, 'two-proc-move');
      const first = await watch.until(() => true);
      expect(ms(first.saleStartsAt)).toBeGreaterThan(Date.now());
      // B has the product in memory before the move.
      expect((await gql(b.url, PRODUCT, { id: 'two-proc-move' })).data.product.sale.state).toBe('SCHEDULED');

      // Brought forward to now on A: B's ticker, catalogue and reserves follow.
      const moved = await gql(a.url, RESCHEDULE, { id: 'two-proc-move', startsAt: new Date().toISOString(), endsAt: inMinutes(30) }, admin);
      expect(moved.errors).toBeUndefined();
      const { startsAt, endsAt } = moved.data.rescheduleSale.sale;
      expect(await watch.until((t) => t.saleStartsAt === startsAt)).toMatchObject({ saleStartsAt: startsAt, saleEndsAt: endsAt });
      expect((await gql(b.url, PRODUCT, { id: 'two-proc-move' })).data.product.sale).toEqual({ startsAt, endsAt, state: 'LIVE' });
      const r = await gql(b.url, RESERVE, { input: { productId: 'two-proc-move' } }, await signToken(TEST_SECRET, { sub: 'mv1' }));
      expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    } finally {
      await watch?.close();
      await close();
    }
  }, 120_000);
});
