import type { OrderRow, PaymentRow } from '../adapters/db/schema/tables.js';
import { type Address, checkout, getOrder, itemsOfOrders, keptItemsOf, listOrders } from '../domain/orders/checkout.js';
import { type OrderDetails as OrderDetailsRow, orderDetails, PAID_ORDERS_MAX_PAGE, SHOPPER_ORDERS_MAX, shopperOrders, type PaidOrder as PaidOrderRow, type PaidOrderPage as PaidOrderPageRow, paidOrders } from '../domain/orders/fulfilment.js';
import { watchOrder } from '../domain/orders/live.js';
import { listRefunds, MAX_REFUNDS_PAGE, type RefundedOrder, type RefundRow, refundOrder, refundsOfOrders, retryRefund } from '../domain/orders/refund.js';
import { pay } from '../domain/payments/pay.js';
import { badInput, builder, Money, orThrow } from './builder.js';
import {
  AlreadyPaid,
  AmountMismatch,
  CartEmpty,
  InvalidInput,
  NotFound,
  PaymentDeclined,
  PaymentUnavailable,
  RateLimited,
  ReservationExpired,
  byTypename,
} from './errors.js';
import { batchLoader, loaderOf } from './loaders.js';
import { Order, OrderItem, Product } from './refs.js';
import { streamSignal } from './streams.js';

const OrderStatus = builder.enumType('OrderStatus', { values: ['PENDING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const });
const PaymentStatus = builder.enumType('PaymentStatus', { values: ['PENDING', 'COMPLETED', 'FAILED'] as const });
const InventoryStatus = builder.enumType('InventoryStatus', { values: ['CONFIRMED', 'FAILED'] as const });

const RefundStatus = builder.enumType('RefundStatus', {
  description: 'PENDING: asked of the gateway (retried with backoff if it failed); SUCCEEDED: the gateway made it; FAILED: it gave up, an operator refunds by hand.',
  values: ['PENDING', 'SUCCEEDED', 'FAILED'] as const,
});

const Refund = builder.objectRef<RefundRow>('Refund').implement({
  description: "Money given back for an order's charge: the whole order refunded by an operator, or a charge of a failed attempt that no order kept.",
  fields: (t) => ({
    id: t.exposeID('id'),
    amount: t.field({ type: Money, resolve: (r) => ({ amount: r.amount, currency: r.currency }) }),
    status: t.field({ type: RefundStatus, resolve: (r) => r.status }),
    requestedAt: t.expose('createdAt', { type: 'DateTime' }),
    refundedAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the gateway made it (null until SUCCEEDED).',
      resolve: (r) => (r.status === 'SUCCEEDED' ? r.updatedAt : null),
    }),
  }),
});

OrderItem.implement({
  fields: (t) => ({
    product: t.field({ type: Product, resolve: async (i, _a, ctx) => (await ctx.loadProduct(i.productId))! }),
    quantity: t.exposeInt('quantity'),
    unitPrice: t.field({ type: Money, resolve: (i) => ({ amount: i.unitAmount, currency: i.currency }) }),
  }),
});

Order.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    cartId: t.exposeID('cartId'),
    // A list of orders reads the items (and refunds) of all of them in one query (loaders.ts).
    items: t.field({
      type: [OrderItem],
      resolve: (o, _a, ctx, info) =>
        loaderOf(ctx, 'order-items', () => batchLoader((ids) => itemsOfOrders(ctx.deps, ids), () => [], (id) => keptItemsOf(ctx.deps, id)), info)(o.id),
    }),
    total: t.field({ type: Money, resolve: (o) => ({ amount: o.totalAmount, currency: o.currency }) }),
    status: t.field({ type: OrderStatus, resolve: (o) => o.status }),
    paymentStatus: t.field({ type: PaymentStatus, resolve: (o) => o.paymentStatus }),
    inventoryStatus: t.field({ type: InventoryStatus, resolve: (o) => o.inventoryStatus }),
    transactionId: t.exposeString('transactionId', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    refunds: t.field({
      type: [Refund],
      description: 'Money given back for this order, oldest first (an order an operator refunded is CANCELLED).',
      resolve: (o, _a, ctx, info) => loaderOf(ctx, 'order-refunds', () => batchLoader((ids) => refundsOfOrders(ctx.deps, ids), () => []), info)(o.id),
    }),
  }),
});

