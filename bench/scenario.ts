// Case 7's own minimal flash-sale scenario: N shoppers, each with their own token, arrive
// as fast as `concurrency` connections allow; each reads the stock, taps reserve, and a
// winner checks out and pays. Reports requests/s, p50/p99 per operation and what sold.
// (clients/load's runFlashSale replaces it once merged: see the HOOK in bench/run.ts.)
import { Agent } from 'node:http';
import { http, type LoadSpec, percentile } from './lib.js';

export const INVENTORY_QUERY = `query Inventory($productId: ID!) { inventory(productId: $productId) { availableQuantity soldOut } }`;
export const RESERVE_MUTATION = `mutation Reserve($input: ReserveInput!) { reserve(input: $input) { __typename ... on ReserveSuccess { reservation { id cartId sequence } } ... on Error { code } } }`;

export const inventoryBody = (productId: string) => JSON.stringify({ query: INVENTORY_QUERY, variables: { productId } });
export const reserveBody = (productId: string) => JSON.stringify({ query: RESERVE_MUTATION, variables: { input: { productId } } });

/** What a case sends and expects; each runner adds connections, duration, pid and generator. */
export type CaseRequest = Pick<LoadSpec, 'url' | 'method' | 'body' | 'tokens' | 'tokenMode' | 'expect'>;

/**
 * Cases 3-5 as bench/run.ts, bench/write.ts and bench/compare.ts all send them: `readId` a product
 * with 1,000 units on sale, `soldId` one sold out, `crowd` the sold-out reserve's shoppers (sent
 * as prebuilt requests, so the generator's own cost stays close to the raw baseline's).
 */
export const hotCases = (base: string, readId: string, soldId: string, crowd: string[]): Record<'3' | '4' | '5', CaseRequest> => ({
  '3': { url: `${base}/graphql`, method: 'POST', body: inventoryBody(readId), expect: '"availableQuantity":1000' },
  '4': { url: `${base}/graphql`, method: 'POST', body: reserveBody(soldId), tokens: crowd, tokenMode: 'prebuilt', expect: '"SoldOut"' },
  '5': { url: `${base}/inventory/${readId}`, expect: '"available_quantity":1000' },
});

/** Case 6 (and its warm-ups): reserves of a product with stock left, one shopper per token in turn. */
export const stockCase = (base: string, productId: string, shoppers: string[]): CaseRequest => ({
  url: `${base}/graphql`,
  method: 'POST',
  body: reserveBody(productId),
  tokens: shoppers,
  expect: '"ReserveSuccess"',
});

const CHECKOUT_MUTATION = `mutation Checkout($input: CheckoutInput!) { checkout(input: $input) { __typename ... on CheckoutSuccess { order { id total { amount } } } ... on Error { code } } }`;
const PAY_MUTATION = `mutation Pay($input: PayInput!) { pay(input: $input) { __typename ... on Error { code } } }`;

export interface ScenarioOptions {
  base: string;
  productId: string;
  tokens: string[];
  concurrency: number;
}

export interface OpStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
}

export interface ScenarioSummary {
  shoppers: number;
  seconds: number;
  requests: number;
  rps: number;
  reserved: number;
  soldOut: number;
  paid: number;
  failures: number;
  ops: Record<'inventory' | 'reserve' | 'checkout' | 'pay', OpStats>;
}

export async function runScenario(opts: ScenarioOptions): Promise<ScenarioSummary> {
  const pool = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const times: Record<keyof ScenarioSummary['ops'], number[]> = { inventory: [], reserve: [], checkout: [], pay: [] };
  let reserved = 0;
  let soldOut = 0;
  let paid = 0;
  let failures = 0;
  let requests = 0;
  const call = async (op: keyof ScenarioSummary['ops'], query: string, variables: unknown, token: string) => {
    const t0 = performance.now();
    const r = await http(`${opts.base}/graphql`, 'POST', JSON.stringify({ query, variables }), { authorization: `Bearer ${token}` }, pool);
    times[op].push(performance.now() - t0);
    requests++;
    const body = JSON.parse(r.body) as { data?: Record<string, any>; errors?: unknown[] };
    if (r.status !== 200 || body.errors) failures++;
    return body.data;
  };
  let next = 0;
  const shopper = async () => {
    for (let i = next++; i < opts.tokens.length; i = next++) {
      const token = opts.tokens[i];
      await call('inventory', INVENTORY_QUERY, { productId: opts.productId }, token);
      const res = (await call('reserve', RESERVE_MUTATION, { input: { productId: opts.productId } }, token))?.reserve;
      if (res?.__typename === 'SoldOut') soldOut++;
      if (res?.__typename !== 'ReserveSuccess') continue;
      reserved++;
      const order = (
        await call(
          'checkout',
          CHECKOUT_MUTATION,
          {
            input: {
              cartId: res.reservation.cartId,
              paymentMethod: 'pm_card_visa',
              shippingAddress: { addressLine1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' },
            },
          },
          token,
        )
      )?.checkout?.order;
      if (!order) continue;
      const p = (await call('pay', PAY_MUTATION, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: order.total.amount } }, token))?.pay;
      if (p?.__typename === 'PaySuccess') paid++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: opts.concurrency }, shopper));
  const seconds = (performance.now() - t0) / 1000;
  pool.destroy();
  const stats = (xs: number[]): OpStats => {
    const s = [...xs].sort((a, b) => a - b);
    return { count: s.length, p50Ms: percentile(s, 50), p99Ms: percentile(s, 99) };
  };
  return {
    shoppers: opts.tokens.length,
    seconds,
    requests,
    rps: requests / seconds,
    reserved,
    soldOut,
    paid,
    failures,
    ops: { inventory: stats(times.inventory), reserve: stats(times.reserve), checkout: stats(times.checkout), pay: stats(times.pay) },
  };
}
