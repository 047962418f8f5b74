// Operators export the paid orders they ship (paidOrders): oldest first, page by page, each with its
// items and shipping address opened; only paid ones; every call audited; shoppers cannot. And one
// order in full for customer service (orderDetails).
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { decodeCursor, encodeCursor } from '../src/domain/orders/fulfilment.js';
import { BACKENDS } from './support/backends.js';
import { CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';

const PAID = /* GraphQL */ `
  query($productId: ID, $first: Int!, $after: String) {
    paidOrders(productId: $productId, first: $first, after: $after) {
      orders {
        orderId shopperId transactionId createdAt paidAt
        items { product { id } quantity unitPrice { amount } }
        total { amount currency }
        shippingAddress { addressLine1 addressLine2 city postalCode country }
      }
      endCursor
      hasNextPage
    }
  }
`;

const address = (n: number) => ({ addressLine1: `${n} Harbour Rd`, addressLine2: n % 2 ? `Flat ${n}` : null, city: 'Portsmouth', postalCode: `PO${n} 1AA`, country: 'GB' });

describe.each(BACKENDS)('paidOrders on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');

  /** One shopper's order of `productId`: reserved, checked out to address `n`, and paid with `card` (none: left unpaid). */
  async function order(productId: string, who: string, n: number, card: string | null, quantity = 1) {
    const t = await h.token(`${who}-${tag}`);
    const r = await h.gql(RESERVE, { input: { productId, quantity } }, t);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: card ?? 'pm_card_visa', shippingAddress: address(n) } }, t);
    expect(c.data.checkout.__typename).toBe('CheckoutSuccess');
    const o = c.data.checkout.order;
    if (card) await h.gql(PAY, { input: { orderId: o.id, paymentMethod: card, amount: o.total.amount } }, t);
    return { id: o.id as string, token: t, userId: `${who}-${tag}` };
  }

  it('lists the paid orders of a product oldest first, page by page, with items and the address to ship to', async () => {
    const { id } = await h.product({ totalQuantity: 20, priceAmount: 4500, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 3 } });
    const other = await h.product({ totalQuantity: 5 });
    const paid = [];
    for (let i = 0; i < 5; i++) paid.push(await order(id, `ship-${i}`, i + 1, 'pm_card_visa', 1 + (i % 2)));
    await order(id, 'ship-unpaid', 10, null);
    await order(id, 'ship-declined', 11, 'pm_card_chargeDeclined');
    await order(other.id, 'ship-other', 12, 'pm_card_visa');
    const admin = await h.admin();

    // One page with everything: only the five paid orders of this product, in the order they were placed.
    const all = await h.gql(PAID, { productId: id, first: 500 }, admin);
    expect(all.errors).toBeUndefined();
    const page = all.data.paidOrders;
    expect(page.hasNextPage).toBe(false);
    expect(page.orders.map((o: { orderId: string }) => o.orderId)).toEqual(paid.map((p) => p.id));
    expect(page.orders[1]).toMatchObject({
      shopperId: `ship-1-${tag}`,
      items: [{ product: { id }, quantity: 2, unitPrice: { amount: 4500 } }],
      total: { amount: 9000, currency: 'USD' },
      shippingAddress: address(2),
    });
    expect(page.orders[0].shippingAddress).toEqual(address(1));
    for (const o of page.orders) {
      expect(o.transactionId).toEqual(expect.any(String));
      expect(new Date(o.paidAt).getTime()).toBeGreaterThanOrEqual(new Date(o.createdAt).getTime());
    }

    // Two at a time: the same orders, each once.
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; ; pages++) {
      expect(pages).toBeLessThan(5);
      const r: any = await h.gql(PAID, { productId: id, first: 2, after }, admin);
      seen.push(...r.data.paidOrders.orders.map((o: { orderId: string }) => o.orderId));
      if (!r.data.paidOrders.hasNextPage) break;
      after = r.data.paidOrders.endCursor;
    }
    expect(seen).toEqual(paid.map((p) => p.id));
    // Past the end: an empty page.
    const last = await h.gql(PAID, { productId: id, first: 2, after: page.endCursor }, admin);
    expect(last.data.paidOrders).toEqual({ orders: [], endCursor: null, hasNextPage: false });

    // Without a product: the other product's paid order is there too.
    const everything = await h.gql(PAID, { first: 500 }, admin);
    const ids = everything.data.paidOrders.orders.map((o: { orderId: string }) => o.orderId);
    expect(ids).toEqual(expect.arrayContaining([...paid.map((p) => p.id)]));
    expect(ids).toHaveLength(new Set(ids).size);

    // Every call is audited, without the addresses it returned.
    const audited = rowsOf<{ actor: string; target: string; details: unknown }>(
      await h.backend.runtime.deps.db.execute(sql`select actor, target, details from audit_log where action = 'orders.export' and target = ${id} order by at`),
    );
    expect(audited.length).toBeGreaterThanOrEqual(4);
    expect(audited[0]).toMatchObject({ actor: 'operator', details: { first: 500, after: null, returned: 5 } });
    expect(JSON.stringify(audited)).not.toContain('Harbour');
  });

  it('pages through orders placed in the same millisecond without skipping or repeating one', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const placed = [await order(id, 'ship-ms-a', 21, 'pm_card_visa'), await order(id, 'ship-ms-b', 22, 'pm_card_visa'), await order(id, 'ship-ms-c', 23, 'pm_card_visa')];
    // Three orders a few microseconds apart within one millisecond, the last placed first.
    const db = h.backend.runtime.deps.db;
    for (const [i, p] of placed.entries()) await db.execute(sql`update orders set created_at = ${`2026-12-04T10:00:00.000${300 - i * 100}Z`}::timestamptz where id = ${p.id}::uuid`);
    const admin = await h.admin();
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 4; i++) {
      const r: any = await h.gql(PAID, { productId: id, first: 1, after }, admin);
      seen.push(...r.data.paidOrders.orders.map((o: { orderId: string }) => o.orderId));
      if (!r.data.paidOrders.hasNextPage) break;
      after = r.data.paidOrders.endCursor;
    }
    expect(seen).toEqual(placed.map((p) => p.id).reverse());
  });

  it('shows a shopper who erased their data under the pseudonym, with no address', async () => {
    const { id } = await h.product({ totalQuantity: 3 });
    const gone = await order(id, 'ship-erased', 7, 'pm_card_visa');
    const erased = await h.gql(`mutation { eraseMyData { pseudonym } }`, {}, gone.token);
    const pseudonym = erased.data.eraseMyData.pseudonym;
    const r = await h.gql(PAID, { productId: id, first: 10 }, await h.admin());
    expect(r.data.paidOrders.orders).toMatchObject([{ orderId: gone.id, shopperId: pseudonym, shippingAddress: null }]);
  });

  it("orderDetails: any shopper's order with its address, payment attempts and refunds, for operators only, audited", async () => {
    const { id } = await h.product({ totalQuantity: 4, priceAmount: 1250, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2 } });
    const paid = await order(id, 'cs-paid', 7, 'pm_card_visa');
    const declined = await order(id, 'cs-declined', 8, 'pm_card_chargeDeclined');
    const admin = await h.admin();
    await h.gql(`mutation($id: ID!) { refundOrder(orderId: $id, reason: "asked by the customer") { refund { id } } }`, { id: paid.id }, admin);
    const DETAILS = `query($id: ID!) { orderDetails(id: $id) {
      order { id status total { amount } items { quantity } }
      shopperId
      shippingAddress { addressLine1 city postalCode country }
      payments { attempt gateway status amount { amount currency } transactionId declineCode }
      refunds { status reason requestedBy amount { amount } }
    } }`;
    const d = (await h.gql(DETAILS, { id: paid.id }, admin)).data.orderDetails;
    expect(d).toMatchObject({
      order: { id: paid.id, status: 'CANCELLED', total: { amount: 1250 }, items: [{ quantity: 1 }] },
      shopperId: paid.userId,
      shippingAddress: { addressLine1: '7 Harbour Rd', city: 'Portsmouth', postalCode: 'PO7 1AA', country: 'GB' },
      payments: [{ attempt: 1, status: 'SUCCEEDED', amount: { amount: 1250, currency: 'USD' }, declineCode: null }],
      refunds: [{ status: 'SUCCEEDED', reason: 'asked by the customer', requestedBy: 'operator', amount: { amount: 1250 } }],
    });
    expect(d.payments[0].transactionId).toBeTruthy();
    const no = (await h.gql(DETAILS, { id: declined.id }, admin)).data.orderDetails;
    expect(no).toMatchObject({ order: { status: 'FAILED' }, payments: [{ status: 'DECLINED', declineCode: expect.any(String) }], refunds: [] });
    // Each read is audited, without the address.
    const audited = rowsOf<{ actor: string; target: string }>(
      await h.backend.runtime.deps.db.execute(sql`select actor, target from audit_log where action = 'orders.read' and target in (${paid.id}, ${declined.id})`),
    );
    expect(audited).toHaveLength(2);
    expect(audited.every((a) => a.actor === 'operator')).toBe(true);
    // Not for shoppers, not even their own; an unknown or malformed id is refused.
    expect((await h.gql(DETAILS, { id: paid.id }, paid.token)).errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(DETAILS, { id: '00000000-0000-4000-8000-000000000000' }, admin)).errors![0].extensions.code).toBe('NOT_FOUND');
    expect((await h.gql(DETAILS, { id: 'nope' }, admin)).errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'id' });

    // By the shopper's account instead: their orders newest first, in the same details.
    const again = await order(id, 'cs-paid', 9, 'pm_card_visa');
    const MINE = `query($u: ID!, $first: Int!) { shopperOrders(userId: $u, first: $first) { order { id status } shippingAddress { addressLine1 } payments { status } refunds { reason } } }`;
    const theirs = (await h.gql(MINE, { u: paid.userId, first: 20 }, admin)).data.shopperOrders;
    expect(theirs).toMatchObject([
      { order: { id: again.id, status: 'COMPLETED' }, shippingAddress: { addressLine1: '9 Harbour Rd' }, payments: [{ status: 'SUCCEEDED' }], refunds: [] },
      { order: { id: paid.id, status: 'CANCELLED' }, shippingAddress: { addressLine1: '7 Harbour Rd' }, refunds: [{ reason: 'asked by the customer' }] },
    ]);
    expect((await h.gql(MINE, { u: paid.userId, first: 1 }, admin)).data.shopperOrders.map((d: { order: { id: string } }) => d.order.id)).toEqual([again.id]);
    expect((await h.gql(MINE, { u: `nobody-${tag}`, first: 20 }, admin)).data.shopperOrders).toEqual([]);
    expect((await h.gql(MINE, { u: paid.userId, first: 0 }, admin)).errors![0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'first' });
    expect((await h.gql(MINE, { u: paid.userId, first: 5 }, paid.token)).errors![0].extensions.code).toBe('FORBIDDEN');
    const byShopper = rowsOf<{ target: string }>(
      await h.backend.runtime.deps.db.execute(sql`select target from audit_log where action = 'orders.read' and target = ${`shopper:${paid.userId}`}`),
    );
    expect(byShopper.length).toBeGreaterThanOrEqual(2);
  });

  it('is for operators only, and refuses a bad page size, cursor or product id', async () => {
    const { id } = await h.product({ totalQuantity: 3 });
    await order(id, 'ship-nosy', 3, 'pm_card_visa');
    const shopper = await h.token(`ship-nosy-${tag}`);
    expect((await h.gql(PAID, { first: 10 }, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(PAID, { first: 10 })).errors![0].extensions.code).toMatch(/UNAUTHENTICATED|FORBIDDEN/);
    const admin = await h.admin();
    const refused = async (vars: Record<string, unknown>, field: string) => {
      const r = await h.gql(PAID, vars, admin);
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field });
    };
    await refused({ first: 0 }, 'first');
    await refused({ first: 501 }, 'first');
    await refused({ first: 10, after: 'not-a-cursor' }, 'after');
    await refused({ first: 10, after: Buffer.from("2026-01-01T00:00:00.000000Z|'; drop table orders; --").toString('base64url') }, 'after');
    await refused({ productId: "'; drop table orders; --", first: 10 }, 'productId');
    expect((await h.gql(PAID, { productId: 'no-such-product', first: 10 }, admin)).data.paidOrders).toEqual({ orders: [], endCursor: null, hasNextPage: false });
  });
});

describe('paidOrders cursors', () => {
  it('keep the creation time to the microsecond, so orders placed in the same millisecond are not skipped', () => {
    const c = { at: '2026-12-04T00:15:30.123456Z', id: '0b7f3c1e-2a4d-4e8f-9c1b-5d6e7f8a9b0c' };
    expect(decodeCursor(encodeCursor(c))).toEqual(c);
    expect(decodeCursor(encodeCursor({ ...c, at: '2026-12-04T00:15:30.123Z' }))).toBeUndefined();
    expect(decodeCursor('')).toBeUndefined();
  });
});
