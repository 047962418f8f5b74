import { type CancelledSale, cancelSale } from '../domain/inventory/cancel.js';
import { createProduct, endSale, inventoryOf, listProducts, rescheduleSale, saleState, setStock, updateProduct } from '../domain/inventory/products.js';
import { assertProductId } from '../domain/results.js';
import { builder, Money, orThrow } from './builder.js';
import { Inventory, Product, Sale } from './refs.js';

const SaleState = builder.enumType('SaleState', { values: ['SCHEDULED', 'LIVE', 'SOLD_OUT', 'ENDED'] as const });

Sale.implement({
  fields: (t) => ({
    startsAt: t.expose('startsAt', { type: 'DateTime' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', nullable: true }),
    perUserLimit: t.exposeInt('perUserLimit'),
    reservationTtlSeconds: t.exposeInt('reservationTtlSeconds'),
    state: t.field({
      type: SaleState,
      resolve: async (p, _args, ctx) => {
        const inv = await inventoryOf(ctx.deps, p.id);
        return saleState(p, inv?.availableQuantity ?? p.availableQuantity, ctx.deps.now());
      },
    }),
  }),
});

Product.implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    price: t.field({ type: Money, resolve: (p) => ({ amount: p.priceAmount, currency: p.currency }) }),
    sale: t.field({ type: Sale, resolve: (p) => p }),
    inventory: t.field({
      type: Inventory,
      resolve: async (p, _args, ctx) => (await inventoryOf(ctx.deps, p.id))!,
    }),
  }),
});

builder.queryFields((t) => ({
  product: t.field({
    type: Product,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => {
      if (assertProductId('id', String(id))) return null;
      return ctx.loadProduct(String(id));
    },
  }),
  products: t.field({
    type: [Product],
    resolve: (_root, _args, ctx) => listProducts(ctx.deps.db),
  }),
}));

const SaleInput = builder.inputType('SaleInput', {
  fields: (t) => ({
    startsAt: t.field({ type: 'DateTime', required: true }),
    endsAt: t.field({ type: 'DateTime' }),
    perUserLimit: t.int({ required: true, defaultValue: 1 }),
    reservationTtlSeconds: t.int({ required: true, defaultValue: 300 }),
  }),
});

const CreateProductInput = builder.inputType('CreateProductInput', {
  fields: (t) => ({
    id: t.id(),
    name: t.string({ required: true }),
    priceAmount: t.int({ required: true }),
    currency: t.string({ required: true, defaultValue: 'USD' }),
    totalQuantity: t.int({ required: true }),
    sale: t.field({ type: SaleInput, required: true }),
  }),
});

const UpdateProductInput = builder.inputType('UpdateProductInput', {
  description: 'What to correct; a field left out keeps its value.',
  fields: (t) => ({
    name: t.string(),
    priceAmount: t.int(),
    currency: t.string(),
    perUserLimit: t.int(),
    reservationTtlSeconds: t.int(),
  }),
});

const CancelSaleResult = builder.objectRef<CancelledSale>('CancelSaleResult').implement({
  fields: (t) => ({
    product: t.expose('product', { type: Product }),
    holdsRevoked: t.exposeInt('holdsRevoked', { description: 'Holds taken back: the units are returned, their unpaid orders cancelled.' }),
    ordersRefunded: t.exposeInt('ordersRefunded', { description: 'Paid orders refunded and cancelled by this call (refundPaidOrders).' }),
    paymentsInFlight: t.exposeInt('paymentsInFlight', {
      description: 'Orders with the product whose payment is still in flight, left to settle: call again to refund those that complete.',
    }),
  }),
});

