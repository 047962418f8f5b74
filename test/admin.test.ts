// Operators create products; shoppers and anonymous callers cannot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, harness } from './support/harness.js';

const CREATE = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id name price { amount currency } sale { perUserLimit reservationTtlSeconds state startsAt endsAt } inventory { totalQuantity availableQuantity soldOut } } }`;
const valid = () => ({
  name: 'Console',
  priceAmount: 49900,
  totalQuantity: 250,
  sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() },
});

describe('createProduct (embedded)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('embedded');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('creates a product with its stock and sale window, with the contract defaults', async () => {
    const r = await h.gql(CREATE, { input: valid() }, await h.admin());
    expect(r.errors).toBeUndefined();
    expect(r.data.createProduct).toMatchObject({
      name: 'Console',
      price: { amount: 49900, currency: 'USD' },
      sale: { perUserLimit: 1, reservationTtlSeconds: 300, state: 'SCHEDULED', endsAt: null },
      inventory: { totalQuantity: 250, availableQuantity: 250, soldOut: false },
    });
    expect(r.data.createProduct.id).toMatch(/^prod_[0-9a-f]{16}$/);
    const listed = await h.gql(`{ products { id sale { state } } }`);
    expect(listed.data.products.map((p: { id: string }) => p.id)).toContain(r.data.createProduct.id);
  });

  it('refuses shoppers (FORBIDDEN) and anonymous callers (UNAUTHENTICATED)', async () => {
    const shopper = await h.gql(CREATE, { input: valid() }, await h.token('not-an-admin'));
    expect(shopper.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const anon = await h.gql(CREATE, { input: valid() });
    expect(anon.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it.each([
    [{ name: '' }, 'name'],
    [{ name: 'n'.repeat(201) }, 'name'],
    [{ priceAmount: -1 }, 'priceAmount'],
    [{ currency: 'usd' }, 'currency'],
    [{ totalQuantity: 0 }, 'totalQuantity'],
    [{ id: 'bad id!' }, 'id'],
    [{ sale: { startsAt: '2026-01-02T00:00:00Z', endsAt: '2026-01-01T00:00:00Z' } }, 'sale.endsAt'],
    [{ sale: { startsAt: '2026-01-01T00:00:00Z', perUserLimit: 0 } }, 'sale.perUserLimit'],
  ])('refuses bad input %j with INVALID_INPUT on %s and creates nothing', async (patch, field) => {
    const before = (await h.gql(`{ products { id } }`)).data.products.length;
    const r = await h.gql(CREATE, { input: { ...valid(), ...patch } }, await h.admin());
    expect(r.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field });
    expect((await h.gql(`{ products { id } }`)).data.products.length).toBe(before);
  });

  it('refuses a malformed date and a duplicate id', async () => {
    const r = await h.gql(CREATE, { input: { ...valid(), sale: { startsAt: 'tomorrow' } } }, await h.admin());
    expect(r.errors?.[0].extensions.code).toBe('INVALID_INPUT');
    await h.product({ id: 'dup-1' });
    const dup = await h.gql(CREATE, { input: { ...valid(), id: 'dup-1' } }, await h.admin());
    expect(dup.errors?.[0]).toMatchObject({ extensions: { code: 'INVALID_INPUT', field: 'id' } });
  });

  it('answers unknown and malformed ids in queries with null', async () => {
    const r = await h.gql(`{ a: product(id: "nope") { id } b: product(id: "x y") { id } c: inventory(productId: "nope") { productId } }`);
    expect(r).toEqual({ data: { a: null, b: null, c: null } });
  });
});
