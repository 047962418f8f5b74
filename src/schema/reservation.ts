import { GraphQLError } from 'graphql';
import { getReservation, keyedSoldOut, knownSoldOut, releaseReservation, reserve } from '../domain/cart/reserve.js';
import type { FieldMemo } from '../http/fast-path.js';
import { watchCountdown } from '../domain/cart/countdown.js';
import { badInput, builder } from './builder.js';
import {
  CaptchaRequired,
  InvalidInput,
  LimitExceeded,
  NotFound,
  RateLimited,
  ReservationExpired,
  byTypename,
  SaleNotOpen,
  SoldOut,
} from './errors.js';
import { Product, Reservation } from './refs.js';
import { streamSignal } from './streams.js';

const ReservationStatus = builder.enumType('ReservationStatus', {
  values: ['ACTIVE', 'CHECKED_OUT', 'PURCHASED', 'EXPIRED', 'RELEASED'] as const,
});

Reservation.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    cartId: t.exposeID('cartId'),
    product: t.field({ type: Product, resolve: async (r, _a, ctx) => (await ctx.loadProduct(r.productId))! }),
    quantity: t.exposeInt('quantity'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    status: t.field({ type: ReservationStatus, resolve: (r) => r.status }),
    sequence: t.exposeInt('sequence', {
      description: 'Position of this reservation in arrival order for its product (1 = first).',
    }),
  }),
});

const ReserveInput = builder.inputType('ReserveInput', {
  fields: (t) => ({
    productId: t.id({ required: true }),
    quantity: t.int({ required: true, defaultValue: 1 }),
    idempotencyKey: t.string({
      description: 'Same key, same shopper: the first outcome is returned again; nothing is reserved twice.',
    }),
    captcha: t.string({ description: 'A solved bot challenge, when the server asks for one.' }),
  }),
});

const ReserveSuccess = builder.objectRef<{ __typename: 'ReserveSuccess'; reservation: (typeof Reservation)['$inferType'] }>('ReserveSuccess').implement({
  isTypeOf: (v) => (v as { __typename?: string }).__typename === 'ReserveSuccess',
  fields: (t) => ({ reservation: t.expose('reservation', { type: Reservation }) }),
});
const ReleaseSuccess = builder.objectRef<{ __typename: 'ReleaseSuccess'; reservation: (typeof Reservation)['$inferType'] }>('ReleaseSuccess').implement({
  isTypeOf: (v) => (v as { __typename?: string }).__typename === 'ReleaseSuccess',
  fields: (t) => ({ reservation: t.expose('reservation', { type: Reservation }) }),
});

const ReserveResult = builder.unionType('ReserveResult', {
  types: [ReserveSuccess,
  SoldOut,
  LimitExceeded,
  SaleNotOpen,
  NotFound,
  InvalidInput,
  RateLimited,
  CaptchaRequired,],
  resolveType: byTypename,
});
const ReleaseResult = builder.unionType('ReleaseResult', {
  types: [ReleaseSuccess, NotFound, ReservationExpired, InvalidInput],
  resolveType: byTypename,
});

builder.queryFields((t) => ({
  reservation: t.field({
    type: Reservation,
    nullable: true,
    authScopes: { shopper: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => (await getReservation(ctx.deps, ctx.actor!, String(id))) ?? null,
  }),
}));

const reserveInput = (input: { productId: string | number; quantity: number; idempotencyKey?: string | null }) => ({
  productId: String(input.productId),
  quantity: input.quantity,
  idempotencyKey: input.idempotencyKey,
});

/** The token of every replayable sold-out answer: the answer is the same for every signed-in caller. */
const SOLD_OUT = Symbol('sold out');

/**
 * `reserve` on a product this process knows is sold out (valid input, no idempotency key,
 * any signed-in shopper) answers `SoldOut` from memory and does nothing else, so the fast
 * path may replay that answer while the product stays sold out. Anything else (not signed
 * in, stock back, a keyed retry) runs the resolver.
 */
export const reserveMemo: FieldMemo = (args, ctx) =>
  ctx.actor && knownSoldOut(ctx.deps, reserveInput(args.input as Parameters<typeof reserveInput>[0])) ? SOLD_OUT : undefined;

/**
 * A keyed `reserve` (every SDK reserve carries a fresh key) on a product this process knows is
 * sold out answers `SoldOut` when the shopper's key was never admitted (keyedSoldOut): the same
 * answer for every such key, so the fast path replays it after that one lookup (batched per turn).
 */
reserveMemo.keyed = {
  path: ['input', 'idempotencyKey'],
  token: (args, ctx) => reserveMemo({ input: { ...(args.input as object), idempotencyKey: undefined } }, ctx),
  remember: (value) => (value as { __typename?: unknown } | null)?.__typename === 'SoldOut',
  unused: async (args, key, ctx) =>
    !(await ctx.deps.gate.mayRepeat(String((args.input as { productId: unknown }).productId), ctx.actor!.userId, key, ctx.deps.now().getTime())),
};

builder.mutationFields((t) => ({
  reserve: t.field({
    type: ReserveResult,
    description: "Hold stock for the signed-in shopper for the sale's reservation time and put it in their cart.",
    authScopes: { shopper: true },
    args: { input: t.arg({ type: ReserveInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      // Sold out is answered from memory before the rate limits and the challenge: nothing is
      // left to protect, and the answer costs less than the checks (no Redis round trip).
      const early = knownSoldOut(ctx.deps, reserveInput(input)) ?? (await keyedSoldOut(ctx.deps, ctx.actor!, reserveInput(input)));
      if (early) return early;
      const guarded = await ctx.security.reserve(ctx.actor!, ctx.ip, String(input.productId), input.captcha);
      if (guarded?.__typename === 'ShopperBlocked') throw new GraphQLError(guarded.message, { extensions: { code: guarded.code } });
      return guarded ?? reserve(ctx.deps, ctx.actor!, reserveInput(input));
    },
  }),
  releaseReservation: t.field({
    type: ReleaseResult,
    description: 'Give a held reservation back to the pool before it expires.',
    authScopes: { shopper: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => releaseReservation(ctx.deps, ctx.actor!, String(id)),
  }),
}));

const ReservationCountdown = builder
  .objectRef<{ reservation: (typeof Reservation)['$inferType']; secondsLeft: number }>('ReservationCountdown')
  .implement({
    fields: (t) => ({
      reservation: t.expose('reservation', { type: Reservation }),
      secondsLeft: t.exposeInt('secondsLeft'),
    }),
  });

builder.subscriptionFields((t) => ({
  reservationCountdown: t.field({
    type: ReservationCountdown,
    description: 'The reservation, now and every second until it ends, then its final state.',
    authScopes: { shopper: true },
    args: { reservationId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, { reservationId }, ctx) {
      const id = String(reservationId);
      const abort = streamSignal(ctx);
      try {
        const out = await watchCountdown(ctx.deps, ctx.actor!, id, abort.signal);
        if ('__typename' in out) {
          throw badInput(out.__typename === 'NotFound' ? `No reservation with id "${id}" for this shopper` : 'reservationId is not a valid id');
        }
        yield* out;
      } finally {
        abort.abort();
      }
    },
    resolve: (v) => v,
  }),
}));
