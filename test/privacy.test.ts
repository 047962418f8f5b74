// Personal data at rest and GDPR, on both backends: read the tables directly, never
// through our own code, and look for plaintext.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { ConfigError, loadConfig } from '../src/config.js';
import type { Deps } from '../src/domain/context.js';
import { shippingAddressOf } from '../src/domain/privacy/address.js';
import { CryptoError, type Keyring, open } from '../src/domain/privacy/crypto.js';
import { rotateKeys } from '../src/domain/privacy/rotate.js';
import { BACKENDS } from './support/backends.js';
import { CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';

const run = promisify(execFile);

const ADDRESS = { addressLine1: '742 Evergreen Terrace', addressLine2: 'Flat Zeta-9', city: 'Shelbyville-Upon-Tyne', postalCode: 'QX9-7YZ', country: 'GB' };
const PLAINTEXT = [ADDRESS.addressLine1, ADDRESS.addressLine2, ADDRESS.city, ADDRESS.postalCode, 'Evergreen', 'Shelbyville'];

describe.each(BACKENDS)('personal data on %s', (backend) => {
  let h: Harness;
  let deps: Deps;
  beforeAll(async () => {
    h = await harness(backend);
    deps = h.backend.runtime.deps;
  }, 180_000); // PGlite start-up is slow on a loaded machine
  afterAll(async () => {
    await h?.close();
  });

  /** Every row of every table, as JSON text, read straight from the database. */
  async function dumpAll(): Promise<string> {
    const tables = rowsOf<{ table_name: string }>(
      await deps.db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'`),
    ).map((r) => r.table_name);
    expect(tables).toEqual(expect.arrayContaining(['orders', 'audit_log', 'outbox', 'payments']));
    let out = '';
    for (const t of tables) {
      const rows = rowsOf<{ j: string }>(await deps.db.execute(sql.raw(`select row_to_json(x)::text as j from "${t}" x`)));
      out += rows.map((r) => r.j).join('\n');
    }
    return out;
  }

  async function buyer(sub: string) {
    const { id } = await h.product({ totalQuantity: 5, priceAmount: 1250, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2 } });
    const t = await h.token(sub);
    const r = await h.gql(RESERVE, { input: { productId: id } }, t);
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    expect(c.data.checkout.__typename).toBe('CheckoutSuccess');
    const p = await h.gql(PAY, { input: { orderId: c.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 1250 } }, t);
    expect(p.data.pay.__typename).toBe('PaySuccess');
    return { productId: id, token: t, orderId: c.data.checkout.order.id as string };
  }

  const orderRow = async (id: string) =>
    rowsOf<{ user_id: string; shipping_address: unknown; shipping_address_sealed: string | null; status: string; total_amount: number }>(
      await deps.db.execute(sql`select user_id, shipping_address, shipping_address_sealed, status, total_amount from orders where id = ${id}`),
    )[0];

  it('stores the shipping address sealed: no plaintext anywhere in the database', async () => {
    const { orderId } = await buyer('sealed-shopper');
    const row = await orderRow(orderId);
    expect(row.shipping_address).toBeNull();
    expect(row.shipping_address_sealed).toMatch(/^v1\.dev\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const dump = await dumpAll();
    for (const p of PLAINTEXT) expect(dump).not.toContain(p);
    // Our one read path opens it; bound to its order, it does not open on another.
    expect(shippingAddressOf(deps, { id: orderId, shippingAddress: null, shippingAddressSealed: row.shipping_address_sealed })).toEqual(ADDRESS);
    expect(() => shippingAddressOf(deps, { id: '00000000-0000-4000-8000-000000000000', shippingAddress: null, shippingAddressSealed: row.shipping_address_sealed })).toThrow();
  });

  it('rotates keys: every value re-sealed under the new key, readable with it alone', async () => {
    const { orderId } = await buyer('rotating-shopper');
    const k2 = randomBytes(32);
    const rotated: Keyring = { currentId: 'k2', keys: new Map([['k2', k2], ...deps.keyring.keys]) };
    const out = await rotateKeys({ ...deps, keyring: rotated });
    expect(out['orders.shipping_address_sealed']).toBeGreaterThanOrEqual(1);
    const sealed = rowsOf<{ s: string }>(await deps.db.execute(sql`select shipping_address_sealed as s from orders where shipping_address_sealed is not null`));
    expect(sealed.length).toBeGreaterThanOrEqual(1);
    expect(sealed.every((r) => r.s.startsWith('v1.k2.'))).toBe(true);
    const onlyK2: Keyring = { currentId: 'k2', keys: new Map([['k2', k2]]) };
    const row = await orderRow(orderId);
    expect(shippingAddressOf({ keyring: onlyK2 }, { id: orderId, shippingAddress: null, shippingAddressSealed: row.shipping_address_sealed })).toEqual(ADDRESS);
    expect(() => open(deps.keyring, row.shipping_address_sealed!)).toThrow(CryptoError);
    // Running it again changes nothing.
    expect((await rotateKeys({ ...deps, keyring: rotated }))['orders.shipping_address_sealed']).toBe(0);
    const audit = rowsOf<{ actor: string; target: string }>(await deps.db.execute(sql`select actor, target from audit_log where action = 'keys.rotate'`));
    expect(audit).toContainEqual({ actor: 'system:rotate-keys', target: 'k2' });

    if (backend === 'postgres+redis') {
      // The operator's command, as a separate process, from k2 to k3.
      const k3 = randomBytes(32).toString('base64');
      const { stdout } = await run('npx', ['tsx', 'scripts/rotate-keys.ts'], {
        cwd: process.cwd(),
        env: { ...process.env, DATABASE_URL: h.backend.databaseUrl, DATA_ENCRYPTION_KEY: `k3:${k3},k2:${k2.toString('base64')}`, LOG_LEVEL: 'silent', REDIS_URL: '' },
        timeout: 60_000,
      });
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toMatchObject({ currentKey: 'k3' });
      const after = rowsOf<{ s: string }>(await deps.db.execute(sql`select shipping_address_sealed as s from orders where shipping_address_sealed is not null`));
      expect(after.every((r) => r.s.startsWith('v1.k3.'))).toBe(true);
    }
  });

  it('exports everything held about the shopper, then erases it, keeping the order pseudonymised', async () => {
    const sub = `gdpr-${randomBytes(4).toString('hex')}`;
    const { productId, token, orderId } = await buyer(sub);
    const exp = await h.gql('{ exportMyData }', {}, token);
    const data = JSON.parse(exp.data.exportMyData);
    expect(data).toMatchObject({ format: 'flashsale.personal-data.v1', subject: sub });
    expect(data.data.shopping.orders).toHaveLength(1);
    expect(data.data.shopping.orders[0]).toMatchObject({ id: orderId, status: 'COMPLETED', shippingAddress: ADDRESS, total: { amount: 1250, currency: 'USD' } });
    expect(data.data.shopping.orders[0].payments[0]).toMatchObject({ status: 'SUCCEEDED', paymentMethod: 'pm_card_visa' });
    expect(data.data.shopping.reservations).toHaveLength(1);
    expect(data.data.shopping.carts).toHaveLength(1);
    expect(data.data.shopping.stockMovements.map((m: { kind: string }) => m.kind)).toContain('RESERVE');
    expect(data.data.outbox.map((m: { topic: string }) => m.topic)).toContain('order.placed');
    // Another shopper's export holds none of it.
    const other = JSON.parse((await h.gql('{ exportMyData }', {}, await h.token('someone-else'))).data.exportMyData);
    expect(other.data.shopping.orders).toEqual([]);

    const erased = await h.gql('mutation { eraseMyData { erasedAt pseudonym recordsPseudonymised } }', {}, token);
    const { pseudonym, recordsPseudonymised } = erased.data.eraseMyData;
    expect(pseudonym).toMatch(/^erased-[0-9a-f-]{36}$/);
    expect(recordsPseudonymised).toBeGreaterThanOrEqual(4);

    // Nothing left under the shopper's id; the order kept for accounting, without its address.
    const again = JSON.parse((await h.gql('{ exportMyData }', {}, token)).data.exportMyData);
    expect(again.data.shopping).toMatchObject({ orders: [], reservations: [], carts: [], stockMovements: [] });
    expect(again.data.outbox).toEqual([]);
    const row = await orderRow(orderId);
    expect(row).toMatchObject({ user_id: pseudonym, shipping_address: null, shipping_address_sealed: null, status: 'COMPLETED', total_amount: 1250 });
    const dump = await dumpAll();
    // Only the export audit row written after erasure (a new request under the same token) names the shopper.
    const mentions = dump.split('\n').filter((l) => l.includes(`"${sub}"`));
    expect(mentions.every((l) => l.includes('"privacy.export"'))).toBe(true);
    expect(await h.ledger(productId)).toMatchObject({ sold: 1 });
    const audit = rowsOf<{ actor: string }>(await deps.db.execute(sql`select actor from audit_log where action = 'privacy.erase'`));
    expect(audit).toContainEqual({ actor: pseudonym });
  });
});

describe('configuration', () => {
  const base = { NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(40) };
  it('refuses to start in production without DATA_ENCRYPTION_KEY, or with a malformed one', () => {
    expect(() => loadConfig(base)).toThrow(ConfigError);
    expect(() => loadConfig(base)).toThrow(/DATA_ENCRYPTION_KEY/);
    expect(() => loadConfig({ ...base, DATA_ENCRYPTION_KEY: 'k1:tooshort' })).toThrow(/DATA_ENCRYPTION_KEY/);
    const ok = loadConfig({ ...base, DATA_ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` });
    expect(ok.dataEncryptionKey).toMatch(/^k1:/);
    expect(ok.security.graphql.introspection).toBe(false);
  });
  it('validates the security variables', () => {
    expect(() => loadConfig({ RATE_LIMIT_RESERVE_SHOPPER: 'lots' })).toThrow(/RATE_LIMIT_RESERVE_SHOPPER/);
    expect(() => loadConfig({ CAPTCHA: 'sometimes' })).toThrow(/CAPTCHA/);
    expect(() => loadConfig({ PERSISTED_OPERATIONS: 'only' })).toThrow(/PERSISTED_OPERATIONS_FILE/);
    expect(() => loadConfig({ TLS_CERT_FILE: '/tmp/cert.pem' })).toThrow(/TLS_KEY_FILE/);
    expect(loadConfig({ RATE_LIMIT_RESERVE_IP: '600/1m' }).security.rateLimit.reserve.ip).toEqual({ count: 600, periodSeconds: 60 });
    expect(loadConfig({}).security.captcha.mode).toBe('off');
    expect(loadConfig({}).security.rateLimit.enabled).toBe(true);
  });
});