builder.mutationFields((t) => ({
  createProduct: t.field({
    type: Product,
    description: 'Admin only: create a product with its stock and sale window.',
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateProductInput, required: true }) },
    resolve: async (_root, { input }, ctx) =>
      orThrow(await createProduct(ctx.deps, ctx.actor!, { ...input, id: input.id == null ? null : String(input.id) })),
  }),
  endSale: t.field({
    type: Product,
    description:
      "Admin only: end the product's sale now (a pricing mistake, a recall); a sale not yet open ends too. " +
      'Reserves are refused from then on (SaleNotOpen, SALE_ENDED); holds already made keep their time and may still be ' +
      'checked out, orders may still be paid (cancelSale takes them back too). A sale already over is returned as it is.',
    authScopes: { admin: true },
    args: { productId: t.arg.id({ required: true }) },
    resolve: async (_root, { productId }, ctx) => orThrow(await endSale(ctx.deps, String(productId))),
  }),
  cancelSale: t.field({
    type: CancelSaleResult,
    description:
      "Admin only: call the product's sale off (a pricing mistake, a recall). The sale ends now (as endSale); every hold of the " +
      'product, and every other hold of an order that holds it, is taken back (units returned, unpaid orders cancelled, shoppers ' +
      'told); with refundPaidOrders every paid order with the product is refunded in full and cancelled, its shopper told. An ' +
      'order whose payment is in flight is left to settle (paymentsInFlight): a repeat refunds those paid since and changes ' +
      'nothing else. Audited.',
    authScopes: { admin: true },
    args: {
      productId: t.arg.id({ required: true }),
      reason: t.arg.string({ required: true }),
      refundPaidOrders: t.arg.boolean({ required: true, defaultValue: false }),
    },
    resolve: async (_root, { productId, reason, refundPaidOrders }, ctx) =>
      orThrow(await cancelSale(ctx.deps, ctx.actor!, String(productId), reason, refundPaidOrders)),
  }),
  rescheduleSale: t.field({
    type: Product,
    description:
      "Admin only: move the product's sale window; `startsAt` and `endsAt` are the whole new window (`endsAt` null: no end), " +
      'so a repeat changes nothing. A sale not yet open may start at any time (a start already past opens it now); an open ' +
      'sale keeps its start and may be extended or given an end in the future (endSale ends it now); a sale that is over is ' +
      'not reopened (INVALID_INPUT). Every process and every stockChanged subscriber learns the new window at once.',
    authScopes: { admin: true },
    args: {
      productId: t.arg.id({ required: true }),
      startsAt: t.arg({ type: 'DateTime', required: true }),
      endsAt: t.arg({ type: 'DateTime' }),
    },
    resolve: async (_root, { productId, startsAt, endsAt }, ctx) => orThrow(await rescheduleSale(ctx.deps, String(productId), { startsAt, endsAt: endsAt ?? null })),
  }),
  updateProduct: t.field({
    type: Product,
    description:
      "Admin only: correct a product's name, price, currency, per-shopper limit or hold time before its sale opens (a typo " +
      'found in time: nobody holds a unit yet). From the opening on the product is fixed (INVALID_INPUT; cancelSale calls a ' +
      'mispriced sale off). Every process and the gate take the correction at once; checkouts always charge the price ' +
      'Postgres holds. The same values again change nothing, so a repeat is safe. Audited.',
    authScopes: { admin: true },
    args: { productId: t.arg.id({ required: true }), input: t.arg({ type: UpdateProductInput, required: true }) },
    resolve: async (_root, { productId, input }, ctx) => orThrow(await updateProduct(ctx.deps, String(productId), input)),
  }),
  setStock: t.field({
    type: Product,
    description:
      "Admin only: set the product's total units (more stock arrived, or some is withdrawn). The difference goes on sale " +
      '(or off it) at once, on every process; the total cannot go below the units already held or sold (INVALID_INPUT). ' +
      'The same total again changes nothing, so a repeat is safe.',
    authScopes: { admin: true },
    args: { productId: t.arg.id({ required: true }), totalQuantity: t.arg.int({ required: true }) },
    resolve: async (_root, { productId, totalQuantity }, ctx) => orThrow(await setStock(ctx.deps, ctx.actor!, String(productId), totalQuantity)),
  }),
}));