builder.queryFields((t) => ({
  order: t.field({
    type: Order,
    nullable: true,
    authScopes: { shopper: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await getOrder(ctx.deps, ctx.actor!, String(id))) ?? null,
  }),
  orders: t.field({
    type: [Order],
    description: "The signed-in shopper's orders, newest first.",
    authScopes: { shopper: true },
    resolve: (_root, _args, ctx) => listOrders(ctx.deps, ctx.actor!),
  }),
}));

const AddressInput = builder.inputType('AddressInput', {
  fields: (t) => ({
    addressLine1: t.string({ required: true }),
    addressLine2: t.string(),
    city: t.string({ required: true }),
    postalCode: t.string({ required: true }),
    country: t.string({ required: true }),
  }),
});

const CheckoutInput = builder.inputType('CheckoutInput', {
  fields: (t) => ({
    cartId: t.id({ required: true }),
    paymentMethod: t.string({ required: true }),
    shippingAddress: t.field({ type: AddressInput, required: true }),
    idempotencyKey: t.string(),
  }),
});

const PayInput = builder.inputType('PayInput', {
  fields: (t) => ({
    orderId: t.id({ required: true }),
    paymentMethod: t.string({ required: true }),
    amount: t.int({ required: true, description: 'In minor units; must equal the order total.' }),
    idempotencyKey: t.string(),
  }),
});

type Success<N extends string, T> = { __typename: N } & T;
const CheckoutSuccess = builder.objectRef<Success<'CheckoutSuccess', { order: OrderRow }>>('CheckoutSuccess').implement({
  isTypeOf: (v) => (v as { __typename?: string }).__typename === 'CheckoutSuccess',
  fields: (t) => ({ order: t.expose('order', { type: Order }) }),
});
const PaySuccess = builder
  .objectRef<Success<'PaySuccess', { order: OrderRow; transactionId: string; paymentStatus: 'COMPLETED' }>>('PaySuccess')
  .implement({
    isTypeOf: (v) => (v as { __typename?: string }).__typename === 'PaySuccess',
    fields: (t) => ({
      order: t.expose('order', { type: Order }),
      transactionId: t.exposeString('transactionId'),
      paymentStatus: t.field({ type: PaymentStatus, resolve: (p) => p.paymentStatus }),
    }),
  });

const CheckoutResult = builder.unionType('CheckoutResult', {
  types: [CheckoutSuccess, ReservationExpired, CartEmpty, NotFound, InvalidInput, RateLimited],
  resolveType: byTypename,
});
const PayResult = builder.unionType('PayResult', {
  types: [PaySuccess,
  PaymentDeclined,
  PaymentUnavailable,
  AmountMismatch,
  ReservationExpired,
  AlreadyPaid,
  NotFound,
  InvalidInput,
  RateLimited,],
  resolveType: byTypename,
});

builder.mutationFields((t) => ({
  checkout: t.field({
    type: CheckoutResult,
    description: "Turn the cart's active reservations into a pending order.",
    authScopes: { shopper: true },
    args: { input: t.arg({ type: CheckoutInput, required: true }) },
    resolve: async (_root, { input }, ctx) => (await ctx.security.checkout(ctx.actor!, ctx.ip)) ?? checkout(ctx.deps, ctx.actor!, { ...input, cartId: String(input.cartId) }),
  }),
  pay: t.field({
    type: PayResult,
    description: 'Charge the order; on success the stock is sold for good.',
    authScopes: { shopper: true },
    args: { input: t.arg({ type: PayInput, required: true }) },
    resolve: async (_root, { input }, ctx) => (await ctx.security.checkout(ctx.actor!, ctx.ip)) ?? pay(ctx.deps, ctx.actor!, { ...input, orderId: String(input.orderId) }),
  }),
}));

builder.subscriptionFields((t) => ({
  orderStatusChanged: t.field({
    type: Order,
    description:
      'The order, now and after every change of status, and after each of its refunds is made or fails for good; it ends once the ' +
      'order is FAILED or CANCELLED with no refund pending.',
    authScopes: { shopper: true },
    args: { orderId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, { orderId }, ctx) {
      const id = String(orderId);
      const abort = streamSignal(ctx);
      try {
        const out = await watchOrder(ctx.deps, ctx.actor!, id, abort.signal);
        if ('__typename' in out) {
          throw badInput(out.__typename === 'NotFound' ? `No order with id "${id}" for this shopper` : 'orderId is not a valid id');
        }
        yield* out;
      } finally {
        abort.abort();
      }
    },
    resolve: (o) => o,
  }),
}));

