import type { NotificationChannel } from '../../adapters/db/schema/notifications.js';
import type { NotificationConfig } from '../../config.js';

export type { NotificationChannel };

/** One rendered message to one address. */
export interface OutgoingMessage {
  /**
   * Stable across retries and workers (`<outbox id>.<channel>.<recipient>`): the email
   * Message-ID, the SMS reference. A resend after a crash carries the same id.
   */
  key: string;
  channel: NotificationChannel;
  /** The outbox topic, e.g. `order.completed` (sent as a header where the channel has them). */
  topic: string;
  /** Email address or E.164 phone number. */
  to: string;
  subject: string;
  text: string;
  html?: string;
}

export interface SentReceipt {
  /** The provider's id (SMTP Message-ID, Twilio message sid). */
  providerId: string;
}

/** One delivery channel. `send` throws when the provider refused or could not be reached. */
export interface ChannelSender {
  /** Which adapter this is: smtp, twilio, log. */
  readonly transport: string;
  send(msg: OutgoingMessage): Promise<SentReceipt>;
  /**
   * After a crash mid-send: asks the provider whether this message was already accepted
   * (by its stable key) and returns its receipt. Optional: without it the message is resent
   * (email receivers de-duplicate by Message-ID).
   */
  findSent?(msg: OutgoingMessage): Promise<SentReceipt | undefined>;
  close?(): Promise<void>;
}

/** The notifier port: one sender per channel. */
export type Notifier = Record<NotificationChannel, ChannelSender>;

/** What the notification module needs at run time (built in createRuntime). */
export interface Notifications {
  notifier: Notifier;
  settings: NotificationConfig;
}
