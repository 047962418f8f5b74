import { sql } from 'drizzle-orm';
import { buildApp, type App, type AppOptions } from '../../src/app.js';
import { createVerifier, signToken } from '../../src/auth.js';
import { rowsOf } from '../../src/adapters/db/client.js';
import type { RuntimeOptions } from '../../src/deps.js';
import { startWorker, type Worker } from '../../src/worker.js';
import { type BackendName, openBackend, type TestBackend } from './backends.js';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';

export interface Harness {
  backend: TestBackend;
  app: App;
  worker: Worker;
  token(sub: string, roles?: string[]): Promise<string>;
  /** POSTs a GraphQL operation through the real Yoga handler and returns the parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string): Promise<{ data?: T; errors?: any[] }>;
  admin(): Promise<string>;
  /** Creates a product with sensible defaults (live now, 100 units). */
  product(input?: Partial<ProductSpec>): Promise<{ id: string }>;
  /** `available + reserved + sold = total` and nothing negative, for every product. */
  ledger(productId: string): Promise<{ total: number; available: number; reserved: number; sold: number }>;
  /**
   * A fresh product (10 units at 19.99, 5 per shopper, live now), one shopper's hold on it and
   * that cart checked out: the PENDING order to pay. Throws unless both steps succeed.
   */
  holdAndCheckout(sub: string, opts?: { price?: number; quantity?: number; ttl?: number; total?: number }): Promise<{
    productId: string;
    token: string;
    reservation: any;
    order: any;
    amount: number;
  }>;
  close(): Promise<void>;
}

export interface ProductSpec {
  id: string;
  name: string;
  priceAmount: number;
  currency: string;
  totalQuantity: number;
  sale: { startsAt: string; endsAt?: string | null; perUserLimit?: number; reservationTtlSeconds?: number };
}

let counter = 0;

export async function harness(name: BackendName, opts: RuntimeOptions = {}, appOpts: Partial<AppOptions> = {}): Promise<Harness> {
  // The notification jobs too run only when a test asks (worker.tick).
  const backend = await openBackend(name, { ...opts, notifications: { intervalMs: 60_000, ...opts.notifications } });
  const deps = backend.runtime.deps;
  const app = buildApp(deps, { verifier: createVerifier({ secret: TEST_SECRET }), ...appOpts });
  // The sweeper runs only when a test asks (worker.tick), so tests stay deterministic.
  // So do the refunds: a pass on its own timer (every 15 s otherwise) would claim a refund a test is
  // about to run itself.
  const worker = startWorker(deps, { sweepIntervalMs: 60_000, refunds: { intervalMs: 3_600_000 } });
  const token = (sub: string, roles: string[] = []) => signToken(TEST_SECRET, { sub, roles });
  let adminToken: string | undefined;
  const admin = async () => (adminToken ??= await token('operator', ['admin']));
  const gql: Harness['gql'] = async (query, variables, tok) => {
    const res = await app.fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  };
  const self: Harness = {
    backend,
    app,
    worker,
    token,
    gql,
    admin,
    async product(input = {}) {
      const id = input.id ?? `p-${Date.now().toString(36)}-${++counter}`;
      const res = await gql(
        `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        {
          input: {
            id,
            name: input.name ?? 'Limited sneaker',
            priceAmount: input.priceAmount ?? 1999,
            currency: input.currency ?? 'USD',
            totalQuantity: input.totalQuantity ?? 100,
            sale: {
              startsAt: input.sale?.startsAt ?? new Date(Date.now() - 60_000).toISOString(),
              endsAt: input.sale?.endsAt ?? null,
              perUserLimit: input.sale?.perUserLimit ?? 1,
              reservationTtlSeconds: input.sale?.reservationTtlSeconds ?? 300,
            },
          },
        },
        await admin(),
      );
      if (res.errors) throw new Error(`createProduct failed: ${JSON.stringify(res.errors)}`);
      return { id: res.data.createProduct.id };
    },
    async holdAndCheckout(sub, opts = {}) {
      const { id } = await self.product({
        priceAmount: opts.price ?? 1999,
        totalQuantity: opts.total ?? 10,
        sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5, reservationTtlSeconds: opts.ttl ?? 300 },
      });
      // The backend in the shopper id keeps the two backends' shoppers apart in shared Redis-side state.
      const shopper = await token(`${sub}-${name.replace(/\W/g, '-')}`);
      const r = await gql(RESERVE, { input: { productId: id, quantity: opts.quantity ?? 1 } }, shopper);
      if (r.data?.reserve.__typename !== 'ReserveSuccess') throw new Error(`reserve failed: ${JSON.stringify(r)}`);
      const reservation = r.data.reserve.reservation;
      const c = await gql(CHECKOUT, { input: { cartId: reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, shopper);
      if (c.data?.checkout.__typename !== 'CheckoutSuccess') throw new Error(`checkout failed: ${JSON.stringify(c)}`);
      const order = c.data.checkout.order;
      return { productId: id, token: shopper, reservation, order, amount: order.total.amount as number };
    },
    async ledger(productId) {
      const [row] = rowsOf<{ total_quantity: number; available_quantity: number; reserved_quantity: number; sold_quantity: number }>(
        await deps.db.execute(
          sql`select total_quantity, available_quantity, reserved_quantity, sold_quantity from products where id = ${productId}`,
        ),
      );
      const out = {
        total: Number(row.total_quantity),
        available: Number(row.available_quantity),
        reserved: Number(row.reserved_quantity),
        sold: Number(row.sold_quantity),
      };
      if (out.available + out.reserved + out.sold !== out.total || out.available < 0 || out.reserved < 0 || out.sold < 0) {
        throw new Error(`ledger out of balance: ${JSON.stringify(out)}`);
      }
      return out;
    },
    async close() {
      await worker.stop();
      await app.stop().catch(() => {});
      await backend.close();
    },
  };
  return self;
}

export const RESERVE = /* GraphQL */ `
  mutation Reserve($input: ReserveInput!) {
    reserve(input: $input) {
      __typename
      ... on ReserveSuccess { reservation { id cartId quantity status sequence expiresAt product { id } } }
      ... on Error { code message }
      ... on LimitExceeded { limit }
      ... on SoldOut { productId }
      ... on SaleNotOpen { startsAt endsAt }
      ... on InvalidInput { field }
    }
  }
`;

export const CHECKOUT = /* GraphQL */ `
  mutation Checkout($input: CheckoutInput!) {
    checkout(input: $input) {
      __typename
      ... on CheckoutSuccess { order { id cartId status paymentStatus inventoryStatus total { amount currency } items { quantity unitPrice { amount } product { id } } } }
      ... on Error { code message }
      ... on InvalidInput { field }
    }
  }
`;

export const PAY = /* GraphQL */ `
  mutation Pay($input: PayInput!) {
    pay(input: $input) {
      __typename
      ... on PaySuccess { transactionId paymentStatus order { id status paymentStatus inventoryStatus transactionId } }
      ... on PaymentDeclined { declineCode }
      ... on AmountMismatch { expected { amount currency } }
      ... on AlreadyPaid { order { id status } }
      ... on Error { code message }
    }
  }
`;

export const ADDRESS = { addressLine1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' };
