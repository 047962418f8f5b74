// The real entry point (`npm start`): embedded default with data that survives a
// restart, the production guard, and Postgres + Redis shared by two processes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
