import { sql } from 'drizzle-orm';
import { index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const notificationChannels = ['EMAIL', 'SMS'] as const;
export type NotificationChannel = (typeof notificationChannels)[number];

/**
 * A shopper's contact details and the channels they accept. `email` and `phone` are
 * sealed (AES-256-GCM, see domain/privacy/crypto.ts) and only read or written through
 * src/domain/notifications/contacts.ts.
 */
export const contacts = pgTable('contacts', {
  userId: text('user_id').primaryKey(),
  emailSealed: text('email_sealed'),
  phoneSealed: text('phone_sealed'),
  /** Accepted channels, e.g. `{EMAIL,SMS}`. */
  channels: text('channels').array().notNull().default(sql`'{}'::text[]`),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** "Notify me when the sale starts / sells out." */
export const productFollows = pgTable(
  'product_follows',
  {
    userId: text('user_id').notNull(),
    productId: text('product_id').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.productId] }), index('product_follows_product').on(t.productId)],
);

/**
 * One message of one outbox event to one recipient on one channel. `messageKey`
 * (`<outbox id>.<channel>.<recipient>`) is stable across retries and workers: it is the
 * email Message-ID and the SMS reference, so a resend after a crash can be recognised.
 * SENDING means a send was started and its outcome is not known (a crash mid-send).
 */
export const notificationDeliveries = pgTable(
  'notification_deliveries',
  {
    id: uuid('id').primaryKey(),
    outboxId: uuid('outbox_id').notNull(),
    userId: text('user_id').notNull(),
    channel: text('channel', { enum: notificationChannels }).notNull(),
    messageKey: text('message_key').notNull(),
    /** Which adapter carried it: smtp, twilio or log (the embedded default). */
    transport: text('transport'),
    status: text('status', { enum: ['SENDING', 'SENT', 'FAILED'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    /** The provider's id: the SMTP Message-ID, the Twilio message sid. */
    providerId: text('provider_id'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    sentAt: ts('sent_at'),
  },
  (t) => [uniqueIndex('notification_deliveries_key').on(t.messageKey), index('notification_deliveries_outbox').on(t.outboxId)],
);

/** Marks a hold whose expiry reminder was written to the outbox, so it is written exactly once. */
export const reservationReminders = pgTable('reservation_reminders', {
  reservationId: uuid('reservation_id').primaryKey(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/** Marks a product whose sale-start notice was written to the outbox (once per product). */
export const saleStartNotices = pgTable('sale_start_notices', {
  productId: text('product_id').primaryKey(),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export type ContactRow = typeof contacts.$inferSelect;
export type DeliveryRow = typeof notificationDeliveries.$inferSelect;
