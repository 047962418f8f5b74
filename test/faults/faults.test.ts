// Fault tests (npm run test:faults): a real cluster — our own Postgres and Redis on
// loopback, 2 api processes and 1 worker — runs a flash sale while one thing breaks.
// FAULT_SHOPPERS (default 5000), FAULT_UNITS (1000), FAULT_CONCURRENCY (64) scale it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OwnPostgres, type OwnRedis, ownPostgres, ownRedis } from '../support/servers.js';
import { type Cluster, cluster } from './cluster.js';
import { audit, createProduct, ledger, runShoppers, type SaleResult, waitGateAgrees, waitSettled } from './sale.js';

// The figures are 5,000 shoppers for 1,000 units; on the shared 2-core CI box
// that does not fit in ~5 minutes for four scenarios, so the default is a tenth of it.
// FAULT_SHOPPERS=5000 FAULT_UNITS=1000 runs the full size.
const SHOPPERS = Number(process.env.FAULT_SHOPPERS ?? 500);
const UNITS = Number(process.env.FAULT_UNITS ?? 100);
const CONCURRENCY = Number(process.env.FAULT_CONCURRENCY ?? 32);
const TTL_SECONDS = Number(process.env.FAULT_TTL_SECONDS ?? 15);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomBetween = (a: number, b: number) => Math.floor(a + Math.random() * (b - a));

let pg: OwnPostgres;
let redis: OwnRedis;

beforeAll(async () => {
  [pg, redis] = await Promise.all([ownPostgres(), ownRedis()]);
});
afterAll(async () => {
  await redis?.kill();
  await pg?.destroy();
});

interface Run {
  c: Cluster;
  shoppers: number;
  productId: string;
  sale: SaleResult;
  faultAt: number;
  t0: number;
}

/**
 * Runs a sale of UNITS to SHOPPERS and fires `fault` once a random number of units
 * (10%..60%) is reserved; returns when the shoppers are done and the fault has cleared.
 */
async function saleWithFault(name: string, fault: (c: Cluster) => Promise<void>, env: Record<string, string> = {}): Promise<Run> {
  const t0 = Date.now();
  const c = await cluster(pg, redis, `fault_${name.replace(/\W/g, "_")}_${Date.now().toString(36)}`, env);
  const productId = `fault-${name}`;
  await createProduct(c, productId, UNITS, TTL_SECONDS);
  const faultAt = randomBetween(Math.floor(UNITS * 0.1), Math.floor(UNITS * 0.6));
  let fire!: () => void;
  const fired = new Promise<void>((r) => (fire = r));
  const faultDone = fired.then(() => fault(c));
  const sale = await runShoppers(c, {
    productId,
    shoppers: SHOPPERS,
    concurrency: CONCURRENCY,
    prefix: `${name}-shopper`,
    onReserved: (n) => n === faultAt && fire(),
  });
  fire();
  await faultDone;
  return { c, productId, sale, faultAt, t0, shoppers: SHOPPERS };
}

/** The last lines each api process and the worker printed. */
function printLogs(c: Cluster) {
  for (const p of [...c.apis, c.worker]) console.log(`--- ${p.role} ${p.port ?? ''}\n${p.output.join('').slice(-6000)}`);
}

/** The checks every fault must pass, then a final wave proving every unsold unit can be sold again. */
async function verify(name: string, run: Run) {
  try {
    await check(name, run);
  } catch (err) {
    // What the processes said last: how a fault that did not clear can be told apart.
    printLogs(run.c);
    throw err;
  } finally {
    await run.c.close();
  }
}

async function check(name: string, run: Run) {
  const { c, productId, sale } = run;
  const settled = await waitSettled(c, productId);
  const gate = await waitGateAgrees(c, productId);
  const before = settled.ledger;
  const finalWave = await runShoppers(c, {
    productId,
    shoppers: before.available + 20,
    concurrency: CONCURRENCY,
    prefix: `${name}-final`,
    abandon: true,
  });
  const after = await audit(c, productId);
  const figures = {
    scenario: name,
    shoppers: run.shoppers,
    units: UNITS,
    faultAfterReserved: run.faultAt,
    outcomes: sale.outcomes,
    requests: sale.requests,
    retries: sale.retries,
    saleSeconds: sale.ms / 1000,
    ledgerAfterFault: before,
    gateAfterFault: gate,
    paidOrders: settled.paidOrders,
    paymentsAwaitingReconciliation: settled.paymentsInFlight,
    unitsHeldByThem: settled.heldByPaymentsInFlight,
    finalWave: { reserved: finalWave.reserved, soldOut: finalWave.outcomes['sold-out'], other: finalWave.outcomes.other },
    ledgerAtEnd: after.ledger,
    scenarioSeconds: (Date.now() - run.t0) / 1000,
  };
  console.log(`\n[fault: ${name}]\n${JSON.stringify(figures, null, 2)}`);
  if (sale.others.length) console.log('unexpected answers:', sale.others);
  if (process.env.FAULT_SHOW_LOGS) printLogs(c);

  // sold ≤ total and available + reserved + sold = total
  expect(before.sold).toBeLessThanOrEqual(before.total);
  expect(before.available + before.reserved + before.sold).toBe(before.total);
  expect(after.ledger.available + after.ledger.reserved + after.ledger.sold).toBe(after.ledger.total);
  // every paid order: exactly one successful charge and one confirmation
  expect(settled.ordersWithWrongChargesOrConfirmations).toBe(0);
  expect(after.ordersWithWrongChargesOrConfirmations).toBe(0);
  expect(settled.purchasedUnits).toBe(before.sold);
  expect(settled.paidOrders).toBe(before.sold);
  expect(sale.outcomes.paid).toBeLessThanOrEqual(before.sold);
  // arrival sequence numbers stay unique
  expect(after.duplicateSequences).toBe(0);
  // every shopper got a definite answer or a retryable error
  expect(sale.outcomes.other).toBe(0);
  expect(Object.values(sale.outcomes).reduce((a, b) => a + b, 0)).toBe(run.shoppers);
  // after the fault: every unsold unit (but those a dead process's payment still holds) is on sale again
  expect(before.reserved).toBe(settled.heldByPaymentsInFlight);
  // (holds of the final wave itself may expire and be taken again while it runs, hence ≥)
  expect(finalWave.reserved).toBeGreaterThanOrEqual(before.available);
  expect(finalWave.outcomes.other).toBe(0);
}

