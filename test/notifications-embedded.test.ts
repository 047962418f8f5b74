// The embedded default: no SMTP_URL, no TWILIO_*: every message is written, readable, to
// DATA_DIR/outbox.log and the event stays in the outbox table (DELIVERED, with its records).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifier } from '../src/adapters/notify/index.js';
import { notificationDeliveries } from '../src/adapters/db/schema/notifications.js';
import { outbox } from '../src/adapters/db/schema/tables.js';
import { defaultNotificationConfig, loadConfig } from '../src/config.js';
import { backoffMs } from '../src/domain/notifications/relay.js';
import { quietLog } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE } from './support/harness.js';

describe('notifications on the embedded default', () => {
  let h: Harness;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'fs-outbox-log-'));
    // The senders the runtime builds for DATA_DIR=dataDir with no provider configured.
    const config = loadConfig({ DATA_DIR: dataDir });
    expect(config.notifications.smtpUrl).toBeUndefined();
    expect(config.notifications.twilio).toBeUndefined();
    h = await harness('embedded', {
      notifier: await createNotifier(config.notifications, dataDir, quietLog),
      notifications: { intervalMs: 3_600_000 },
    });
  });
  afterAll(async () => {
    await h?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes each message to DATA_DIR/outbox.log and keeps the event in the outbox', async () => {
    const t = await h.token('newcomer');
    const c = await h.gql(
      `mutation($input: UpdateContactInput!) { updateContact(input: $input) { __typename } }`,
      { input: { email: 'newcomer@example.com', phone: '+14155550123', channels: ['EMAIL', 'SMS'] } },
      t,
    );
    expect(c.data.updateContact.__typename).toBe('ContactSuccess');
    const { id } = await h.product({ name: 'Embedded tee', priceAmount: 1500 });
    const r = await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, t);
    const co = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, t);
    const orderId = co.data.checkout.order.id;
    await h.worker.tick();

    const log = readFileSync(join(dataDir, 'outbox.log'), 'utf8');
    expect(log).toContain(`EMAIL  order.placed  to newcomer@example.com`);
    expect(log).toContain(`SMS  order.placed  to +14155550123`);
    expect(log).toContain(`Order ${orderId}`);
    expect(log).toContain('1 x Embedded tee @ $15.00 = $15.00');
    expect(log).toContain('Total: $15.00');

    const [ev] = await h.backend.runtime.deps.db.select().from(outbox).where(eq(outbox.aggregateId, orderId));
    expect(ev).toMatchObject({ topic: 'order.placed', status: 'DELIVERED', attempts: 1 });
    const ds = await h.backend.runtime.deps.db.select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, ev.id));
    expect(ds.map((d) => [d.channel, d.transport, d.status]).sort()).toEqual([
      ['EMAIL', 'log', 'SENT'],
      ['SMS', 'log', 'SENT'],
    ]);
  });

  it('reads its settings from the environment, with defaults', () => {
    expect(defaultNotificationConfig()).toMatchObject({ maxAttempts: 8, retryBaseMs: 2000, expiryReminderSeconds: 60, batchSize: 50 });
    const c = loadConfig({ NOTIFY_MAX_ATTEMPTS: '3', NOTIFY_RETRY_BASE_MS: '10', NOTIFY_EXPIRY_REMINDER_SECONDS: '120', SMTP_URL: 'smtp://mail.example.com:587' });
    expect(c.notifications).toMatchObject({ maxAttempts: 3, retryBaseMs: 10, expiryReminderSeconds: 120, smtpUrl: 'smtp://mail.example.com:587' });
    expect(() => loadConfig({ TWILIO_ACCOUNT_SID: 'AC123' })).toThrow(/TWILIO_AUTH_TOKEN/);
    expect(() => loadConfig({ SMTP_URL: 'http://mail' })).toThrow(/SMTP_URL/);
    expect(() => loadConfig({ NOTIFY_MAX_ATTEMPTS: '0' })).toThrow(/NOTIFY_MAX_ATTEMPTS/);
  });

  it('backs off exponentially with jitter, up to the maximum', () => {
    // Between half and all of min(max, base * 2^(attempt-1)).
    expect([backoffMs(1, 1000, 60_000, () => 0), backoffMs(1, 1000, 60_000, () => 1)]).toEqual([500, 1000]);
    expect([backoffMs(4, 1000, 60_000, () => 0), backoffMs(4, 1000, 60_000, () => 1)]).toEqual([4000, 8000]);
    expect([backoffMs(30, 1000, 60_000, () => 0), backoffMs(30, 1000, 60_000, () => 1)]).toEqual([30_000, 60_000]);
    const spread = new Set(Array.from({ length: 50 }, () => backoffMs(3, 1000, 60_000)));
    expect(spread.size).toBeGreaterThan(10);
    for (const d of spread) expect(d >= 2000 && d <= 4000).toBe(true);
  });
});
