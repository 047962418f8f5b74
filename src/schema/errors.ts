import { builder, Money } from './builder.js';
import { Order } from './refs.js';

export const ErrorCode = builder.enumType('ErrorCode', {
  values: [
    'INVALID_INPUT',
    'NOT_FOUND',
    'UNAUTHENTICATED',
    'FORBIDDEN',
    'SALE_NOT_STARTED',
    'SALE_ENDED',
    'SOLD_OUT',
    'LIMIT_EXCEEDED',
    'RESERVATION_EXPIRED',
    'CART_EMPTY',
    'AMOUNT_MISMATCH',
    'PAYMENT_DECLINED',
    'PAYMENT_UNAVAILABLE',
    'RATE_LIMITED',
    'CAPTCHA_REQUIRED',
    'ALREADY_PAID',
  ] as const,
});

interface ErrorShape {
  __typename: string;
  code: (typeof ErrorCode)['$inferType'];
  message: string;
}

export const ErrorInterface = builder.interfaceRef<ErrorShape>('Error').implement({
  description: 'An expected business outcome. Switch on __typename.',
  resolveType: (v) => v.__typename,
  fields: (t) => ({
    code: t.field({ type: ErrorCode, resolve: (e) => e.code }),
    message: t.exposeString('message'),
  }),
});

/** Defines an error type implementing `Error` with its extra fields. */
function errorType<T extends ErrorShape>(
  name: string,
  fields?: Parameters<ReturnType<typeof builder.objectRef<T>>['implement']>[0]['fields'],
) {
  return builder.objectRef<T>(name).implement({
    interfaces: [ErrorInterface] as never,
    isTypeOf: (v) => (v as ErrorShape).__typename === name,
    fields: fields ?? (() => ({})),
  });
}

export const InvalidInput = errorType<ErrorShape & { field?: string }>('InvalidInput', (t) => ({
  field: t.exposeString('field', { nullable: true }),
}));
export const NotFound = errorType('NotFound');
export const SaleNotOpen = errorType<ErrorShape & { startsAt?: Date; endsAt?: Date | null }>('SaleNotOpen', (t) => ({
  startsAt: t.expose('startsAt', { type: 'DateTime', nullable: true }),
  endsAt: t.expose('endsAt', { type: 'DateTime', nullable: true }),
}));
export const SoldOut = errorType<ErrorShape & { productId: string }>('SoldOut', (t) => ({
  productId: t.exposeID('productId'),
}));
export const LimitExceeded = errorType<ErrorShape & { limit: number }>('LimitExceeded', (t) => ({
  limit: t.exposeInt('limit'),
}));
export const ReservationExpired = errorType('ReservationExpired');
export const CartEmpty = errorType('CartEmpty');
export const AmountMismatch = errorType<ErrorShape & { expected: { amount: number; currency: string } }>('AmountMismatch', (t) => ({
  expected: t.expose('expected', { type: Money }),
}));
export const PaymentDeclined = errorType<ErrorShape & { declineCode?: string | null }>('PaymentDeclined', (t) => ({
  declineCode: t.exposeString('declineCode', { nullable: true }),
}));
export const PaymentUnavailable = errorType<ErrorShape & { retryAfterSeconds?: number }>('PaymentUnavailable', (t) => ({
  retryAfterSeconds: t.exposeInt('retryAfterSeconds', { nullable: true }),
}));
export const AlreadyPaid = errorType<ErrorShape & { order: (typeof Order)['$inferType'] }>('AlreadyPaid', (t) => ({
  order: t.expose('order', { type: Order }),
}));
export const RateLimited = errorType<ErrorShape & { retryAfterSeconds: number }>('RateLimited', (t) => ({
  retryAfterSeconds: t.exposeInt('retryAfterSeconds'),
}));
export const CaptchaRequired = errorType<ErrorShape & { challenge: string }>('CaptchaRequired', (t) => ({
  challenge: t.exposeString('challenge', { description: 'A fresh challenge the client must solve and send back.' }),
}));

/** Result unions: every member carries `__typename`. */
export const byTypename = (v: unknown) => (v as { __typename: string }).__typename;
