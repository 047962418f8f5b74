// Several relay workers on one outbox (real Postgres): no message sent twice under normal
// operation, and a worker process killed mid-batch loses nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { outbox } from '../src/adapters/db/schema/tables.js';
import { createRuntime, type Runtime } from '../src/deps.js';
import { relayOnce } from '../src/domain/notifications/relay.js';
import { quietLog, REDIS_URL } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE } from './support/harness.js';
import { startSmtp, type TestSmtp } from './support/notify-servers.js';

const UPDATE_CONTACT = `mutation($input: UpdateContactInput!) { updateContact(input: $input) { __typename } }`;

describe('outbox relay with several workers on postgres', () => {
  let h: Harness;
  let smtp: TestSmtp;
  let second: Runtime;
  const settings = () => ({ smtpUrl: smtp.url, batchSize: 4, leaseSeconds: 2, retryBaseMs: 1, retryMaxMs: 5, intervalMs: 3_600_000 });

  beforeAll(async () => {
    smtp = await startSmtp();
    h = await harness('postgres+redis', { notifications: settings() });
    // A second worker process's runtime on the same database.
    second = await createRuntime(
      { databaseUrl: h.backend.databaseUrl, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' },
      { log: quietLog, redisPrefix: h.backend.redisPrefix, notifications: settings() },
    );
  });
  afterAll(async () => {
    await second?.close();
    await h?.close();
    await smtp?.close();
  });

  const db = () => h.backend.runtime.deps.db;

  /** `n` shoppers with an email address each place an order: `n` order.placed events. */
  async function orders(stem: string, n: number): Promise<string[]> {
    // One unit more than sold, so no sold-out event joins the count.
    const { id } = await h.product({ totalQuantity: n + 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } });
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const t = await h.token(`${stem}-${i}`);
      expect((await h.gql(UPDATE_CONTACT, { input: { email: `${stem}-${i}@example.com`, channels: ['EMAIL'] } }, t)).data.updateContact.__typename).toBe('ContactSuccess');
      const r = await h.gql(RESERVE, { input: { productId: id } }, t);
      const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
      ids.push(c.data.checkout.order.id);
    }
    const rows = await db().select({ id: outbox.id }).from(outbox).where(inArray(outbox.aggregateId, ids));
    expect(rows).toHaveLength(n);
    return rows.map((r) => r.id);
  }

  const statuses = async (ids: string[]) =>
    db().select({ id: outbox.id, status: outbox.status, attempts: outbox.attempts }).from(outbox).where(inArray(outbox.id, ids));
  const mailsFor = (eventIds: string[]) => {
    const keys = new Set(eventIds.map((id) => `<${id}.email@flashsale>`));
    return smtp.mails.filter((m) => keys.has(m.messageId));
  };

  it('two workers draining one outbox never send a message twice', async () => {
    const events = await orders('pair', 24);
    smtp.set({ delayMs: 15 });
    const claimed = { a: 0, b: 0 };
    const run = async (name: 'a' | 'b', deps: Runtime['deps']) => {
      for (let i = 0; i < 200; i++) {
        const n = await relayOnce(deps);
        claimed[name] += n;
        if (n === 0 && (await statuses(events)).every((e) => e.status !== 'PENDING')) return;
        if (n === 0) await new Promise((r) => setTimeout(r, 10));
      }
    };
    await Promise.all([run('a', h.backend.runtime.deps), run('b', second.deps)]);
    smtp.set({});
    const rows = await statuses(events);
    expect(rows.every((r) => r.status === 'DELIVERED' && r.attempts === 1)).toBe(true);
    const mails = mailsFor(events);
    expect(mails).toHaveLength(24);
    expect(new Set(mails.map((m) => m.messageId)).size).toBe(24);
    // Both took part: the claims split the work, and add up to one claim per event.
    expect(claimed.a).toBeGreaterThan(0);
    expect(claimed.b).toBeGreaterThan(0);
    expect(claimed.a + claimed.b).toBe(24);
  });

  it('a worker process killed mid-batch: every message is still delivered', { timeout: 150_000 }, async () => {
    const events = await orders('crash', 12);
    smtp.set({ delayMs: 400 });
    const dataDir = mkdtempSync(join(tmpdir(), 'fs-notify-'));
    let child: ChildProcess | undefined;
    // The child must open the contact details this runtime sealed: the same keyring.
    const ring = h.backend.runtime.deps.keyring;
    const dataKey = `${ring.currentId}:${ring.keys.get(ring.currentId)!.toString('base64')}`;
    try {
      // `node --import tsx` is one process (the tsx CLI would fork a second), so SIGKILL kills the worker itself.
      child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
        cwd: process.cwd(),
        env: {
          ...process.env,
          ROLE: 'worker',
          DATABASE_URL: h.backend.databaseUrl,
          REDIS_URL: '',
          DATA_DIR: dataDir,
          DATA_ENCRYPTION_KEY: dataKey,
          LOG_LEVEL: 'error',
          SMTP_URL: smtp.url,
          NOTIFY_BATCH_SIZE: '6',
          NOTIFY_LEASE_SECONDS: '2',
          NOTIFY_INTERVAL_MS: '50',
          NOTIFY_RETRY_BASE_MS: '1',
          NOTIFY_RETRY_MAX_MS: '5',
          SWEEP_INTERVAL_MS: '60000',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const deadline = Date.now() + 120_000;
      while (mailsFor(events).length < 2) {
        if (Date.now() > deadline) throw new Error(`the worker process sent nothing: ${JSON.stringify(await statuses(events))} ${child.exitCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      child.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      const atKill = await statuses(events);
      // It really died mid-batch: some events were claimed or untouched, not delivered.
      expect(atKill.filter((e) => e.status === 'PENDING').length).toBeGreaterThan(0);
    } finally {
      if (child && child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
    // Another worker takes over; the dead one's claims free up when their 2 s lease runs out.
    smtp.set({});
    for (let i = 0; i < 300; i++) {
      await relayOnce(second.deps);
      if ((await statuses(events)).every((e) => e.status === 'DELIVERED')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const rows = await statuses(events);
    expect(rows.map((r) => r.status)).toEqual(events.map(() => 'DELIVERED'));
    const got = new Set(mailsFor(events).map((m) => m.messageId));
    expect(got.size).toBe(12);
    // A resend after the crash (at most the messages in flight) carries the same Message-ID.
    expect(mailsFor(events).length - 12).toBeLessThanOrEqual(4);
    const [{ n }] = rowsOf<{ n: number }>(
      await db().execute(sql`select count(*)::int as n from notification_deliveries where status <> 'SENT' and outbox_id in (${sql.join(events.map((e) => sql`${e}::uuid`), sql`, `)})`),
    );
    expect(Number(n)).toBe(0);
  });
});