const ShippingAddress = builder.objectRef<Address>('ShippingAddress').implement({
  fields: (t) => ({
    addressLine1: t.exposeString('addressLine1'),
    addressLine2: t.string({ nullable: true, resolve: (a) => a.addressLine2 ?? null }),
    city: t.exposeString('city'),
    postalCode: t.exposeString('postalCode'),
    country: t.exposeString('country'),
  }),
});

const PaidOrder = builder.objectRef<PaidOrderRow>('PaidOrder').implement({
  description: 'A paid order to ship (operators only).',
  fields: (t) => ({
    orderId: t.id({ resolve: (p) => p.order.id }),
    shopperId: t.id({ description: "The shopper's id (a pseudonym once they erased their data).", resolve: (p) => p.order.userId }),
    items: t.field({ type: [OrderItem], resolve: (p) => p.items }),
    total: t.field({ type: Money, resolve: (p) => ({ amount: p.order.totalAmount, currency: p.order.currency }) }),
    transactionId: t.string({ nullable: true, resolve: (p) => p.order.transactionId }),
    createdAt: t.field({ type: 'DateTime', resolve: (p) => p.order.createdAt }),
    paidAt: t.field({ type: 'DateTime', description: 'When the payment settled (the order completed).', resolve: (p) => p.order.updatedAt }),
    shippingAddress: t.field({
      type: ShippingAddress,
      nullable: true,
      description: 'Opened for shipping; null once the shopper erased their personal data.',
      resolve: (p) => p.shippingAddress,
    }),
  }),
});

const PaidOrderPage = builder.objectRef<PaidOrderPageRow>('PaidOrderPage').implement({
  fields: (t) => ({
    orders: t.field({ type: [PaidOrder], resolve: (p) => p.orders }),
    endCursor: t.string({ nullable: true, description: 'Pass as `after` for the next page; null when this page is empty.', resolve: (p) => p.endCursor }),
    hasNextPage: t.exposeBoolean('hasNextPage'),
  }),
});

builder.queryFields((t) => ({
  paidOrders: t.field({
    type: PaidOrderPage,
    description:
      `Admin only: paid orders to ship, oldest first, with their items and shipping address, a page at a time (first: 1-${PAID_ORDERS_MAX_PAGE}, ` +
      'then `after: endCursor` while hasNextPage). Only orders with `productId` among their items when given. Every call is audited ' +
      '(orders.export). Lists the orders paid when it runs: a payment that settles later shows up in a later export.',
    authScopes: { admin: true },
    args: {
      productId: t.arg.id(),
      first: t.arg.int({ required: true, defaultValue: 100 }),
      after: t.arg.string(),
    },
    resolve: async (_root, { productId, first, after }, ctx) =>
      orThrow(await paidOrders(ctx.deps, ctx.actor!, { productId: productId == null ? null : String(productId), first, after }, ctx.requestId)),
  }),
}));

const RefundOrderResult = builder.objectRef<RefundedOrder>('RefundOrderResult').implement({
  fields: (t) => ({
    order: t.expose('order', { type: Order }),
    refund: t.expose('refund', { type: Refund }),
  }),
});

builder.mutationFields((t) => ({
  refundOrder: t.field({
    type: RefundOrderResult,
    description:
      'Admin only: refund a paid (COMPLETED) order in full and cancel it (a return, a pricing mistake, fraud found later). The order ' +
      'leaves paidOrders and the revenue, the refund is made at once through the gateway that took the money (retried with backoff ' +
      'when it fails) and the shopper is told. Its units stay sold: raise the stock with setStock to sell them again. Audited; a ' +
      'repeat answers the first refund and changes nothing; an order not paid is INVALID_INPUT.',
    authScopes: { admin: true },
    args: { orderId: t.arg.id({ required: true }), reason: t.arg.string({ required: true }) },
    resolve: async (_root, { orderId, reason }, ctx) => orThrow(await refundOrder(ctx.deps, ctx.actor!, String(orderId), reason)),
  }),
}));

