import { randomUUID } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import { exec, rowsOf, withCommit } from '../../adapters/db/client.js';
import { orderOf, rowMapper, timestamptz } from '../../adapters/db/rows.js';
import { type CartRow, orderItems, orders, reservations, type OrderItemRow, type OrderRow } from '../../adapters/db/schema/tables.js';
import { publishReservation } from '../cart/reserve.js';
import { outboxInsert } from '../notifications/events.js';
import { sealAddress } from '../privacy/address.js';
import { groupBy } from '../batches.js';
import type { Actor, Deps } from '../context.js';
import {
  assertIdempotencyKey,
  assertText,
  assertUuid,
  type CartEmpty,
  cartEmpty,
  type InvalidInput,
  invalid,
  type NotFound,
  notFound,
  type ReservationExpired,
  reservationExpired,
} from '../results.js';

export interface Address {
  addressLine1: string;
  addressLine2?: string | null;
  city: string;
  postalCode: string;
  country: string;
}

export interface CheckoutInput {
  cartId: string;
  paymentMethod: string;
  shippingAddress: Address;
  idempotencyKey?: string | null;
}

export interface CheckoutSuccess {
  __typename: 'CheckoutSuccess';
  order: OrderRow;
}
export type CheckoutResult = CheckoutSuccess | ReservationExpired | CartEmpty | NotFound | InvalidInput;

/** Payment-method ids come from the client's tokenisation (never card numbers). */
export const PAYMENT_METHOD_RE = /^[A-Za-z0-9_-]{3,128}$/;

export function assertPaymentMethod(value: string): InvalidInput | undefined {
  if (!PAYMENT_METHOD_RE.test(value)) {
    return invalid('paymentMethod must be a payment-method id from the gateway (e.g. pm_card_visa)', 'paymentMethod');
  }
  // A bare card number here would pull this server into PCI scope: refuse it loudly.
  if (/^\d{12,19}$/.test(value)) return invalid('Send a payment-method id, never a card number', 'paymentMethod');
  return undefined;
}

function validateAddress(a: Address): InvalidInput | undefined {
  return (
    assertText('shippingAddress.addressLine1', a.addressLine1, 200) ||
    assertText('shippingAddress.addressLine2', a.addressLine2, 200, false) ||
    assertText('shippingAddress.city', a.city, 100) ||
    assertText('shippingAddress.postalCode', a.postalCode, 20) ||
    (/^[A-Z]{2}$/.test(a.country) ? undefined : invalid('shippingAddress.country must be an ISO 3166-1 alpha-2 code such as US', 'shippingAddress.country'))
  );
}

/** A plain object (GraphQL input objects have a null prototype), trimmed, with absent lines as null. */
function plainAddress(a: Address): Address {
  return {
    addressLine1: a.addressLine1.trim(),
    addressLine2: a.addressLine2?.trim() || null,
    city: a.city.trim(),
    postalCode: a.postalCode.trim(),
    country: a.country,
  };
}

export async function publishOrder(deps: Deps, o: Pick<OrderRow, 'id' | 'userId' | 'status'>) {
  await deps.events
    .publish('order', o.id, { orderId: o.id, userId: o.userId, status: o.status })
    .catch((err) => deps.log.warn({ err, orderId: o.id }, 'order event not published'));
}

const itemOf = rowMapper(orderItems);

interface HeldRaw {
  id: string;
  quantity: number;
  expires_at: unknown;
  product_id: string;
  name: string;
  price_amount: number;
  currency: string;
}
const heldOf = (h: HeldRaw) => ({
  id: h.id,
  quantity: h.quantity,
  expiresAt: reservations.expiresAt.mapFromDriverValue(h.expires_at as string) as Date,
  productId: h.product_id,
  name: h.name,
  priceAmount: h.price_amount,
  currency: h.currency,
});