describe('fault tests', () => {
  it('(1) Redis killed at a random moment mid-sale, then restarted (production rate limits on)', async () => {
    // As in production, every reserve, checkout and payment takes its rate-limit buckets first (the
    // per-IP ones raised: every shopper here comes from one address). While Redis is gone they are
    // taken in each process instead; until 2026-12-04 every reserve was refused meanwhile.
    const limits = { RATE_LIMIT: 'on', RATE_LIMIT_RESERVE_IP: '1000000/1s', RATE_LIMIT_READ_IP: '1000000/1m', RATE_LIMIT_CHECKOUT_IP: '1000000/1m' };
    const run = await saleWithFault(
      'redis',
      async () => {
        await redis.kill();
        await sleep(randomBetween(1000, 3000));
        await redis.start();
      },
      limits,
    );
    let local = 0;
    for (const api of run.c.apis) {
      const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
      local += Number(/^flashsale_ratelimit_local_total (\d+)/m.exec(text)?.[1] ?? 0);
    }
    console.log(`[fault: redis] rate-limit checks taken in process while Redis was gone: ${local}`);
    await verify('redis', run);
    expect(local).toBeGreaterThan(0);
  });

  it('(2) Postgres restarted mid-sale', async () => {
    const run = await saleWithFault('postgres', async () => {
      await pg.stop();
      await sleep(randomBetween(1000, 3000));
      await pg.start();
    });
    await verify('postgres', run);
  });

  // Found, at full size, that a connection cut with socket.destroy(err) lost the queries handed to
  // it before its close (src/adapters/db/watchdog.ts, kill): a process's payment settlements stalled.
  it('(2b) Postgres stops answering mid-sale (SIGSTOP: connections left open), then carries on', async () => {
    let cut: number[] = [];
    const run = await saleWithFault(
      'postgres-hang',
      async (c) => {
        // The product row held for a moment first, so reserves' COMMITs are waiting in the server
        // when it stops: they are cut in doubt, and committed when it carries on.
        const holder = await c.sql.reserve();
        try {
          await holder`begin`;
          await holder`select 1 from products where id = ${"fault-postgres-hang"} for update`;
          await sleep(300);
          pg.pause();
          try {
            await sleep(randomBetween(2500, 4000));
          } finally {
            pg.resume();
          }
          await holder`commit`;
        } finally {
          holder.release();
        }
        // Each api process's watchdog took it for hung and cut its connections (commits in doubt among them).
        cut = await Promise.all(
          c.apis.map(async (a) => Number(/^flashsale_postgres_unresponsive_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${a.port}/metrics`)).text())?.[1])),
        );
      },
      { POSTGRES_TIMEOUT_MS: '1000' },
    );
    expect(cut.every((n) => n >= 1)).toBe(true);
    await verify('postgres-hang', run);
  });

  it('(3) one api process SIGKILLed mid-sale', async () => {
    const run = await saleWithFault('api-kill', async (c) => {
      await c.kill(c.apis[1], 'SIGKILL');
      await sleep(1000);
      await c.start(c.apis[1]);
    });
    await verify('api-kill', run);
  });

  it('(4) the worker killed while sweeping expiries', async () => {
    const t0 = Date.now();
    const c = await cluster(pg, redis, `fault_sweep_${Date.now().toString(36)}`);
    const productId = 'fault-sweep';
    await createProduct(c, productId, UNITS, 3);
    // Every unit is held, then abandoned: the sweeper must give all of them back.
    const holds = await runShoppers(c, { productId, shoppers: UNITS, concurrency: CONCURRENCY, prefix: 'sweep-holder', abandon: true });
    expect(holds.reserved).toBe(UNITS);
    let expiredWhenKilled = 0;
    for (const until = Date.now() + 30_000; Date.now() < until; ) {
      const [row] = await c.sql`select count(*)::int as n from reservations where status = 'EXPIRED'`;
      expiredWhenKilled = Number(row.n);
      if (expiredWhenKilled > 0) break;
      await sleep(5);
    }
    await c.kill(c.worker, 'SIGKILL');
    const sweptByDeadWorker = await ledger(c, productId);
    await sleep(1000);
    await c.start(c.worker);
    const shoppers = Math.max(SHOPPERS - UNITS, UNITS);
    const sale = await runShoppers(c, { productId, shoppers, concurrency: CONCURRENCY, prefix: 'sweep-shopper' });
    console.log(`\n[fault: worker] killed after ${expiredWhenKilled} holds expired; ledger then ${JSON.stringify(sweptByDeadWorker)}`);
    await verify('worker', { c, productId, sale: { ...sale, outcomes: { ...sale.outcomes } }, faultAt: expiredWhenKilled, t0, shoppers });
  });
});
