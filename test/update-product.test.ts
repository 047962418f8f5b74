// An operator corrects a product's name, price or currency before its sale opens (updateProduct):
// every answer shows the correction, in every process, and checkouts charge it; from the opening
// on the product is fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';
import { waitFor } from './support/servers.js';

const UPDATE = /* GraphQL */ `
  mutation($id: ID!, $input: UpdateProductInput!) {
    updateProduct(productId: $id, input: $input) { id name price { amount currency } inventory { updatedAt } }
  }
`;
const PRODUCT = /* GraphQL */ `query($id: ID!) { product(id: $id) { name price { amount currency } sale { state perUserLimit reservationTtlSeconds } } }`;
const RESCHEDULE = /* GraphQL */ `mutation($id: ID!, $at: DateTime!) { rescheduleSale(productId: $id, startsAt: $at) { sale { state } } }`;
const RESERVE_SHOWN = /* GraphQL */ `
  mutation($input: ReserveInput!) {
    reserve(input: $input) { __typename ... on ReserveSuccess { reservation { cartId expiresAt product { name price { amount currency } } } } }
  }
`;

const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

describe.each(BACKENDS)('updateProduct on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');

  it('corrects a scheduled sale: every answer and the checkout take the new name and price; from the opening on it is fixed', async () => {
    const admin = await h.admin();
    const { id } = await h.product({ name: 'Sneaker 42 (typo)', priceAmount: 1999, totalQuantity: 3, sale: { startsAt: inAnHour() } });
    expect((await h.gql(PRODUCT, { id })).data.product).toMatchObject({ name: 'Sneaker 42 (typo)', price: { amount: 1999 } });

    const fixed = await h.gql(UPDATE, { id, input: { name: '  Sneaker 42  ', priceAmount: 19_999 } }, admin);
    expect(fixed.errors).toBeUndefined();
    expect(fixed.data.updateProduct).toMatchObject({ id, name: 'Sneaker 42', price: { amount: 19_999, currency: 'USD' } });
    expect((await h.gql(PRODUCT, { id })).data.product).toEqual({
      name: 'Sneaker 42',
      price: { amount: 19_999, currency: 'USD' },
      sale: { state: 'SCHEDULED', perUserLimit: 1, reservationTtlSeconds: 300 },
    });
    // The same values again change nothing (the version, and so the stock's updatedAt, stays).
    const again = await h.gql(UPDATE, { id, input: { name: 'Sneaker 42', priceAmount: 19_999, currency: 'USD' } }, admin);
    expect(again.data.updateProduct).toEqual(fixed.data.updateProduct);
    // The currency alone; the rest kept. Then the limit per shopper and the hold time.
    expect((await h.gql(UPDATE, { id, input: { currency: 'EUR' } }, admin)).data.updateProduct).toMatchObject({ name: 'Sneaker 42', price: { amount: 19_999, currency: 'EUR' } });
    expect((await h.gql(UPDATE, { id, input: { perUserLimit: 2, reservationTtlSeconds: 120 } }, admin)).errors).toBeUndefined();
    expect((await h.gql(PRODUCT, { id })).data.product.sale).toEqual({ state: 'SCHEDULED', perUserLimit: 2, reservationTtlSeconds: 120 });

    // The sale opens: a shopper's hold shows the corrected product, and the checkout charges it.
    expect((await h.gql(RESCHEDULE, { id, at: new Date().toISOString() }, admin)).data.rescheduleSale.sale.state).toBe('LIVE');
    const shopper = await h.token(`fix-${tag}`);
    const held = await h.gql(RESERVE_SHOWN, { input: { productId: id, quantity: 1 } }, shopper);
    expect(held.data.reserve.reservation.product).toEqual({ name: 'Sneaker 42', price: { amount: 19_999, currency: 'EUR' } });
    expect(Date.parse(held.data.reserve.reservation.expiresAt) - Date.now()).toBeGreaterThan(100_000);
    expect(Date.parse(held.data.reserve.reservation.expiresAt) - Date.now()).toBeLessThanOrEqual(120_000);
    // The new limit, at the gate and in Postgres: a second unit, not a third.
    expect((await h.gql(RESERVE_SHOWN, { input: { productId: id, quantity: 1 } }, shopper)).data.reserve.__typename).toBe('ReserveSuccess');
    const third = await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, shopper);
    expect(third.data.reserve).toMatchObject({ __typename: 'LimitExceeded', limit: 2 });
    const co = await h.gql(CHECKOUT, { input: { cartId: held.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
    expect(co.data.checkout.order.total).toEqual({ amount: 2 * 19_999, currency: 'EUR' });
    expect(co.data.checkout.order.items[0].unitPrice.amount).toBe(19_999);

    // Open now: fixed. Refused with a clear error, and nothing changed.
    const late = await h.gql(UPDATE, { id, input: { priceAmount: 1 } }, admin);
    expect(late.errors?.[0]).toMatchObject({ message: expect.stringMatching(/opened at .*fixed from then/), extensions: { code: 'INVALID_INPUT', field: 'productId' } });
    expect((await h.gql(PRODUCT, { id })).data.product).toMatchObject({ name: 'Sneaker 42', price: { amount: 19_999, currency: 'EUR' } });
  });

  it('is for operators only and refuses bad input, naming the field; nothing changes', async () => {
    const admin = await h.admin();
    const { id } = await h.product({ name: 'Keep me', priceAmount: 500, sale: { startsAt: inAnHour() } });
    const shopper = await h.token(`nosy-fix-${tag}`);
    expect((await h.gql(UPDATE, { id, input: { priceAmount: 1 } }, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    const refused = async (input: Record<string, unknown>, field: string) => {
      const r = await h.gql(UPDATE, { id, input }, admin);
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field });
    };
    await refused({}, 'input');
    await refused({ name: '   ' }, 'name');
    await refused({ name: 'x'.repeat(201) }, 'name');
    await refused({ priceAmount: -1 }, 'priceAmount');
    await refused({ name: 'Fine', currency: 'usd' }, 'currency');
    await refused({ perUserLimit: 0 }, 'perUserLimit');
    await refused({ reservationTtlSeconds: 86_401 }, 'reservationTtlSeconds');
    expect((await h.gql(UPDATE, { id: `nope-${tag}`, input: { priceAmount: 1 } }, admin)).errors?.[0].extensions.code).toBe('NOT_FOUND');
    expect((await h.gql(PRODUCT, { id })).data.product).toMatchObject({ name: 'Keep me', price: { amount: 500, currency: 'USD' } });
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('updateProduct across processes (Postgres + Redis)', () => {
  it('a correction through one api process is shown by the other, which had the product in memory, at once', async () => {
    const { a, b, gql, admin, close } = await twoApis('fixproduct');
    try {
      const created = await gql(
        a.url,
        `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        { input: { id: 'fix-drop', name: 'Typo', priceAmount: 1000, totalQuantity: 5, sale: { startsAt: inAnHour(), perUserLimit: 1 } } },
        admin,
      );
      expect(created.errors).toBeUndefined();
      // B reads it (its catalogue keeps it from now on).
      expect((await gql(b.url, PRODUCT, { id: 'fix-drop' })).data.product).toMatchObject({ name: 'Typo', price: { amount: 1000 } });
      expect((await gql(a.url, UPDATE, { id: 'fix-drop', input: { name: 'Fixed', priceAmount: 2500, perUserLimit: 3 } }, admin)).data.updateProduct).toMatchObject({ name: 'Fixed' });
      await waitFor(async () => (await gql(b.url, PRODUCT, { id: 'fix-drop' })).data.product.name === 'Fixed', 'B to show the corrected name', 5_000, 20);
      expect((await gql(b.url, PRODUCT, { id: 'fix-drop' })).data.product).toMatchObject({ price: { amount: 2500, currency: 'USD' }, sale: { perUserLimit: 3 } });
      // Open, a winner on B is shown the corrected product (from B's memory).
      await gql(a.url, RESCHEDULE, { id: 'fix-drop', at: new Date().toISOString() }, admin);
      const shopper = await signToken(TEST_SECRET, { sub: 'fix-two-proc' });
      await waitFor(async () => (await gql(b.url, PRODUCT, { id: 'fix-drop' })).data.product.sale.state === 'LIVE', 'B to see the sale open', 5_000, 20);
      const held = await gql(b.url, RESERVE_SHOWN, { input: { productId: 'fix-drop' } }, shopper);
      expect(held.data.reserve.reservation.product).toEqual({ name: 'Fixed', price: { amount: 2500, currency: 'USD' } });
    } finally {
      await close();
    }
  }, 120_000);
});
