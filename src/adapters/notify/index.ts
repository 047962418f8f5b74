import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NotificationConfig } from '../../config.js';
import type { Notifier } from '../../domain/notifications/port.js';
import { LogSender } from './log.js';
import { SmtpSender } from './smtp.js';
import { TwilioSender } from './twilio.js';

/**
 * One sender per channel: SMTP when SMTP_URL is set, Twilio when TWILIO_* are set,
 * otherwise the readable log DATA_DIR/outbox.log (the embedded default).
 */
export function createNotifier(config: NotificationConfig, dataDir: string | undefined, log: Logger): Notifier {
  const file = dataDir && !dataDir.startsWith('memory://') ? join(dataDir, 'outbox.log') : undefined;
  const fallback = new LogSender(file, log);
  return {
    EMAIL: config.smtpUrl ? new SmtpSender(config.smtpUrl, config.smtpFrom) : fallback,
    SMS: config.twilio ? new TwilioSender(config.twilio) : fallback,
  };
}
