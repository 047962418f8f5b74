import { getCart } from '../domain/cart/reserve.js';
import { builder } from './builder.js';
import { Cart, Reservation } from './refs.js';

Cart.implement({
  fields: (t) => ({
    id: t.id({ resolve: (c) => c.cart.id }),
    reservations: t.field({ type: [Reservation], resolve: (c) => c.reservations }),
    expiresAt: t.field({ type: 'DateTime', nullable: true, resolve: (c) => c.expiresAt }),
  }),
});

builder.queryFields((t) => ({
  cart: t.field({
    type: Cart,
    nullable: true,
    description: "The signed-in shopper's active cart, if any.",
    authScopes: { shopper: true },
    resolve: async (_root, _args, ctx) => (await getCart(ctx.deps, ctx.actor!)) ?? null,
  }),
}));
