import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  check,
  cidr,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/**
 * A product on sale and its stock ledger totals. `available + reserved + sold = total`
 * and no column may go negative: both are database constraints, so no code path can
 * oversell even if every check above it were wrong.
 */
export const products = pgTable(
  'products',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    priceAmount: integer('price_amount').notNull(),
    currency: text('currency').notNull(),
    totalQuantity: integer('total_quantity').notNull(),
    availableQuantity: integer('available_quantity').notNull(),
    reservedQuantity: integer('reserved_quantity').notNull().default(0),
    soldQuantity: integer('sold_quantity').notNull().default(0),
    /** Bumped by every stock movement, so caches fed by out-of-order events keep the newest. */
    version: bigint('version', { mode: 'number' }).notNull().default(0),
    startsAt: ts('starts_at').notNull(),
    endsAt: ts('ends_at'),
    /** When an operator called the sale off (cancelSale): its followers are told once. */
    cancelledAt: ts('cancelled_at'),
    perUserLimit: integer('per_user_limit').notNull(),
    reservationTtlSeconds: integer('reservation_ttl_seconds').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('products_available_nonneg', sql`${t.availableQuantity} >= 0`),
    check('products_reserved_nonneg', sql`${t.reservedQuantity} >= 0`),
    check('products_sold_nonneg', sql`${t.soldQuantity} >= 0`),
    check(
      'products_stock_balance',
      sql`${t.availableQuantity} + ${t.reservedQuantity} + ${t.soldQuantity} = ${t.totalQuantity}`,
    ),
  ],
);

/** A shopper has at most one ACTIVE cart; checkout closes it. */
export const carts = pgTable(
  'carts',
  {
    id: uuid('id').primaryKey(),
    userId: text('user_id').notNull(),
    status: text('status', { enum: ['ACTIVE', 'CHECKED_OUT'] }).notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('carts_one_active_per_user').on(t.userId).where(sql`${t.status} = 'ACTIVE'`),
  ],
);

export const reservationStatuses = ['ACTIVE', 'CHECKED_OUT', 'PURCHASED', 'EXPIRED', 'RELEASED'] as const;

export const reservations = pgTable(
  'reservations',
  {
    id: uuid('id').primaryKey(),
    cartId: uuid('cart_id')
      .notNull()
      .references(() => carts.id),
    userId: text('user_id').notNull(),
    productId: text('product_id')
      .notNull()
      .references(() => products.id),
    orderId: uuid('order_id'),
    quantity: integer('quantity').notNull(),
    status: text('status', { enum: reservationStatuses }).notNull(),
    sequence: bigint('sequence', { mode: 'number' }).notNull(),
    expiresAt: ts('expires_at').notNull(),
    idempotencyKey: text('idempotency_key'),
    /** Why an operator took the hold back before its time (`revokeHolds`); null for a hold that ran its time. */
    revoked: text('revoked', { enum: ['SALE_CANCELLED', 'BLOCKED'] }),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('reservations_quantity_positive', sql`${t.quantity} > 0`),
    uniqueIndex('reservations_user_idempotency').on(t.userId, t.idempotencyKey),
    index('reservations_cart').on(t.cartId),
    index('reservations_user_product').on(t.userId, t.productId),
    index('reservations_live_expiry')
      .on(t.expiresAt)
      .where(sql`${t.status} in ('ACTIVE', 'CHECKED_OUT')`),
    index('reservations_order').on(t.orderId),
  ],
);

export const orders = pgTable(
  'orders',
  {
    id: uuid('id').primaryKey(),
    cartId: uuid('cart_id')
      .notNull()
      .references(() => carts.id),
    userId: text('user_id').notNull(),
    status: text('status', { enum: ['PENDING', 'COMPLETED', 'FAILED', 'CANCELLED'] }).notNull(),
    paymentStatus: text('payment_status', { enum: ['PENDING', 'COMPLETED', 'FAILED'] }).notNull(),
    inventoryStatus: text('inventory_status', { enum: ['CONFIRMED', 'FAILED'] }).notNull(),
    totalAmount: integer('total_amount').notNull(),
    currency: text('currency').notNull(),
    paymentMethod: text('payment_method').notNull(),
    /** Legacy plaintext column, always null now: the address lives sealed in `shipping_address_sealed`. */
    shippingAddress: jsonb('shipping_address'),
    /** The shipping address, AES-256-GCM sealed with its key id (domain/privacy/address.ts reads and writes it). */
    shippingAddressSealed: text('shipping_address_sealed'),
    transactionId: text('transaction_id'),
    idempotencyKey: text('idempotency_key'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('orders_one_per_cart').on(t.cartId),
    uniqueIndex('orders_user_idempotency').on(t.userId, t.idempotencyKey),
    index('orders_user_created').on(t.userId, t.createdAt),
    // The operators' export of paid orders (paidOrders), walked in (created_at, id) order.
    index('orders_completed_created').on(t.createdAt, t.id).where(sql`${t.status} = 'COMPLETED'`),
  ],
);

export const orderItems = pgTable(
  'order_items',
  {
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id),
    reservationId: uuid('reservation_id')
      .notNull()
      .references(() => reservations.id),
    productId: text('product_id')
      .notNull()
      .references(() => products.id),
    quantity: integer('quantity').notNull(),
    unitAmount: integer('unit_amount').notNull(),
    currency: text('currency').notNull(),
  },
  (t) => [
    uniqueIndex('order_items_reservation').on(t.reservationId),
    index('order_items_order').on(t.orderId),
    // A product's orders: its revenue (saleStats), paidOrders(productId), cancelSale.
    index('order_items_product').on(t.productId, t.orderId),
  ],
);

