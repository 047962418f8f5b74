import { watchStock } from '../domain/inventory/live.js';
import { inventoryOf } from '../domain/inventory/products.js';
import { assertProductId } from '../domain/results.js';
import { badInput, builder } from './builder.js';
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
  }),
});

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