const RefundRecord = builder.objectRef<RefundRow>('RefundRecord').implement({
  description: "A refund as operators see it: what it is for, who asked and why, and the gateway's last answer.",
  fields: (t) => ({
    id: t.exposeID('id'),
    orderId: t.exposeID('orderId'),
    amount: t.field({ type: Money, resolve: (r) => ({ amount: r.amount, currency: r.currency }) }),
    status: t.field({ type: RefundStatus, resolve: (r) => r.status }),
    gateway: t.exposeString('gateway', { description: 'The gateway that took the money and gives it back.' }),
    transactionId: t.exposeString('transactionId', { description: "The gateway's id of the charge refunded." }),
    refundId: t.exposeString('refundId', { nullable: true, description: "The gateway's id of the refund, once made." }),
    reason: t.exposeString('reason', { nullable: true, description: 'Why it was asked for; null for a charge no order kept (refunded automatically).' }),
    requestedBy: t.exposeString('requestedBy', { nullable: true, description: 'The operator (or gateway:<name> for a refund made in its dashboard); null when automatic.' }),
    attempts: t.exposeInt('attempts', { description: 'Requests made to the gateway so far, those after a retryRefund included (the count only grows).' }),
    lastError: t.exposeString('lastError', { nullable: true, description: "The gateway's last refusal, while it is retried or once FAILED." }),
    requestedAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  refunds: t.field({
    type: [RefundRecord],
    description:
      `Admin only: refunds in id order, a page at a time (first: 1-${MAX_REFUNDS_PAGE}; after: the last id seen), only those in ` +
      '`status` when given: the FAILED ones (metric flashsale_refunds{status="FAILED"}) are to be retried (retryRefund) or made by hand.',
    authScopes: { admin: true },
    args: { status: t.arg({ type: RefundStatus }), first: t.arg.int({ required: true, defaultValue: 100 }), after: t.arg.id() },
    resolve: async (_root, { status, first, after }, ctx) =>
      orThrow(await listRefunds(ctx.deps, { status: status ?? null, first, after: after == null ? null : String(after) })),
  }),
}));

builder.mutationFields((t) => ({
  retryRefund: t.field({
    type: RefundRecord,
    description:
      'Admin only: try a FAILED refund again (once what the gateway refused is fixed): PENDING again with a fresh count of attempts, ' +
      'made at once under the same idempotency key, so the money is never given back twice. A PENDING or SUCCEEDED refund is ' +
      'answered as it is. Audited.',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => orThrow(await retryRefund(ctx.deps, String(id))),
  }),
}));

const PaymentAttemptStatus = builder.enumType('PaymentAttemptStatus', {
  description: 'PROCESSING: asked of the gateway; UNKNOWN: its answer is not known yet (reconciliation settles it); the rest are final.',
  values: ['PROCESSING', 'SUCCEEDED', 'DECLINED', 'FAILED', 'UNKNOWN'] as const,
});

const PaymentAttempt = builder.objectRef<PaymentRow>('PaymentAttempt').implement({
  description: "One attempt to pay an order, with the gateway's answer.",
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    gateway: t.exposeString('gateway'),
    status: t.field({ type: PaymentAttemptStatus, resolve: (p) => p.status }),
    amount: t.field({ type: Money, resolve: (p) => ({ amount: p.amount, currency: p.currency }) }),
    transactionId: t.exposeString('transactionId', { nullable: true }),
    declineCode: t.exposeString('declineCode', { nullable: true }),
    message: t.exposeString('message', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const OrderDetails = builder.objectRef<OrderDetailsRow>('OrderDetails').implement({
  description: 'One order as customer service sees it.',
  fields: (t) => ({
    order: t.expose('order', { type: Order }),
    shopperId: t.id({ resolve: (d) => d.order.userId }),
    shippingAddress: t.field({
      type: ShippingAddress,
      nullable: true,
      description: 'Null once the shopper erased their personal data (eraseMyData).',
      resolve: (d) => d.shippingAddress,
    }),
    payments: t.field({ type: [PaymentAttempt], description: 'Every attempt, first to last.', resolve: (d) => d.payments }),
    refunds: t.field({ type: [RefundRecord], resolve: (d) => d.refunds }),
  }),
});

builder.queryFields((t) => ({
  orderDetails: t.field({
    type: OrderDetails,
    description:
      "Admin only: any shopper's order with its shipping address, every payment attempt and every refund (a customer's question, " +
      'a refund to decide). NOT_FOUND for an unknown id. Every call is audited (orders.read): it opens the address.',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => orThrow(await orderDetails(ctx.deps, ctx.actor!, String(id), ctx.requestId)),
  }),
  shopperOrders: t.field({
    type: [OrderDetails],
    description:
      `Admin only: one shopper's orders, newest first (first: 1-${SHOPPER_ORDERS_MAX}), in details as orderDetails gives them: for a ` +
      'customer who knows their account but not the order. Every call is audited (orders.read).',
    authScopes: { admin: true },
    args: { userId: t.arg.id({ required: true }), first: t.arg.int({ required: true, defaultValue: 20 }) },
    resolve: async (_root, { userId, first }, ctx) => orThrow(await shopperOrders(ctx.deps, ctx.actor!, String(userId), first, ctx.requestId)),
  }),
}));

