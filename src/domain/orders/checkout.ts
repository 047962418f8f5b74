import { randomUUID } from 'node:crypto';
import { and, desc, eq, inArray } from 'drizzle-orm';
import {
  carts,
  orderItems,
  orders,
  outbox,
  products,
  reservations,
  type OrderItemRow,
  type OrderRow,
} from '../../adapters/db/schema/tables.js';
import { publishReservation } from '../cart/reserve.js';
import { sealAddress } from '../privacy/address.js';
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

/** Turns the cart's live reservations into a PENDING order. Checking out a cart twice returns its order. */
export async function checkout(deps: Deps, actor: Actor, input: CheckoutInput): Promise<CheckoutResult> {
  const bad =
    assertUuid('cartId', input.cartId) ||
    assertPaymentMethod(input.paymentMethod) ||
    validateAddress(input.shippingAddress) ||
    assertIdempotencyKey(input.idempotencyKey);
  if (bad) return bad;
  const now = deps.now();
  const result = await deps.db.transaction(async (tx): Promise<CheckoutResult & { fresh?: { id: string; productId: string }[] }> => {
    const [cart] = await tx
      .select()
      .from(carts)
      .where(and(eq(carts.id, input.cartId), eq(carts.userId, actor.userId)))
      .for('update');
    if (!cart) return notFound('Cart');
    if (input.idempotencyKey) {
      const [prior] = await tx
        .select()
        .from(orders)
        .where(and(eq(orders.userId, actor.userId), eq(orders.idempotencyKey, input.idempotencyKey)));
      if (prior) return { __typename: 'CheckoutSuccess', order: prior };
    }
    if (cart.status === 'CHECKED_OUT') {
      const [prior] = await tx.select().from(orders).where(eq(orders.cartId, cart.id));
      if (prior) return { __typename: 'CheckoutSuccess', order: prior };
    }
    const held = await tx
      .select({ r: reservations, p: products })
      .from(reservations)
      .innerJoin(products, eq(products.id, reservations.productId))
      .where(and(eq(reservations.cartId, cart.id), eq(reservations.status, 'ACTIVE')))
      .for('update', { of: reservations });
    const live = held.filter((h) => h.r.expiresAt > now);
    if (live.length === 0) {
      if (held.length > 0) return reservationExpired();
      const [anyExpired] = await tx
        .select({ id: reservations.id })
        .from(reservations)
        .where(and(eq(reservations.cartId, cart.id), eq(reservations.status, 'EXPIRED')))
        .limit(1);
      return anyExpired ? reservationExpired() : cartEmpty();
    }
    const currencies = new Set(live.map((h) => h.p.currency));
    if (currencies.size > 1) return invalid('A cart cannot mix currencies; check out each currency separately', 'cartId');
    const orderId = randomUUID();
    const total = live.reduce((sum, h) => sum + h.p.priceAmount * h.r.quantity, 0);
    const currency = live[0].p.currency;
    // The five writes need nothing from each other's answers: sent together, they cost one round
    // trip (Postgres runs them in this order, so the items and holds find their order).
    const [[order]] = await Promise.all([
      tx
        .insert(orders)
        .values({
          id: orderId,
          cartId: cart.id,
          userId: actor.userId,
          status: 'PENDING',
          paymentStatus: 'PENDING',
          inventoryStatus: 'CONFIRMED',
          totalAmount: total,
          currency,
          paymentMethod: input.paymentMethod,
          ...sealAddress(deps, orderId, input.shippingAddress),
          idempotencyKey: input.idempotencyKey ?? null,
        })
        .returning(),
      tx.insert(orderItems).values(
        live.map((h) => ({
          orderId,
          reservationId: h.r.id,
          productId: h.p.id,
          quantity: h.r.quantity,
          unitAmount: h.p.priceAmount,
          currency: h.p.currency,
        })),
      ),
      tx
        .update(reservations)
        .set({ status: 'CHECKED_OUT', orderId, updatedAt: now })
        .where(inArray(reservations.id, live.map((h) => h.r.id))),
      tx.update(carts).set({ status: 'CHECKED_OUT', updatedAt: now }).where(eq(carts.id, cart.id)),
      tx.insert(outbox).values({
        id: randomUUID(),
        topic: 'order.placed',
        aggregateId: orderId,
        userId: actor.userId,
        payload: { orderId, total, currency, items: live.map((h) => ({ productId: h.p.id, name: h.p.name, quantity: h.r.quantity, unitAmount: h.p.priceAmount })) },
      }),
    ]);
    return { __typename: 'CheckoutSuccess', order, fresh: live.map((h) => ({ id: h.r.id, productId: h.p.id })) };
  });
  if (result.__typename === 'CheckoutSuccess' && result.fresh) {
    await publishOrder(deps, result.order);
    for (const r of result.fresh) {
      await publishReservation(deps, { id: r.id, userId: actor.userId, productId: r.productId, status: 'CHECKED_OUT' });
    }
    return { __typename: 'CheckoutSuccess', order: result.order };
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

export async function itemsOf(deps: Deps, orderId: string): Promise<OrderItemRow[]> {
  return deps.db.select().from(orderItems).where(eq(orderItems.orderId, orderId));
}
