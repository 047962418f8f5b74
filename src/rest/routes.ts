import type { Actor, Deps } from '../domain/context.js';
import { keyedSoldOut, knownSoldOut, reserve } from '../domain/cart/reserve.js';
import type { InventorySnapshot } from '../domain/events.js';
import { inventoryOf } from '../domain/inventory/products.js';
import { checkout, getOrder } from '../domain/orders/checkout.js';
import { pay } from '../domain/payments/pay.js';
import { PRODUCT_ID_RE } from '../domain/results.js';
import type { Security } from '../security/guard.js';
import { BodyTooLarge } from '../http/body.js';
import { opsOf } from '../ops/index.js';

/**
 * The seed's REST endpoints, mirrored with their exact paths and snake_case shapes.
 * Each maps to one domain call, exactly like its GraphQL twin.
 */
export interface RestRequest {
  method: string;
  path: string;
  /** The parsed JSON body; throws `BodyTooLarge` past `REST_MAX_BODY_BYTES`. */
  body: () => Promise<unknown>;
  /** The verified shopper, or why the token was refused. */
  actor?: Actor;
  authError?: string;
  /** Rate limits and the bot challenge; the client's IP when known. */
  security?: Security;
  ip?: string;
}

/** The REST mirror's bodies are a few hundred bytes; anything past this is refused with 413. */
export const REST_MAX_BODY_BYTES = 64 * 1024;

export interface RestResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
  /** `body` already serialised (JSON.stringify of it), when the route keeps it. */
  json?: string;
}

/**
 * The answer to GET /inventory/{id} for one stock snapshot, built and serialised once:
 * snapshots are replaced, never changed, so the answer holds as long as the snapshot does.
 */
const inventoryAnswers = new WeakMap<InventorySnapshot, RestResponse>();

function inventoryAnswer(s: InventorySnapshot): RestResponse {
  let out = inventoryAnswers.get(s);
  if (!out) {
    const body = {
      product_id: s.productId,
      total_quantity: s.totalQuantity,
      available_quantity: s.availableQuantity,
      reserved_quantity: s.reservedQuantity,
      sold_quantity: s.soldQuantity,
      sold_out: s.availableQuantity <= 0,
      updated_at: s.updatedAt,
      // The sale window (null only in a snapshot from a process older than it, during an upgrade).
      sale_starts_at: s.startsAt ?? null,
      sale_ends_at: s.endsAt ?? null,
    };
    out = Object.freeze({ status: 200, body: Object.freeze(body), json: JSON.stringify(body) });
    inventoryAnswers.set(s, out);
  }
  return out;
}

const STATUS: Record<string, number> = {
  InvalidInput: 400,
  NotFound: 404,
  SoldOut: 409,
  LimitExceeded: 409,
  SaleNotOpen: 409,
  CartEmpty: 409,
  AlreadyPaid: 409,
  ReservationExpired: 410,
  AmountMismatch: 422,
  PaymentDeclined: 402,
  PaymentUnavailable: 503,
  RateLimited: 429,
  CaptchaRequired: 428,
  ShopperBlocked: 403,
};

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A typed business error as `{ error: { code, message, ...details } }` with its HTTP status. */
function errorResponse(e: { __typename: string; code: string; message: string } & Record<string, unknown>): RestResponse {
  const { __typename, code, message, ...rest } = e;
  const details = Object.fromEntries(
    Object.entries(rest)
      .filter(([, v]) => v !== undefined && v !== null && typeof v !== 'object')
      .map(([k, v]) => [snake(k), v]),
  );
  for (const [k, v] of Object.entries(rest)) if (v instanceof Date) details[snake(k)] = v.toISOString();
  const headers: Record<string, string> = {};
  const retry = (rest as { retryAfterSeconds?: number }).retryAfterSeconds;
  if (retry !== undefined) headers['retry-after'] = String(retry);
  return { status: STATUS[__typename] ?? 400, body: { error: { code, message, type: __typename, ...details } }, headers };
}

const bad = (message: string, field?: string): RestResponse => ({
  status: 400,
  body: { error: { code: 'INVALID_INPUT', message, type: 'InvalidInput', ...(field ? { field } : {}) } },
});

function str(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Converts a major-unit amount (19.99) to minor units (1999) for the currency, refusing extra decimals. */
export function toMinorUnits(amount: number, currency: string): number | undefined {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return undefined;
  }
  const minor = Math.round(amount * 10 ** digits);
  if (!Number.isFinite(amount) || Math.abs(minor - amount * 10 ** digits) > 1e-6) return undefined;
  return minor;
}

function fromMinorUnits(amount: number, currency: string): number {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  return amount / 10 ** digits;
}

