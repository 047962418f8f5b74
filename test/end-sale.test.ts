// An operator ends a sale (endSale): reserves are refused from then on, on every backend and in
// every process; holds made before keep their time and may still be checked out and paid.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';

const END = /* GraphQL */ `
  mutation($id: ID!) { endSale(productId: $id) { id sale { startsAt endsAt state } inventory { availableQuantity } } }
`;
const PRODUCT = /* GraphQL */ `query($id: ID!) { product(id: $id) { sale { startsAt endsAt state } } }`;

describe.each(BACKENDS)('endSale on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');
  const shopper = (name: string) => h.token(`${name}-${tag}`);

  it('ends a live sale: later reserves are refused as ended (by the gate itself), holds made before are checked out and paid', async () => {
    const { id } = await h.product({ totalQuantity: 5, priceAmount: 2500 });
    const alice = await shopper('end-alice');
    const held = await h.gql(RESERVE, { input: { productId: id } }, alice);
    expect(held.data.reserve.__typename).toBe('ReserveSuccess');

    const before = Date.now();
    const ended = await h.gql(END, { id }, await h.admin());
    expect(ended.errors).toBeUndefined();
    expect(ended.data.endSale.sale.state).toBe('ENDED');
    const endsAt = new Date(ended.data.endSale.sale.endsAt).getTime();
    expect(endsAt).toBeGreaterThanOrEqual(before - 1000);
    expect(endsAt).toBeLessThanOrEqual(Date.now());
    expect(ended.data.endSale.inventory.availableQuantity).toBe(4);

    const late = await h.gql(RESERVE, { input: { productId: id } }, await shopper('end-bob'));
    expect(late.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_ENDED' });
    // The gate refuses it itself (not only Postgres's check behind it).
    const deps = h.backend.runtime.deps;
    const gated = await deps.gate.admit({ productId: id, userId: `end-carol-${tag}`, quantity: 1, nowMs: Date.now(), reservationId: randomUUID() });
    expect(gated).toEqual({ outcome: 'ENDED' });
    // The REST mirror says the same.
    const rest = await h.app.fetch('http://test/reserve-inventory', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await shopper('end-dave')}` },
      body: JSON.stringify({ product_id: id, quantity: 1 }),
    });
    expect(rest.status).toBe(409);
    expect((await rest.json()).error.code).toBe('SALE_ENDED');
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 1, sold: 0 });

    // The hold made before the end is honoured to the end of its time.
    const co = await h.gql(CHECKOUT, { input: { cartId: held.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, alice);
    expect(co.data.checkout.__typename).toBe('CheckoutSuccess');
    const paid = await h.gql(PAY, { input: { orderId: co.data.checkout.order.id, paymentMethod: 'pm_card_visa', amount: 2500 } }, alice);
    expect(paid.data.pay.__typename).toBe('PaySuccess');

    // Ending it again changes nothing.
    const again = await h.gql(END, { id }, await h.admin());
    expect(again.data.endSale.sale).toEqual(ended.data.endSale.sale);
    expect(await h.ledger(id)).toEqual({ total: 5, available: 4, reserved: 0, sold: 1 });
    // Who ended it, and when, is in the audit log (both calls).
    const audited = rowsOf<{ actor: string; outcome: string }>(
      await deps.db.execute(sql`select actor, outcome from audit_log where action = 'mutation.endSale' and target = ${id}`),
    );
    expect(audited).toEqual([
      { actor: 'operator', outcome: 'ok' },
      { actor: 'operator', outcome: 'ok' },
    ]);
  });

  it('ends a sale that has not opened: it never opens, and reserves are refused as ended, not as not started', async () => {
    const { id } = await h.product({ totalQuantity: 3, sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() } });
    expect((await h.gql(PRODUCT, { id })).data.product.sale.state).toBe('SCHEDULED');
    const ended = await h.gql(END, { id }, await h.admin());
    expect(ended.data.endSale.sale.state).toBe('ENDED');
    expect(new Date(ended.data.endSale.sale.startsAt).getTime()).toBeLessThanOrEqual(new Date(ended.data.endSale.sale.endsAt).getTime());
    const r = await h.gql(RESERVE, { input: { productId: id } }, await shopper('end-early'));
    expect(r.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_ENDED' });
    expect((await h.gql(PRODUCT, { id })).data.product.sale.state).toBe('ENDED');
  });

  it('is for operators only; an unknown or malformed product id is refused; nothing changes', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    const denied = await h.gql(END, { id }, await shopper('end-mallory'));
    expect(denied.errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(END, { id })).errors![0].extensions.code).toMatch(/UNAUTHENTICATED|FORBIDDEN/);
    expect((await h.gql(PRODUCT, { id })).data.product.sale.state).toBe('LIVE');
    expect((await h.gql(END, { id: "no-such-product" }, await h.admin())).errors![0].extensions.code).toBe('NOT_FOUND');
    expect((await h.gql(END, { id: "'; drop table products; --" }, await h.admin())).errors![0].extensions.code).toBe('INVALID_INPUT');
    const r = await h.gql(RESERVE, { input: { productId: id } }, await shopper('end-still-live'));
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('endSale across processes (Postgres + Redis)', () => {
  it('one api process ends the sale; another, which had the product in memory, says ENDED and refuses reserves', async () => {
    const { a, b, gql, admin, product, close } = await twoApis('endsale');
    try {
      await product('two-proc-end', { sale: { perUserLimit: 1 } });
      // B serves the product from its own memory (catalogue and stock copy) before the end.
      expect((await gql(b.url, PRODUCT, { id: 'two-proc-end' })).data.product.sale.state).toBe('LIVE');
      expect((await gql(b.url, RESERVE, { input: { productId: 'two-proc-end' } }, await signToken(TEST_SECRET, { sub: 'x1' }))).data.reserve.__typename).toBe('ReserveSuccess');

      expect((await gql(a.url, END, { id: 'two-proc-end' }, admin)).data.endSale.sale.state).toBe('ENDED');
      // B learns it from the stock event.
      let state = 'LIVE';
      for (let i = 0; i < 100 && state !== 'ENDED'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        state = (await gql(b.url, PRODUCT, { id: 'two-proc-end' })).data.product.sale.state;
      }
      expect(state).toBe('ENDED');
      const late = await gql(b.url, RESERVE, { input: { productId: 'two-proc-end' } }, await signToken(TEST_SECRET, { sub: 'x2' }));
      expect(late.data.reserve).toMatchObject({ __typename: 'SaleNotOpen', code: 'SALE_ENDED' });
    } finally {
      await close();
    }
  }, 120_000);
});
