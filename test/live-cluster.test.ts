// Live updates across real server processes on one Redis and one Postgres.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { RESERVE, TEST_SECRET } from './support/harness.js';
import { collect, COUNTDOWN, createSaleProduct as createProduct, httpGql, type ServerProcess, startServer, STOCK, wsClient } from './support/live.js';

const token = (sub: string, roles: string[] = []) => signToken(TEST_SECRET, { sub, roles });

describe('live updates across processes (postgres+redis)', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let a: ServerProcess;
  let b: ServerProcess;
  beforeAll(async () => {
    db = await scratchDatabase();
    // Load shedding off: on a busy CI machine the event loop can lag past SHED_MAX_LAG_MS during
    // the 500-reserve burst, and a shed reserve (UNAVAILABLE) would break the exact counts this
    // test is about (shedding has its own tests in test/ops.test.ts).
    const env = { DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: `${uniqueName('fslive')}:`, SWEEP_INTERVAL_MS: '200', LOAD_SHEDDING: 'off' };
    // Migrate once here, so the two processes do not race to do it.
    await (await openDatabase({ databaseUrl: db.url })).close();
    // A serves the API; B serves the API and runs the worker (the expiry sweeper).
    [a, b] = await Promise.all([startServer({ ...env, ROLE: 'api' }), startServer({ ...env, ROLE: 'all' })]);
  }, 180_000);
  afterAll(async () => {
    for (const p of [a, b]) p?.kill();
    await db?.drop();
  });

  it('500 concurrent reserves on A: a subscriber on B sees the stock only fall, end on the truth and sell out', async () => {
    const id = uniqueName('burst').replace(/_/g, '-');
    await createProduct(a.url, id, 200);
    const client = wsClient(b.port);
    const sub = collect<{ stockChanged: { availableQuantity: number; soldOut: boolean } }>(client, STOCK, { id });
    await sub.until(() => true);
    const tokens = await Promise.all(Array.from({ length: 500 }, (_, i) => token(`burst-${i}`)));
    const results = await Promise.all(
      tokens.map((t) =>
        fetch(a.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${t}` },
          body: JSON.stringify({ query: RESERVE, variables: { input: { productId: id } } }),
        }).then((r) => r.json() as Promise<any>),
      ),
    );
    const kinds = results.map((r) => r.data?.reserve.__typename ?? JSON.stringify(r.errors));
    expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(200);
    expect(kinds.filter((k) => k === 'SoldOut')).toHaveLength(300);

    const last = await sub.until((v) => v.stockChanged.soldOut);
    const seen = sub.values.map((v) => v.stockChanged.availableQuantity);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThanOrEqual(seen[i - 1]);
    expect(seen[0]).toBe(200);
    expect(last.stockChanged.availableQuantity).toBe(0);
    // The truth, read over HTTP from both processes.
    for (const p of [a, b]) {
      const inv = await httpGql(p.url, `query($id: ID!) { inventory(productId: $id) { availableQuantity reservedQuantity soldOut } }`, { id });
      expect(inv.data.inventory).toEqual({ availableQuantity: 0, reservedQuantity: 200, soldOut: true });
    }
    // Sold out is known on B too: it answers SoldOut.
    const late = await httpGql(b.url, RESERVE, { input: { productId: id } }, await token('late-comer'));
    expect(late.data.reserve.__typename).toBe('SoldOut');

    // A release on A puts a unit back: B's ticker goes up, and B's sold-out flag clears.
    const winner = results.findIndex((r) => r.data?.reserve.__typename === 'ReserveSuccess');
    const rel = await httpGql(a.url, `mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: results[winner].data.reserve.reservation.id }, tokens[winner]);
    expect(rel.data.releaseReservation.__typename).toBe('ReleaseSuccess');
    await sub.until((v) => v.stockChanged.availableQuantity === 1);
    const again = await httpGql(b.url, RESERVE, { input: { productId: id } }, await token('second-chance'));
    expect(again.data.reserve.__typename).toBe('ReserveSuccess');
    await sub.until((v) => v.stockChanged.availableQuantity === 0);
    await client.dispose();
  });

  it('expiry is pushed: the worker on B expires a hold, the countdown on B ends EXPIRED and the stock goes back up', async () => {
    const id = uniqueName('ttl').replace(/_/g, '-');
    await createProduct(a.url, id, 5, 1);
    const shopper = await token('ttl-shopper');
    const r = await httpGql(a.url, RESERVE, { input: { productId: id } }, shopper);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const client = wsClient(b.port, shopper);
    const stock = collect<{ stockChanged: { availableQuantity: number } }>(client, STOCK, { id });
    const countdown = collect<{ reservationCountdown: { secondsLeft: number; reservation: { status: string } } }>(client, COUNTDOWN, {
      id: r.data.reserve.reservation.id,
    });
    expect(await countdown.done).toBe('complete');
    const final = countdown.values.at(-1)!.reservationCountdown;
    expect(final).toEqual({ secondsLeft: 0, reservation: { id: r.data.reserve.reservation.id, status: 'EXPIRED' } });
    await stock.until((v) => v.stockChanged.availableQuantity === 5);
    await client.dispose();
  });
});
