import { watchStock } from '../domain/inventory/live.js';
import { inventoryOf } from '../domain/inventory/products.js';
import { assertProductId } from '../domain/results.js';
import type { FieldMemo } from '../http/fast-path.js';
import { badInput, builder, type Context } from './builder.js';
import { Inventory } from './refs.js';
import { streamSignal } from './streams.js';

Inventory.implement({
  fields: (t) => ({
    productId: t.exposeID('productId'),
    totalQuantity: t.exposeInt('totalQuantity'),
    availableQuantity: t.exposeInt('availableQuantity'),
    reservedQuantity: t.exposeInt('reservedQuantity'),
    soldQuantity: t.exposeInt('soldQuantity'),
    soldOut: t.boolean({ resolve: (i) => i.availableQuantity <= 0 }),
    updatedAt: t.field({ type: 'DateTime', resolve: (i) => i.updatedAt }),
    saleStartsAt: t.field({
      type: 'DateTime',
      description: "The sale's start (as Product.sale.startsAt), so a live ticker follows an operator who reschedules the sale.",
      resolve: async (i, _args, ctx) => i.startsAt ?? (await windowOf(ctx, i.productId)).startsAt,
    }),
    saleEndsAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: "The sale's end, null when it has none (as Product.sale.endsAt), so a live ticker follows an operator who ends or reschedules the sale.",
      resolve: async (i, _args, ctx) => (i.endsAt !== undefined ? i.endsAt : (await windowOf(ctx, i.productId)).endsAt),
    }),
  }),
});

/**
 * The window of a snapshot that came without one (a stock event from a process older than the
 * window in snapshots, during a rolling upgrade): the product row's.
 */
async function windowOf(ctx: Context, productId: string): Promise<{ startsAt: Date; endsAt: Date | null }> {
  const p = await ctx.loadProduct(productId);
  if (!p) throw new Error(`product ${productId} has stock but no row`);
  return p;
}

builder.queryFields((t) => ({
  inventory: t.field({
    type: Inventory,
    nullable: true,
    args: { productId: t.arg.id({ required: true }) },
    resolve: async (_root, { productId }, ctx) => {
      if (assertProductId('productId', String(productId))) return null;
      return (await inventoryOf(ctx.deps, String(productId))) ?? null;
    },
  }),
}));

/**
 * `inventory`'s answer is the product's in-memory stock snapshot and nothing else (no scope,
 * nothing per shopper): while `deps.inventory` holds the same snapshot object, the same
 * document and variables get the same answer, so the fast path may replay it. A change of
 * stock replaces the snapshot, and the next request computes a fresh answer.
 */
export const inventoryMemo: FieldMemo = (args, ctx) => {
  const id = String(args.productId);
  return assertProductId('productId', id) ? undefined : ctx.deps.inventory.get(id);
};

builder.subscriptionFields((t) => ({
  stockChanged: t.field({
    type: Inventory,
    description: "The product's inventory, now and after every change.",
    args: { productId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, { productId }, ctx) {
      const id = String(productId);
      const abort = streamSignal(ctx);
      try {
        const out = await watchStock(ctx.deps, id, abort.signal);
        if ('__typename' in out) {
          throw badInput(out.__typename === 'NotFound' ? `No product with id "${id}"` : 'productId is not a valid product id');
        }
        yield* out;
      } finally {
        abort.abort();
      }
    },
    resolve: (inv) => inv,
  }),
}));
