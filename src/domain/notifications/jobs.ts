import type { NotificationConfig } from '../../config.js';
import type { Job } from '../../worker.js';
import { writeExpiryReminders, writeSaleStartNotices } from './events.js';
import { relayOnce } from './relay.js';

/**
 * The notification module's background jobs; each is safe in any number of workers:
 * - outbox-relay: claims due outbox events (SKIP LOCKED + lease) and delivers them;
 * - expiry-reminders: writes one `reservation.expiring` per hold about to expire;
 * - sale-start-notices: writes one `product.sale_started` per followed product whose sale opened.
 */
export function notificationJobs(settings: Pick<NotificationConfig, 'intervalMs' | 'batchSize' | 'expiryReminderSeconds'>): Job[] {
  return [
    { name: 'outbox-relay', intervalMs: settings.intervalMs, run: async (deps) => (await relayOnce(deps)) >= settings.batchSize },
    {
      name: 'expiry-reminders',
      intervalMs: Math.max(settings.intervalMs, 1000),
      run: async (deps) => (await writeExpiryReminders(deps, settings.expiryReminderSeconds, 500)) >= 500,
    },
    { name: 'sale-start-notices', intervalMs: Math.max(settings.intervalMs, 5000), run: async (deps) => {
        await writeSaleStartNotices(deps);
        return false;
      },
    },
  ];
}