/**
 * One row per attempt to charge an order. `gatewayKey` is the idempotency key sent to
 * the gateway, derived from the order and the attempt number, so a retried call can
 * never charge twice. `requestKey` is the shopper's idempotency key for `pay`.
 */
export const payments = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey(),
    orderId: uuid('order_id')
      .notNull()
      .references(() => orders.id),
    attempt: integer('attempt').notNull(),
    gateway: text('gateway').notNull(),
    gatewayKey: text('gateway_key').notNull(),
    requestKey: text('request_key'),
    paymentMethod: text('payment_method').notNull(),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status', { enum: ['PROCESSING', 'SUCCEEDED', 'DECLINED', 'FAILED', 'UNKNOWN'] }).notNull(),
    transactionId: text('transaction_id'),
    declineCode: text('decline_code'),
    message: text('message'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('payments_order_attempt').on(t.orderId, t.attempt),
    uniqueIndex('payments_gateway_key').on(t.gatewayKey),
    uniqueIndex('payments_order_request_key').on(t.orderId, t.requestKey),
    // A gateway's refund webhook names the charge (transaction id), not our key.
    index('payments_transaction').on(t.transactionId),
  ],
);

/**
 * Money to give back: a charge that landed on a payment attempt already settled as not charged (its
 * order failed or was cancelled, its stock given back), or a paid order an operator refunded
 * (`refundOrder`, with `reason`). One row per attempt, written when the charge is found or the
 * refund is asked for; the `refunds` worker job gives the money back through
 * the gateway that took it, with an idempotency key derived from the attempt, so a retried or
 * repeated refund never pays back twice.
 */
export const refunds = pgTable(
  'refunds',
  {
    id: uuid('id').primaryKey(),
    paymentId: uuid('payment_id')
      .notNull()
      .references(() => payments.id),
    orderId: uuid('order_id').notNull(),
    gateway: text('gateway').notNull(),
    /** The gateway's id of the charge to refund (Stripe PaymentIntent, PayPal capture). */
    transactionId: text('transaction_id').notNull(),
    amount: integer('amount').notNull(),
    currency: text('currency').notNull(),
    status: text('status', { enum: ['PENDING', 'SUCCEEDED', 'FAILED'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    /**
     * The attempts made before an operator's last `retryRefund`: the refund is FAILED after
     * `maxAttempts` more. `attempts` itself only grows (each claim's fencing token).
     */
    attemptsBase: integer('attempts_base').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    /** The gateway's id of the refund, once made. */
    refundId: text('refund_id'),
    /** Why an operator refunded a paid order (`refundOrder`); null for a charge no order kept. */
    reason: text('reason'),
    /** The operator who asked for it; null for a charge no order kept. */
    requestedBy: text('requested_by'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('refunds_payment').on(t.paymentId),
    index('refunds_due').on(t.nextAttemptAt).where(sql`${t.status} = 'PENDING'`),
    // An order's refunds (Order.refunds, the shopper's export).
    index('refunds_order').on(t.orderId),
  ],
);

/**
 * Shoppers an operator has blocked from reserving (bots found after the fact, abuse). Read by every
 * api process into memory and checked before each reserve (domain/blocks.ts).
 */
export const blockedShoppers = pgTable('blocked_shoppers', {
  userId: text('user_id').primaryKey(),
  reason: text('reason').notNull(),
  blockedBy: text('blocked_by').notNull(),
  blockedAt: ts('blocked_at').notNull().defaultNow(),
});

/**
 * Networks (an address or a CIDR range) an operator blocked from reserving: bots that rotate
 * accounts but not addresses. Stored as Postgres `cidr`, so a range is kept as its network
 * (203.0.113.7/24 is 203.0.113.0/24) and two spellings of one network are one row.
 */
export const blockedNetworks = pgTable('blocked_networks', {
  network: cidr('network').primaryKey(),
  reason: text('reason').notNull(),
  blockedBy: text('blocked_by').notNull(),
  blockedAt: ts('blocked_at').notNull().defaultNow(),
});

/** Every stock movement with the row that explains it: the audit trail of the ledger. */
export const stockMovements = pgTable(
  'stock_movements',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    productId: text('product_id')
      .notNull()
      .references(() => products.id),
    kind: text('kind', { enum: ['CREATE', 'RESERVE', 'RELEASE', 'EXPIRE', 'SELL', 'FAIL', 'RESTOCK', 'WITHDRAW'] }).notNull(),
    quantity: integer('quantity').notNull(),
    reservationId: uuid('reservation_id'),
    orderId: uuid('order_id'),
    actor: text('actor').notNull(),
    at: ts('at').notNull().defaultNow(),
  },
  (t) => [index('stock_movements_product').on(t.productId, t.at)],
);

/**
 * Transactional outbox: written in the same transaction as the change it announces;
 * a worker delivers it (notifications issue). No event without its change.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: uuid('id').primaryKey(),
    topic: text('topic').notNull(),
    aggregateId: text('aggregate_id').notNull(),
    userId: text('user_id'),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['PENDING', 'DELIVERED', 'DEAD'] })
      .notNull()
      .default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull().defaultNow(),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull().defaultNow(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    index('outbox_pending').on(t.nextAttemptAt).where(sql`${t.status} = 'PENDING'`),
    // The relay's head-of-line rule: a shopper's event waits while an earlier one of its order or hold is pending.
    index('outbox_pending_aggregate').on(t.aggregateId, t.createdAt).where(sql`${t.status} = 'PENDING'`),
  ],
);

export type ProductRow = typeof products.$inferSelect;
export type CartRow = typeof carts.$inferSelect;
export type ReservationRow = typeof reservations.$inferSelect;
export type OrderRow = typeof orders.$inferSelect;
export type OrderItemRow = typeof orderItems.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
