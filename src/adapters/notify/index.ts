import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NotificationConfig } from '../../config.js';
import type { Notifier } from '../../domain/notifications/port.js';
import { LogSender } from './log.js';

/**
 * One sender per channel: SMTP when SMTP_URL is set, Twilio when TWILIO_* are set,
 * otherwise the readable log DATA_DIR/outbox.log (the embedded default). nodemailer and the
 * twilio SDK (~10 MB of heap together) are loaded only when configured.
 */
export async function createNotifier(config: NotificationConfig, dataDir: string | undefined, log: Logger): Promise<Notifier> {
  const file = dataDir && !dataDir.startsWith('memory://') ? join(dataDir, 'outbox.log') : undefined;
  const fallback = new LogSender(file, log);
  return {
    EMAIL: config.smtpUrl ? new (await import('./smtp.js')).SmtpSender(config.smtpUrl, config.smtpFrom) : fallback,
    SMS: config.twilio ? new (await import('./twilio.js')).TwilioSender(config.twilio) : fallback,
  };
}
