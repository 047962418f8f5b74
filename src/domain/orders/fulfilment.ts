import { and, asc, desc, eq, exists, inArray, sql } from 'drizzle-orm';
import { orderItems, orders, type OrderItemRow, type OrderRow, payments, type PaymentRow, refunds } from '../../adapters/db/schema/tables.js';
import { recordAudit } from '../audit.js';
import { groupBy } from '../batches.js';
import type { Actor, Deps } from '../context.js';
import { shippingAddressOf } from '../privacy/address.js';
import { assertIntRange, assertProductId, assertText, assertUuid, type InvalidInput, invalid, type NotFound, notFound } from '../results.js';
import type { Address } from './checkout.js';

/**
 * The paid orders an operator ships: oldest first, a page at a time, each with its items and its
 * shipping address opened (the only place outside the shopper's own `exportMyData` where an
 * address leaves the database, so every call is audited as `orders.export`).
 */
export interface PaidOrder {
  order: OrderRow;
  items: OrderItemRow[];
  /** Null once the shopper erased their personal data (`eraseMyData`). */
  shippingAddress: Address | null;
}

export interface PaidOrderPage {
  orders: PaidOrder[];
  /** Pass as `after` for the next page; null when the page is empty. */
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface PaidOrdersQuery {
  /** Only orders with this product among their items. */
  productId?: string | null;
  first: number;
  after?: string | null;
}

export const PAID_ORDERS_MAX_PAGE = 500;

/**
 * A page's position: the last order's creation time as Postgres keeps it (to the microsecond, so
 * no order that shares a millisecond is skipped) and its id. Opaque to clients (base64url).
 */
interface Cursor {
  at: string;
  id: string;
}

const CURSOR_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const encodeCursor = (c: Cursor): string => Buffer.from(`${c.at}|${c.id}`).toString('base64url');

export function decodeCursor(value: string): Cursor | undefined {
  if (value.length > 200) return undefined;
  const [at, id, ...rest] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  return rest.length === 0 && CURSOR_AT.test(at ?? '') && UUID.test(id ?? '') ? { at, id } : undefined;
}

export async function paidOrders(deps: Deps, actor: Actor, q: PaidOrdersQuery, requestId?: string): Promise<PaidOrderPage | InvalidInput> {
  const after = q.after != null ? decodeCursor(q.after) : undefined;
  const bad =
    (q.productId != null ? assertProductId('productId', q.productId) : undefined) ||
    assertIntRange('first', q.first, 1, PAID_ORDERS_MAX_PAGE) ||
    (q.after != null && !after ? invalid('after is not a cursor this query returned', 'after') : undefined);
  if (bad) return bad;
  const rows = await deps.db
    .select({ order: orders, at: sql<string>`to_char(${orders.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` })
    .from(orders)
    .where(
      and(
        eq(orders.status, 'COMPLETED'),
        q.productId != null
          ? exists(deps.db.select({ one: sql`1` }).from(orderItems).where(and(eq(orderItems.orderId, orders.id), eq(orderItems.productId, q.productId))))
          : undefined,
        after ? sql`(${orders.createdAt}, ${orders.id}) > (${after.at}::timestamptz, ${after.id}::uuid)` : undefined,
      ),
    )
    .orderBy(asc(orders.createdAt), asc(orders.id))
    .limit(q.first + 1);
  const page = rows.slice(0, q.first);
  const items = page.length ? await deps.db.select().from(orderItems).where(inArray(orderItems.orderId, page.map((r) => r.order.id))) : [];
  const itemsOf = groupBy(items, (i) => i.orderId);
  const last = page.at(-1);
  await recordAudit(deps.db, {
    actor: actor.userId,
    action: 'orders.export',
    target: q.productId ?? '*',
    details: { first: q.first, after: q.after ?? null, returned: page.length },
    requestId,
  });
  return {
    orders: page.map(({ order }) => ({ order, items: itemsOf.get(order.id) ?? [], shippingAddress: shippingAddressOf(deps, order) })),
    endCursor: last ? encodeCursor({ at: last.at, id: last.order.id }) : null,
    hasNextPage: rows.length > q.first,
  };
}

/** One order as customer service sees it: the shopper, the address, every payment attempt and refund. */
export interface OrderDetails {
  order: OrderRow;
  /** Null once the shopper erased their personal data. */
  shippingAddress: Address | null;
  payments: PaymentRow[];
  refunds: (typeof refunds.$inferSelect)[];
}

/** The details of `list` (payments and refunds read for all of them at once), in its order. */
async function detailsOf(deps: Deps, list: OrderRow[]): Promise<OrderDetails[]> {
  if (list.length === 0) return [];
  const ids = list.map((o) => o.id);
  const [attempts, backs] = await Promise.all([
    deps.db.select().from(payments).where(inArray(payments.orderId, ids)).orderBy(asc(payments.attempt)),
    deps.db.select().from(refunds).where(inArray(refunds.orderId, ids)).orderBy(asc(refunds.createdAt)),
  ]);
  const paysOf = groupBy(attempts, (p) => p.orderId);
  const backsOf = groupBy(backs, (r) => r.orderId);
  return list.map((order) => ({ order, shippingAddress: shippingAddressOf(deps, order), payments: paysOf.get(order.id) ?? [], refunds: backsOf.get(order.id) ?? [] }));
}

/**
 * Any shopper's order for an operator (a customer's question, a refund to decide): the address is
 * opened, so every call is audited as `orders.read`.
 */
export async function orderDetails(deps: Deps, actor: Actor, id: string, requestId?: string): Promise<OrderDetails | NotFound | InvalidInput> {
  const bad = assertUuid('id', id);
  if (bad) return bad;
  const [order] = await deps.db.select().from(orders).where(eq(orders.id, id));
  if (!order) return notFound('Order');
  await recordAudit(deps.db, { actor: actor.userId, action: 'orders.read', target: id, requestId });
  return (await detailsOf(deps, [order]))[0]!;
}

export const SHOPPER_ORDERS_MAX = 100;

/**
 * One shopper's orders for an operator (a customer who knows their account, not the order id),
 * newest first, at most `first` (1-100), in details; audited as `orders.read` of the shopper.
 */
export async function shopperOrders(deps: Deps, actor: Actor, userId: string, first: number, requestId?: string): Promise<OrderDetails[] | InvalidInput> {
  const bad = assertText('userId', userId, 200) ?? assertIntRange('first', first, 1, SHOPPER_ORDERS_MAX);
  if (bad) return bad;
  const list = await deps.db.select().from(orders).where(eq(orders.userId, userId)).orderBy(desc(orders.createdAt), desc(orders.id)).limit(first);
  await recordAudit(deps.db, { actor: actor.userId, action: 'orders.read', target: `shopper:${userId}`, details: { first, returned: list.length }, requestId });
  return detailsOf(deps, list);
}
