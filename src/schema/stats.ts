import type { Deps } from '../domain/context.js';
import { saleStats, type SaleStats as Stats } from '../domain/inventory/stats.js';
import { assertProductId } from '../domain/results.js';
import { opsOf } from '../ops/index.js';
import { badInput, builder, Money } from './builder.js';

const SaleStats = builder.objectRef<Stats>('SaleStats').implement({
  description: "An operator's view of one sale: the stock ledger, revenue and demand, from Postgres at the moment asked.",
  fields: (t) => ({
    productId: t.exposeID('productId'),
    totalQuantity: t.exposeInt('totalQuantity'),
    availableQuantity: t.exposeInt('availableQuantity'),
    reservedQuantity: t.exposeInt('reservedQuantity'),
    soldQuantity: t.exposeInt('soldQuantity'),
    revenue: t.field({ type: Money, description: 'Paid orders for this product, in minor units.', resolve: (s) => s.revenue }),
    reserveAttemptsPerSecond: t.exposeFloat('reserveAttemptsPerSecond', {
      description: 'Reserve attempts per second over the last 5 seconds (every api process when Redis is configured).',
    }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

const rate = (deps: Deps) => (id: string) => opsOf(deps)?.attempts.perSecond(id) ?? Promise.resolve(0);

builder.queryFields((t) => ({
  saleStats: t.field({
    type: SaleStats,
    nullable: true,
    description: "A sale's live figures (admin only). Null when there is no such product.",
    authScopes: { admin: true },
    args: { productId: t.arg.id({ required: true }) },
    resolve: async (_root, { productId }, ctx) => {
      const id = String(productId);
      if (assertProductId('productId', id)) return null;
      return (await saleStats(ctx.deps, id, rate(ctx.deps))) ?? null;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  saleStats: t.field({
    type: SaleStats,
    description: "A sale's live figures now and then every SALE_STATS_INTERVAL_MS (admin only).",
    authScopes: { admin: true },
    args: { productId: t.arg.id({ required: true }) },
    subscribe: async function* (_root, { productId }, ctx) {
      const id = String(productId);
      if (assertProductId('productId', id)) throw badInput('productId is not a valid product id');
      const every = opsOf(ctx.deps)?.config.saleStatsIntervalMs ?? 1000;
      for (;;) {
        const s = await saleStats(ctx.deps, id, rate(ctx.deps));
        if (!s) throw badInput(`No product with id "${id}"`);
        yield s;
        await new Promise((r) => setTimeout(r, every));
      }
    },
    resolve: (s) => s,
  }),
}));
