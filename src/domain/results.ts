/**
 * Expected business outcomes, returned (never thrown) as values whose `__typename`
 * names the schema type that carries them, so clients switch on `__typename`.
 */
export type ErrorCode =
  | 'INVALID_INPUT'
  | 'NOT_FOUND'
  | 'SALE_NOT_STARTED'
  | 'SALE_ENDED'
  | 'SOLD_OUT'
  | 'LIMIT_EXCEEDED'
  | 'RESERVATION_EXPIRED'
  | 'CART_EMPTY'
  | 'AMOUNT_MISMATCH'
  | 'PAYMENT_DECLINED'
  | 'PAYMENT_UNAVAILABLE'
  | 'RATE_LIMITED'
  | 'CAPTCHA_REQUIRED'
  | 'ALREADY_PAID';

export interface InvalidInput { __typename: 'InvalidInput'; code: 'INVALID_INPUT'; message: string; field?: string }
export interface NotFound { __typename: 'NotFound'; code: 'NOT_FOUND'; message: string }
export interface SaleNotOpen {
  __typename: 'SaleNotOpen';
  code: 'SALE_NOT_STARTED' | 'SALE_ENDED';
  message: string;
  startsAt?: Date;
  endsAt?: Date | null;
}
export interface SoldOut { __typename: 'SoldOut'; code: 'SOLD_OUT'; message: string; productId: string }
export interface LimitExceeded { __typename: 'LimitExceeded'; code: 'LIMIT_EXCEEDED'; message: string; limit: number }
export interface ReservationExpired { __typename: 'ReservationExpired'; code: 'RESERVATION_EXPIRED'; message: string }
export interface CartEmpty { __typename: 'CartEmpty'; code: 'CART_EMPTY'; message: string }

export const invalid = (message: string, field?: string): InvalidInput => ({
  __typename: 'InvalidInput',
  code: 'INVALID_INPUT',
  message,
  field,
});
export const notFound = (what: string): NotFound => ({ __typename: 'NotFound', code: 'NOT_FOUND', message: `${what} not found` });
export const soldOut = (productId: string): SoldOut => ({
  __typename: 'SoldOut',
  code: 'SOLD_OUT',
  message: 'This product is sold out',
  productId,
});
export const limitExceeded = (limit: number): LimitExceeded => ({
  __typename: 'LimitExceeded',
  code: 'LIMIT_EXCEEDED',
  message: `At most ${limit} per shopper`,
  limit,
});
export const reservationExpired = (message = 'The reservation has expired; its stock went back on sale'): ReservationExpired => ({
  __typename: 'ReservationExpired',
  code: 'RESERVATION_EXPIRED',
  message,
});
export const cartEmpty = (): CartEmpty => ({ __typename: 'CartEmpty', code: 'CART_EMPTY', message: 'The cart has no active reservations' });
export const saleNotStarted = (startsAt: Date, endsAt: Date | null): SaleNotOpen => ({
  __typename: 'SaleNotOpen',
  code: 'SALE_NOT_STARTED',
  message: `The sale starts at ${startsAt.toISOString()}`,
  startsAt,
  endsAt,
});
export const saleEnded = (startsAt: Date, endsAt: Date | null): SaleNotOpen => ({
  __typename: 'SaleNotOpen',
  code: 'SALE_ENDED',
  message: 'The sale has ended',
  startsAt,
  endsAt,
});

// --- small validators: each returns an InvalidInput or nothing, chained with `||` ---

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const PRODUCT_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const MAX_QUANTITY = 1000;

export function assertUuid(field: string, value: string): InvalidInput | undefined {
  return UUID_RE.test(value) ? undefined : invalid(`${field} is not a valid id`, field);
}

export function assertProductId(field: string, value: string): InvalidInput | undefined {
  return PRODUCT_ID_RE.test(value)
    ? undefined
    : invalid(`${field} must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit`, field);
}

export function assertIntRange(field: string, value: number, min: number, max: number): InvalidInput | undefined {
  return Number.isInteger(value) && value >= min && value <= max
    ? undefined
    : invalid(`${field} must be a whole number from ${min} to ${max}`, field);
}

export function assertText(field: string, value: string | null | undefined, max: number, required = true): InvalidInput | undefined {
  if (value === undefined || value === null) return required ? invalid(`${field} is required`, field) : undefined;
  if (required && value.trim() === '') return invalid(`${field} must not be empty`, field);
  if (value.length > max) return invalid(`${field} must be at most ${max} characters`, field);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(value)) return invalid(`${field} contains control characters`, field);
  return undefined;
}

export function assertIdempotencyKey(value: string | null | undefined): InvalidInput | undefined {
  if (value === undefined || value === null) return undefined;
  return /^[\x21-\x7e]{1,128}$/.test(value)
    ? undefined
    : invalid('idempotencyKey must be 1-128 printable ASCII characters without spaces', 'idempotencyKey');
}