/** Turns the cart's live reservations into a PENDING order. Checking out a cart twice returns its order. */
export async function checkout(deps: Deps, actor: Actor, input: CheckoutInput): Promise<CheckoutResult> {
  const bad =
    assertUuid('cartId', input.cartId) ||
    assertPaymentMethod(input.paymentMethod) ||
    validateAddress(input.shippingAddress) ||
    assertIdempotencyKey(input.idempotencyKey);
  if (bad) return bad;
  const now = deps.now();
  type Placed = { __typename: 'Placed'; placed: Promise<OrderRow>; items: OrderItemRow[]; fresh: { id: string; productId: string }[] };
  const result = await deps.db.transaction(async (tx): Promise<CheckoutResult | Placed> => {
    // Hand-written statements (src/adapters/db/rows.ts): drizzle's builder cost a third of a
    // checkout's CPU. Sent together (one round trip; Postgres runs them in this order, each in a
    // snapshot taken after the one before): the cart row, locked, which serialises this cart's
    // checkouts; the order a repeated request key placed; then the cart's active holds (only if
    // the caller's), locked, with their products' price. A cart already checked out has none left.
    const [cartRows, priorRows, heldRows] = await Promise.all([
      exec(tx, sql`select id, status from carts where id = ${input.cartId} and user_id = ${actor.userId} for update`),
      // A repeated request key: the order it placed (read after the cart lock, so a concurrent
      // checkout of the same cart and key has committed by then).
      input.idempotencyKey ? exec(tx, sql`select * from orders where user_id = ${actor.userId} and idempotency_key = ${input.idempotencyKey}`) : undefined,
      exec(tx, sql`
        select r.id, r.quantity, r.expires_at, p.id as product_id, p.name, p.price_amount, p.currency
        from reservations r join products p on p.id = r.product_id
        where r.cart_id = ${input.cartId} and r.user_id = ${actor.userId} and r.status = 'ACTIVE'
        for update of r`),
    ]);
    const [cart] = rowsOf<{ id: string; status: CartRow['status'] }>(cartRows);
    if (!cart) return notFound('Cart');
    const [prior] = priorRows ? rowsOf<Record<string, unknown>>(priorRows).map(orderOf) : [];
    if (prior) return { __typename: 'CheckoutSuccess', order: prior };
    if (cart.status === 'CHECKED_OUT') {
      const [prior] = await tx.select().from(orders).where(eq(orders.cartId, cart.id));
      if (prior) return { __typename: 'CheckoutSuccess', order: prior };
    }
    const held = rowsOf<HeldRaw>(heldRows).map(heldOf);
    const live = held.filter((h) => h.expiresAt > now);
    if (live.length === 0) {
      if (held.length > 0) return reservationExpired();
      const [anyExpired] = await tx
        .select({ id: reservations.id })
        .from(reservations)
        .where(and(eq(reservations.cartId, cart.id), eq(reservations.status, 'EXPIRED')))
        .limit(1);
      return anyExpired ? reservationExpired() : cartEmpty();
    }
    const currencies = new Set(live.map((h) => h.currency));
    if (currencies.size > 1) return invalid('A cart cannot mix currencies; check out each currency separately', 'cartId');
    const orderId = randomUUID();
    const total = live.reduce((sum, h) => sum + h.priceAmount * h.quantity, 0);
    const currency = live[0].currency;
    const at = timestamptz(now);
    const sealed = sealAddress(deps, orderId, input.shippingAddress);
    const param = <T>(values: T[]) => sql.param(values);
    const holdIds = param(live.map((h) => h.id));
    const payload = { orderId, total, currency, items: live.map((h) => ({ productId: h.productId, name: h.name, quantity: h.quantity, unitAmount: h.priceAmount })) };
    // The five writes need nothing from each other's answers: sent together and with the COMMIT
    // (withCommit), they cost one round trip (Postgres runs them in this order, so the items and
    // holds find their order), and the connection goes back to the pool a round trip sooner.
    const writes = Promise.all([
      exec(tx, sql`
        insert into orders (id, cart_id, user_id, status, payment_status, inventory_status, total_amount, currency, payment_method,
                            shipping_address, shipping_address_sealed, idempotency_key)
        values (${orderId}, ${cart.id}, ${actor.userId}, 'PENDING', 'PENDING', 'CONFIRMED', ${total}, ${currency}, ${input.paymentMethod},
                null, ${sealed.shippingAddressSealed}, ${input.idempotencyKey ?? null})
        returning *`),
      exec(tx, sql`
        insert into order_items (order_id, reservation_id, product_id, quantity, unit_amount, currency)
        select ${orderId}::uuid, i.* from unnest(${holdIds}::uuid[], ${param(live.map((h) => h.productId))}::text[],
          ${param(live.map((h) => h.quantity))}::int[], ${param(live.map((h) => h.priceAmount))}::int[], ${param(live.map((h) => h.currency))}::text[]) as i`),
      exec(tx, sql`update reservations set status = 'CHECKED_OUT', order_id = ${orderId}::uuid, updated_at = ${at} where id = any(${holdIds}::uuid[])`),
      exec(tx, sql`update carts set status = 'CHECKED_OUT', updated_at = ${at} where id = ${cart.id}`),
      exec(tx, outboxInsert('order.placed', orderId, actor.userId, payload)),
    ]).then(([inserted]) => orderOf(rowsOf<Record<string, unknown>>(inserted)[0]));
    const { after } = await withCommit(tx, writes);
    const items = live.map((h) => ({ orderId, reservationId: h.id, productId: h.productId, quantity: h.quantity, unitAmount: h.priceAmount, currency: h.currency }));
    return { __typename: 'Placed' as const, placed: after, items, fresh: live.map((h) => ({ id: h.id, productId: h.productId })) };
  });
  if (result.__typename === 'Placed') {
    // The writes sent with the COMMIT: if they failed, nothing was committed and this throws.
    const order = await result.placed;
    rememberItems(deps, order.id, result.items);
    await publishOrder(deps, order);
    for (const r of result.fresh) {
      await publishReservation(deps, { id: r.id, userId: actor.userId, productId: r.productId, status: 'CHECKED_OUT' });
    }
    return { __typename: 'CheckoutSuccess', order };
  }
  return result;
}

