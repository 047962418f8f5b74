// Operators call a sale off (cancelSale): the sale ends, every hold of it (and the other holds of
// its orders) is taken back, unpaid orders are cancelled, paid ones refunded once; an order whose
// payment is in flight is left to settle and refunded by a repeat; other sales are not touched.
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { orders, refunds } from '../src/adapters/db/schema/tables.js';
import { chargeRequestOf, settlePayment, startAttempt } from '../src/domain/payments/pay.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';
import { waitFor } from './support/servers.js';

const CANCEL = /* GraphQL */ `
  mutation($id: ID!, $reason: String!, $refund: Boolean!) {
    cancelSale(productId: $id, reason: $reason, refundPaidOrders: $refund) {
      product { id sale { state } }
      holdsRevoked ordersRefunded paymentsInFlight
    }
  }
`;

describe.each(BACKENDS)('cancelSale on %s', (backend) => {
  let h: Harness;
  const tag = backend.replace(/\W/g, '-');
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });

  const open = () => ({ startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 3 });
  const db = () => h.backend.runtime.deps.db;
  const statusOf = async (ids: string[]) =>
    Object.fromEntries((await db().select({ id: orders.id, status: orders.status }).from(orders).where(inArray(orders.id, ids))).map((o) => [o.id, o.status]));

  /** A shopper's cart: `items` reserved (in order), checked out unless `checkout` is false, paid when `pay`. */
  async function cart(who: string, items: [productId: string, quantity: number][], opts: { checkout?: boolean; pay?: boolean } = {}) {
    const token = await h.token(`${who}-${tag}`);
    let cartId = '';
    for (const [productId, quantity] of items) {
      const r = await h.gql(RESERVE, { input: { productId, quantity } }, token);
      expect(r.data.reserve.__typename, who).toBe('ReserveSuccess');
      cartId = r.data.reserve.reservation.cartId;
    }
    if (opts.checkout === false) return { token, orderId: '' };
    const c = await h.gql(CHECKOUT, { input: { cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, token);
    const o = c.data.checkout.order;
    if (opts.pay) expect((await h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.total.amount } }, token)).data.pay.__typename).toBe('PaySuccess');
    return { token, orderId: o.id as string, amount: o.total.amount as number };
  }

  it('ends the sale, takes every hold back, cancels unpaid orders and refunds paid ones once; a payment in flight is refunded by the repeat', async () => {
    const { id } = await h.product({ totalQuantity: 10, priceAmount: 1000, sale: open() });
    const other = await h.product({ totalQuantity: 4, priceAmount: 300, sale: open() });
    const untouched = await h.product({ totalQuantity: 4, priceAmount: 500, sale: open() });

    await cart('cs-held', [[id, 1]], { checkout: false }); // an active hold
    const pending = await cart('cs-pending', [[id, 2]]); // checked out, not paid
    const paid = await cart('cs-paid', [[id, 1]], { pay: true });
    const mixed = await cart('cs-mixed', [[id, 1], [other.id, 1]]); // one order, two products
    const elsewhere = await cart('cs-elsewhere', [[untouched.id, 1]], { pay: true });
    // A payment in flight: charged at the gateway, not settled yet.
    const flying = await cart('cs-flying', [[id, 1]]);
    const deps = h.backend.runtime.deps;
    const started = await startAttempt(deps, { userId: `cs-flying-${tag}`, roles: [] }, { orderId: flying.orderId, paymentMethod: 'pm_card_visa', amount: flying.amount! });
    if ('__typename' in started) throw new Error(started.__typename);
    const charged = await deps.payments.charge(chargeRequestOf(started.attempt));
    if (charged.status !== 'succeeded') throw new Error(`charge: ${charged.status}`);
    expect(await h.ledger(id)).toEqual({ total: 10, available: 4, reserved: 5, sold: 1 });
    expect(await h.ledger(other.id)).toEqual({ total: 4, available: 3, reserved: 1, sold: 0 });

    const admin = await h.admin();
    const first = await h.gql(CANCEL, { id, reason: 'price typo: 10.00 instead of 100.00', refund: true }, admin);
    expect(first.errors).toBeUndefined();
    // Five holds: the active one, the pending order's, the mixed order's two, the one whose payment is in flight.
    expect(first.data.cancelSale).toEqual({ product: { id, sale: { state: 'ENDED' } }, holdsRevoked: 5, ordersRefunded: 1, paymentsInFlight: 1 });
    expect(await statusOf([pending.orderId, paid.orderId, mixed.orderId, flying.orderId, elsewhere.orderId])).toEqual({
      [pending.orderId]: 'CANCELLED',
      [paid.orderId]: 'CANCELLED',
      [mixed.orderId]: 'CANCELLED',
      [flying.orderId]: 'PENDING',
      [elsewhere.orderId]: 'COMPLETED',
    });
    // Units back but for the paid one (sold, refunded) and the one whose payment is in flight; the other product's unit back too.
    expect(await h.ledger(id)).toEqual({ total: 10, available: 8, reserved: 1, sold: 1 });
    expect(await h.ledger(other.id)).toEqual({ total: 4, available: 4, reserved: 0, sold: 0 });
    expect(await h.ledger(untouched.id)).toEqual({ total: 4, available: 3, reserved: 0, sold: 1 });
    // Reserves are refused from now on.
    const late = await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, await h.token(`cs-late-${tag}`));
    expect(late.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_ENDED' });
    // The refund is made in the background, once.
    const refundsOf = () => db().select().from(refunds).where(inArray(refunds.orderId, [paid.orderId, flying.orderId, elsewhere.orderId]));
    await waitFor(async () => (await refundsOf()).every((r) => r.status === 'SUCCEEDED'), 'the refund made');
    expect(await refundsOf()).toMatchObject([{ orderId: paid.orderId, amount: 1000, reason: 'price typo: 10.00 instead of 100.00', requestedBy: 'operator', status: 'SUCCEEDED' }]);
    const told = rowsOf<{ aggregate_id: string }>(await db().execute(sql`select aggregate_id from outbox where topic = 'order.refunded' and aggregate_id = ${paid.orderId}`));
    expect(told).toHaveLength(1);

    // The payment in flight completes: the order is paid after all; the repeat refunds it and only it.
    await settlePayment(deps, started.attempt.id, charged);
    expect((await statusOf([flying.orderId]))[flying.orderId]).toBe('COMPLETED');
    const again = await h.gql(CANCEL, { id, reason: 'price typo, late payment', refund: true }, admin);
    expect(again.data.cancelSale).toMatchObject({ holdsRevoked: 0, ordersRefunded: 1, paymentsInFlight: 0 });
    await waitFor(async () => (await refundsOf()).length === 2 && (await refundsOf()).every((r) => r.status === 'SUCCEEDED'), 'the late refund made');
    expect((await refundsOf()).map((r) => r.orderId).sort()).toEqual([paid.orderId, flying.orderId].sort());
    expect(await h.ledger(id)).toEqual({ total: 10, available: 8, reserved: 0, sold: 2 });
    // And once more: nothing left to do.
    expect((await h.gql(CANCEL, { id, reason: 'again', refund: true }, admin)).data.cancelSale).toMatchObject({ holdsRevoked: 0, ordersRefunded: 0, paymentsInFlight: 0 });
    expect(await refundsOf()).toHaveLength(2);
  });

  it("a sale already ended (endSale), then called off: its followers are told it was called off, once; its end does not move", async () => {
    const { id } = await h.product({ totalQuantity: 5, sale: open() });
    const admin = await h.admin();
    const notices = async () => rowsOf<{ n: number }>(await db().execute(sql`select count(*)::int as n from outbox where topic = 'product.sale_cancelled' and aggregate_id = ${id}`))[0].n;
    const ended = (await h.gql(`mutation($id: ID!) { endSale(productId: $id) { id } }`, { id }, admin)).data.endSale;
    expect(ended).toEqual({ id });
    const [{ endsAt }] = rowsOf<{ endsAt: string }>(await db().execute(sql`select ends_at::text as "endsAt" from products where id = ${id}`));
    expect(await notices()).toBe(0);
    await new Promise((r) => setTimeout(r, 5));
    const r = await h.gql(CANCEL, { id, reason: 'recall', refund: true }, admin);
    expect(r.data.cancelSale).toMatchObject({ product: { id, sale: { state: 'ENDED' } } });
    expect(await notices()).toBe(1);
    // A repeat and a later endSale tell nobody again; the sale ended when endSale ended it.
    await h.gql(CANCEL, { id, reason: 'recall', refund: true }, admin);
    await h.gql(`mutation($id: ID!) { endSale(productId: $id) { id } }`, { id }, admin);
    expect(await notices()).toBe(1);
    expect(rowsOf<{ endsAt: string }>(await db().execute(sql`select ends_at::text as "endsAt" from products where id = ${id}`))).toEqual([{ endsAt }]);
  });

  it('without refundPaidOrders, paid orders stay paid; bad calls are refused and change nothing', async () => {
    const { id } = await h.product({ totalQuantity: 5, sale: open() });
    const paid = await cart('cs-keep', [[id, 1]], { pay: true });
    const held = await cart('cs-keep-held', [[id, 1]], { checkout: false });
    const admin = await h.admin();
    const code = async (vars: { id: string; reason: string; refund: boolean }, token = admin) => (await h.gql(CANCEL, vars, token)).errors?.[0]?.extensions?.code;
    expect(await code({ id, reason: '  ', refund: true })).toBe('INVALID_INPUT');
    expect(await code({ id: `nope-${tag}`, reason: 'x', refund: true })).toBe('NOT_FOUND');
    expect(await code({ id, reason: 'x', refund: true }, held.token)).toBe('FORBIDDEN');
    // Nothing changed: the sale is open, the hold and the paid order are there.
    expect(await h.ledger(id)).toEqual({ total: 5, available: 3, reserved: 1, sold: 1 });
    const r = await h.gql(CANCEL, { id, reason: 'recall', refund: false }, admin);
    expect(r.data.cancelSale).toEqual({ product: { id, sale: { state: 'ENDED' } }, holdsRevoked: 1, ordersRefunded: 0, paymentsInFlight: 0 });
    expect((await statusOf([paid.orderId]))[paid.orderId]).toBe('COMPLETED');
    expect(await db().select().from(refunds).where(eq(refunds.orderId, paid.orderId))).toEqual([]);
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 0, sold: 1 });
  });
});
