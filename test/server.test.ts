// The real entry point (`npm start`): embedded default with data that survives a
// restart, the production guard, and Postgres + Redis shared by two processes.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataDirInUse, lockDataDir, startTimeOf } from '../src/adapters/db/data-dir-lock.js';
import { signToken } from '../src/auth.js';
import { BACKENDS, REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { ADDRESS, CHECKOUT, PAY, RESERVE, TEST_SECRET } from './support/harness.js';
import { runToExit, startServer } from './support/server.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function gql(url: string, query: string, variables: Record<string, unknown> = {}, token?: string) {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as any;
}

const CREATE = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`;
const product = (id: string, totalQuantity = 5) => ({
  input: { id, name: 'Drop', priceAmount: 1000, totalQuantity, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } },
});

describe('the server process', () => {
  it('runs on the embedded default with nothing configured, prints dev tokens, and keeps data across a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashsale-'));
    dirs.push(dataDir);
    const first = await startServer({ DATA_DIR: dataDir, AUTH_JWT_SECRET: undefined }, { waitFor: /shopper-1: (\S+)/ });
    const admin = /admin: +(\S+)/.exec(first.output())![1];
    const shopper = /shopper-1: (\S+)/.exec(first.output())![1];
    expect(first.output()).toMatch(/AUTH_JWT_SECRET is not set/);
    expect((await gql(first.url, CREATE, product('persisted'), admin)).data.createProduct.id).toBe('persisted');
    const r = await gql(first.url, RESERVE, { input: { productId: 'persisted' } }, shopper);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    expect(await first.stop()).toBe(0);

    const second = await startServer({ DATA_DIR: dataDir, AUTH_JWT_SECRET: undefined });
    // Same development secret: the first run's tokens still work.
    const again = await gql(second.url, `{ product(id: "persisted") { inventory { availableQuantity reservedQuantity } } cart { reservations { id } } }`, {}, shopper);
    expect(again.data.product.inventory).toEqual({ availableQuantity: 4, reservedQuantity: 1 });
    expect(again.data.cart.reservations).toEqual([{ id: r.data.reserve.reservation.id }]);
    // The gate was rebuilt from Postgres: the per-user limit (1) still holds.
    const twice = await gql(second.url, RESERVE, { input: { productId: 'persisted' } }, shopper);
    expect(twice.data?.reserve?.__typename, JSON.stringify(twice)).toBe("LimitExceeded");
    // Checkout and pay through the real process.
    const co = await gql(second.url, CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
    expect(co.data.checkout.__typename).toBe('CheckoutSuccess');
    const paid = await gql(second.url, PAY, { input: { orderId: co.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 1000 } }, shopper);
    expect(paid.data.pay).toMatchObject({ __typename: 'PaySuccess', order: { status: 'COMPLETED' } });
    expect(await second.stop()).toBe(0);
  });

  it('refuses to start in production without a token secret or JWKS URL', async () => {
    const { code, output } = await runToExit({ NODE_ENV: 'production', AUTH_JWT_SECRET: '', AUTH_JWKS_URL: '', DATA_DIR: 'memory://' });
    expect(code).toBe(2);
    expect(output).toMatch(/NODE_ENV=production requires AUTH_JWT_SECRET or AUTH_JWKS_URL/);
  });

  it('refuses a malformed configuration with a clear message', async () => {
    const { code, output } = await runToExit({ PORT: 'eighty', DATA_DIR: 'memory://' });
    expect(code).toBe(2);
    expect(output).toMatch(/PORT must be a whole number/);
  });

  it('refuses a second process on the same embedded DATA_DIR (exit 2) while the first serves, and starts once it has stopped', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashsale-'));
    dirs.push(dataDir);
    const first = await startServer({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET });
    const second = await runToExit({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET });
    expect(second.code, second.output).toBe(2);
    expect(second.output).toMatch(new RegExp(`DATA_DIR ${dataDir} is in use by process ${first.proc.pid}`));
    // The first was not disturbed, and its database still works.
    const admin = await signToken(TEST_SECRET, { sub: 'op', roles: ['admin'] });
    expect((await gql(first.url, CREATE, product('locked'), admin)).data.createProduct.id).toBe('locked');
    // A worker beside it (`npm run worker`) is refused the same way.
    expect((await runToExit({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET, ROLE: 'worker' })).code).toBe(2);
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(dataDir, 'flashsale.pid'))).toBe(false);
    // A lock left by a process that died (SIGKILL) does not keep the folder closed.
    const killed = await startServer({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET });
    expect(await killed.stop('SIGKILL')).toBe(null);
    expect(readFileSync(join(dataDir, 'flashsale.pid'), 'utf8').split(' ')[0]).toBe(String(killed.proc.pid));
    const third = await startServer({ DATA_DIR: dataDir, AUTH_JWT_SECRET: TEST_SECRET });
    expect((await gql(third.url, `{ product(id: "locked") { id } }`)).data.product.id).toBe('locked');
    expect(await third.stop()).toBe(0);
  });

  it.skipIf(!BACKENDS.includes('postgres+redis'))('runs two processes on one Postgres and one Redis without overselling', async () => {
    const db = await scratchDatabase();
    // Load shedding off: this test is about the gate; shedding a burst on a cold process has its own tests.
    const env = { DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: `${uniqueName('srv')}:`, AUTH_JWT_SECRET: TEST_SECRET, ROLE: 'api', LOAD_SHEDDING: 'off' };
    const a = await startServer(env);
    const b = await startServer(env);
    try {
      const admin = await signToken(TEST_SECRET, { sub: 'op', roles: ['admin'] });
      expect((await gql(a.url, CREATE, product('shared', 30), admin)).errors).toBeUndefined();
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) =>
          gql(i % 2 ? a.url : b.url, RESERVE, { input: { productId: 'shared' } }, await signToken(TEST_SECRET, { sub: `two-${i}` })),
        ),
      );
      const kinds = results.map((r) => r.data?.reserve.__typename);
      expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(30);
      expect(kinds.filter((k) => k === 'SoldOut'), JSON.stringify(results.find((r) => r.data?.reserve.__typename !== 'SoldOut' && r.data?.reserve.__typename !== 'ReserveSuccess'))).toHaveLength(170);
      const seqs = results.filter((r) => r.data?.reserve.reservation).map((r) => r.data.reserve.reservation.sequence);
      expect(new Set(seqs).size).toBe(30);
      const inv = await gql(b.url, `{ inventory(productId: "shared") { availableQuantity reservedQuantity } }`);
      expect(inv.data.inventory).toEqual({ availableQuantity: 0, reservedQuantity: 30 });
    } finally {
      await a.stop();
      await b.stop();
      await db.drop();
    }
  });
});

describe('the embedded database folder lock (lockDataDir)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashsale-lock-'));
  dirs.push(dir);
  const pidFile = join(dir, 'flashsale.pid');
  /** The pid the lock file names (it also holds the process's start time). */
  const lockPid = () => readFileSync(pidFile, 'utf8').trim().split(' ')[0];

  it('holds the folder for this process until released, then frees it', () => {
    const release = lockDataDir(dir);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(`${process.pid} ${startTimeOf(process.pid)}`);
    expect(() => lockDataDir(dir)).toThrow(DataDirInUse);
    expect(() => lockDataDir(dir)).toThrow(/in use by this process/);
    release();
    expect(existsSync(pidFile)).toBe(false);
    lockDataDir(dir)();
  });

  it('takes over a lock whose process is gone, or that names this pid without this process holding it (a restarted container)', () => {
    writeFileSync(pidFile, '2147483646\n');
    const a = lockDataDir(dir);
    expect(lockPid()).toBe(String(process.pid));
    a();
    writeFileSync(pidFile, `${process.pid}\n`);
    const b = lockDataDir(dir);
    expect(lockPid()).toBe(String(process.pid));
    b();
  });

  it('refuses a folder a live node process holds', () => {
    // The vitest worker's parent is a live node process.
    writeFileSync(pidFile, `${process.ppid}\n`);
    expect(() => lockDataDir(dir)).toThrow(new RegExp(`in use by process ${process.ppid}`));
    expect(lockPid()).toBe(String(process.ppid));
    // The same with its start time, as a server writes it.
    writeFileSync(pidFile, `${process.ppid} ${startTimeOf(process.ppid)}\n`);
    expect(() => lockDataDir(dir)).toThrow(new RegExp(`in use by process ${process.ppid}`));
    rmSync(pidFile);
  });

  it('takes over a lock whose pid a later, unrelated process has (its start time differs)', () => {
    // A server that crashed left its pid; after a restart another node process got that pid.
    // Before the start time was recorded, that looked like a live server and the folder stayed closed.
    const started = startTimeOf(process.ppid);
    expect(started).toBeDefined();
    writeFileSync(pidFile, `${process.ppid} ${Number(started) - 1}\n`);
    const release = lockDataDir(dir);
    expect(lockPid()).toBe(String(process.pid));
    release();
  });
});
