import { inventoryOf } from '../domain/inventory/products.js';
import { assertProductId } from '../domain/results.js';
import { badInput, builder } from './builder.js';
import { Inventory } from './refs.js';

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
      if (assertProductId('productId', id)) throw badInput('productId is not a valid product id');
      const abort = new AbortController();
      // Listen before reading the current value, so no change falls between the two.
      const events = ctx.deps.events.subscribe('stock', id, abort.signal)[Symbol.asyncIterator]();
      try {
        const now = await inventoryOf(ctx.deps, id);
        if (!now) throw badInput(`No product with id "${id}"`);
        let last = now.version;
        yield now;
        for (;;) {
          const next = await events.next();
          if (next.done) return;
          if (next.value.version <= last) continue;
          last = next.value.version;
          yield next.value;
        }
      } finally {
        abort.abort();
      }
    },
    resolve: (inv) => inv,
  }),
}));