export async function getOrder(deps: Deps, actor: Actor, id: string): Promise<OrderRow | undefined> {
  if (assertUuid('id', id)) return undefined;
  const [row] = await deps.db
    .select()
    .from(orders)
    .where(and(eq(orders.id, id), eq(orders.userId, actor.userId)));
  return row;
}

export async function listOrders(deps: Deps, actor: Actor, limit = 100): Promise<OrderRow[]> {
  return deps.db.select().from(orders).where(eq(orders.userId, actor.userId)).orderBy(desc(orders.createdAt)).limit(limit);
}

/**
 * Orders' items, which never change once an order is placed: those of the orders this process
 * placed or read lately are kept (bounded, oldest out first), so the answers of checkout and pay
 * (whose orders list their items) and order reads cost no query for them; the rest are read in one
 * query.
 */
export async function itemsOfOrders(deps: Deps, orderIds: string[]): Promise<Map<string, OrderItemRow[]>> {
  const out = new Map<string, OrderItemRow[]>();
  const unknown = orderIds.filter((id) => {
    const known = knownItems(deps).get(id);
    if (known) out.set(id, known);
    return !known;
  });
  if (!unknown.length) return out;
  const rows = rowsOf<Record<string, unknown>>(await exec(deps.db, sql`select * from order_items where order_id = any(${sql.param(unknown)}::uuid[])`)).map(itemOf);
  for (const [id, items] of groupBy(rows, (i) => i.orderId)) {
    rememberItems(deps, id, items);
    out.set(id, items);
  }
  return out;
}

/** The items this process keeps for an order, if it keeps them (no query). */
export const keptItemsOf = (deps: Deps, orderId: string): OrderItemRow[] | undefined => knownItems(deps).get(orderId);

/** Orders whose items this process keeps, per runtime. */
const KNOWN_ITEMS_MAX = 10_000;
const itemsByRuntime = new WeakMap<Deps, Map<string, OrderItemRow[]>>();
function knownItems(deps: Deps) {
  let m = itemsByRuntime.get(deps);
  if (!m) itemsByRuntime.set(deps, (m = new Map()));
  return m;
}
function rememberItems(deps: Deps, orderId: string, items: OrderItemRow[]) {
  const m = knownItems(deps);
  if (m.size >= KNOWN_ITEMS_MAX) m.delete(m.keys().next().value!);
  m.set(orderId, items);
}