export async function handleRest(deps: Deps, req: RestRequest): Promise<RestResponse | undefined> {
  const inv = /^\/inventory\/([^/]+)$/.exec(req.path);
  if (inv) {
    if (req.method !== 'GET') return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Use GET' } }, headers: { allow: 'GET' } };
    const id = decodeURIComponent(inv[1]);
    if (!PRODUCT_ID_RE.test(id)) return bad('product_id is not a valid product id', 'product_id');
    const limited = await req.security?.read(req.actor, req.ip);
    if (limited) return errorResponse(limited as never);
    const s = await inventoryOf(deps, id);
    if (!s) return { status: 404, body: { error: { code: 'NOT_FOUND', message: 'Product not found', type: 'NotFound' } } };
    return inventoryAnswer(s);
  }
  const routes: Record<string, 'add' | 'reserve' | 'checkout' | 'payment'> = {
    '/add-to-cart': 'add',
    '/reserve-inventory': 'reserve',
    '/checkout': 'checkout',
    '/payment': 'payment',
  };
  const route = routes[req.path];
  if (!route) return undefined;
  if (req.method !== 'POST') return { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'Use POST' } }, headers: { allow: 'POST' } };
  if (!req.actor) {
    return {
      status: 401,
      body: { error: { code: 'UNAUTHENTICATED', message: req.authError ?? 'Sign in: send a bearer token in the Authorization header' } },
      headers: { 'www-authenticate': 'Bearer' },
    };
  }
  let body: Record<string, unknown>;
  try {
    const parsed = await req.body();
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return bad('The body must be a JSON object');
    body = parsed as Record<string, unknown>;
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      return { status: 413, body: { error: { code: 'PAYLOAD_TOO_LARGE', message: `${err.message}; nothing was changed` } } };
    }
    return bad('The body is not valid JSON');
  }
  if (body.user_id !== undefined && body.user_id !== req.actor.userId) {
    return { status: 403, body: { error: { code: 'FORBIDDEN', message: "user_id must be the token's subject" } } };
  }
  const actor = req.actor;
  if (route === 'checkout' || route === 'payment') {
    const limited = await req.security?.checkout(actor, req.ip);
    if (limited) return errorResponse(limited as never);
  }
  switch (route) {
    case 'add':
    case 'reserve': {
      const quantity = body.quantity === undefined ? 1 : body.quantity;
      if (typeof quantity !== 'number') return bad('quantity must be a number', 'quantity');
      const input = { productId: str(body, 'product_id') ?? '', quantity, idempotencyKey: str(body, 'idempotency_key') };
      // Counted as a GraphQL reserve is (saleStats.reserveAttemptsPerSecond), sold out or not.
      if (input.productId) opsOf(deps)?.attempts.record(input.productId);
      // As in GraphQL: sold out is answered from memory before the rate limits and the challenge.
      const gone = knownSoldOut(deps, input) ?? (await keyedSoldOut(deps, actor, input));
      if (gone) return errorResponse(gone as never);
      const guarded = await req.security?.reserve(actor, req.ip, input.productId, str(body, 'captcha'));
      if (guarded) return errorResponse(guarded as never);
      const out = await reserve(deps, actor, input);
      if (out.__typename !== 'ReserveSuccess') return errorResponse(out as never);
      const r = out.reservation;
      const common = {
        reservation_id: r.id,
        product_id: r.productId,
        quantity: r.quantity,
        sequence: r.sequence,
        status: r.status,
        reservation_expiry: r.expiresAt.toISOString(),
      };
      return { status: 200, body: route === 'add' ? { cart_id: r.cartId, ...common } : common };
    }
    case 'checkout': {
      const a = (body.shipping_address ?? {}) as Record<string, unknown>;
      if (typeof a !== 'object' || Array.isArray(a)) return bad('shipping_address must be an object', 'shipping_address');
      const out = await checkout(deps, actor, {
        cartId: str(body, 'cart_id') ?? '',
        paymentMethod: str(body, 'payment_method') ?? '',
        shippingAddress: {
          addressLine1: str(a, 'address_line1') ?? '',
          addressLine2: str(a, 'address_line2'),
          city: str(a, 'city') ?? '',
          postalCode: str(a, 'postal_code') ?? '',
          country: str(a, 'country') ?? '',
        },
        idempotencyKey: str(body, 'idempotency_key'),
      });
      if (out.__typename !== 'CheckoutSuccess') return errorResponse(out as never);
      const o = out.order;
      return {
        status: 200,
        body: {
          order_id: o.id,
          cart_id: o.cartId,
          status: o.status,
          payment_status: o.paymentStatus,
          inventory_status: o.inventoryStatus,
          total_amount: fromMinorUnits(o.totalAmount, o.currency),
          currency: o.currency,
        },
      };
    }
    case 'payment': {
      if (typeof body.amount !== 'number') return bad('amount must be a number in major units, e.g. 19.99', 'amount');
      const orderId = str(body, 'order_id') ?? '';
      // The amount is in the order's currency: convert with that currency's minor-unit exponent.
      const currency = (await getOrder(deps, actor, orderId))?.currency ?? 'USD';
      const minor = toMinorUnits(body.amount, currency);
      if (minor === undefined) return bad('amount has more decimals than the currency allows', 'amount');
      const out = await pay(deps, actor, {
        orderId,
        paymentMethod: str(body, 'payment_method') ?? '',
        amount: minor,
        idempotencyKey: str(body, 'idempotency_key'),
      });
      if (out.__typename !== 'PaySuccess') return errorResponse(out as never);
      return {
        status: 200,
        body: {
          order_id: out.order.id,
          status: out.order.status,
          payment_status: out.paymentStatus,
          transaction_id: out.transactionId,
          amount: fromMinorUnits(out.order.totalAmount, out.order.currency),
          currency: out.order.currency,
        },
      };
    }
  }
}
