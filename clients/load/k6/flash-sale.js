// @ts-check
/**
 * The flash-sale scenario for k6 (https://k6.io): the same burst as `npm run load`.
 *
 *   k6 run -e URL=http://localhost:4000 -e AUTH_JWT_SECRET=... -e SHOPPERS=5000 -e STOCK=1000 \
 *     clients/load/k6/flash-sale.js
 *
 * setup() creates the product with an admin token it mints (HS256 with AUTH_JWT_SECRET);
 * each iteration is one shopper with its own token: reserve, then check out and pay
 * (some decline, some pay twice), or abandon. teardown() reads the inventory and fails the
 * run (thresholds) on any oversold unit or duplicate charge. Typed with @types/k6
 * (`npm run k6:check`).
 */
import { check, fail, sleep } from 'k6';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';

const URL = (__ENV.URL || 'http://localhost:4000').replace(/\/+$/, '');
const GQL = `${URL}/graphql`;
const SECRET = __ENV.AUTH_JWT_SECRET || '';
const SHOPPERS = Number(__ENV.SHOPPERS || 1000);
const STOCK = Number(__ENV.STOCK || 100);
const VUS = Math.min(SHOPPERS, Number(__ENV.VUS || 500));
const CHECKOUT_RATE = Number(__ENV.CHECKOUT_RATE || 0.85);
const DECLINE_RATE = Number(__ENV.DECLINE_RATE || 0.1);
const RELEASE_RATE = Number(__ENV.RELEASE_RATE || 0.5);
const REPAY_RATE = Number(__ENV.REPAY_RATE || 0.1);
const TTL = Number(__ENV.TTL || 120);
const RUN_ID = __ENV.RUN_ID || `${Date.now().toString(36)}`;

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    // Every shopper arrives at once: VUS at a time, SHOPPERS in all.
    flash_sale: { executor: 'shared-iterations', vus: VUS, iterations: SHOPPERS, maxDuration: '10m' },
  },
  thresholds: {
    oversold_units: ['count==0'],
    duplicate_charges: ['count==0'],
    ledger_out_of_balance: ['count==0'],
    'http_req_failed{op:reserve}': ['rate<0.01'],
    'http_req_duration{op:reserve}': ['p(99)<2000'],
  },
  setupTimeout: '60s',
  teardownTimeout: '60s',
};

const outcomes = new Counter('outcomes');
const oversold = new Counter('oversold_units');
const duplicateCharges = new Counter('duplicate_charges');
const outOfBalance = new Counter('ledger_out_of_balance');
const paidUnits = new Counter('paid_units');
const reserveLatency = new Trend('reserve_latency', true);
const soldAtEnd = new Counter('sold_units_at_end');

/** @param {unknown} value */
function b64url(value) {
  return encoding.b64encode(JSON.stringify(value), 'rawurl');
}

/**
 * An HS256 JWT the server accepts (same claims as `npm run token`).
 * @param {string} sub
 * @param {string[]} roles
 */
function token(sub, roles) {
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: 'HS256' });
  /** @type {Record<string, unknown>} */
  const claims = { roles, sub, iat: now, exp: now + 7200 };
  if (__ENV.AUTH_ISSUER) claims.iss = __ENV.AUTH_ISSUER;
  if (__ENV.AUTH_AUDIENCE) claims.aud = __ENV.AUTH_AUDIENCE;
  const body = b64url(claims);
  const sig = crypto.hmac('sha256', SECRET, `${head}.${body}`, 'base64rawurl');
  return `${head}.${body}.${sig}`;
}

/**
 * @param {string} op
 * @param {string} tok
 * @param {string} query
 * @param {Record<string, unknown>} variables
 * @returns {any}
 */
function gql(op, tok, query, variables) {
  const res = http.post(GQL, JSON.stringify({ query, variables }), {
    headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
    tags: { op },
  });
  if (op === 'reserve') reserveLatency.add(res.timings.duration);
  const body = res.status === 200 ? /** @type {any} */ (res.json()) : undefined;
  if (!body || body.errors) {
    outcomes.add(1, { op, outcome: `error:${body?.errors?.[0]?.extensions?.code ?? res.status}` });
    return undefined;
  }
  return body.data;
}

const RESERVE = `mutation($input: ReserveInput!) { reserve(input: $input) { __typename
  ... on ReserveSuccess { reservation { id cartId sequence } }
  ... on RateLimited { retryAfterSeconds } } }`;
const RELEASE = `mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`;
const CHECKOUT = `mutation($input: CheckoutInput!) { checkout(input: $input) { __typename
  ... on CheckoutSuccess { order { id total { amount } } } } }`;
const PAY = `mutation($input: PayInput!) { pay(input: $input) { __typename
  ... on PaySuccess { transactionId }
  ... on AlreadyPaid { order { transactionId } } } }`;
const INVENTORY = `query($id: ID!) { inventory(productId: $id) { totalQuantity availableQuantity reservedQuantity soldQuantity } }`;

export function setup() {
  if (!SECRET) fail('set -e AUTH_JWT_SECRET=<the server secret> so shoppers get tokens');
  const admin = token(`k6-admin-${RUN_ID}`, ['admin']);
  const data = gql('setup', admin, `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`, {
    input: {
      id: `k6-${RUN_ID}`,
      name: `k6 flash sale ${RUN_ID}`,
      priceAmount: 4999,
      currency: 'USD',
      totalQuantity: STOCK,
      sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1, reservationTtlSeconds: TTL },
    },
  });
  if (!data) fail('createProduct failed: is the URL right and the secret the server\u2019s?');
  return { productId: /** @type {string} */ (data.createProduct.id), admin };
}

/** @param {{ productId: string, admin: string }} data */
export default function (data) {
  const i = exec.scenario.iterationInTest;
  const tok = token(`k6-${RUN_ID}-${i}`, []);
  /** @type {any} */
  let r;
  for (let attempt = 0; attempt < 4; attempt++) {
    const d = gql('reserve', tok, RESERVE, { input: { productId: data.productId, quantity: 1, idempotencyKey: `k6-${RUN_ID}-${i}-r${attempt}` } });
    r = d?.reserve;
    outcomes.add(1, { op: 'reserve', outcome: r?.__typename ?? 'error' });
    if (r?.__typename !== 'RateLimited') break;
    sleep(Math.min(2, r.retryAfterSeconds) * (0.5 + Math.random() / 2));
  }
  if (r?.__typename !== 'ReserveSuccess') return;
  const reservation = r.reservation;

  if (Math.random() >= CHECKOUT_RATE) {
    if (Math.random() < RELEASE_RATE) {
      const rel = gql('release', tok, RELEASE, { id: reservation.id });
      outcomes.add(1, { op: 'release', outcome: rel?.releaseReservation.__typename ?? 'error' });
    }
    return; // walked away: the hold expires
  }
  const card = Math.random() < DECLINE_RATE ? 'pm_card_chargeDeclined' : 'pm_card_visa';
  const c = gql('checkout', tok, CHECKOUT, {
    input: {
      cartId: reservation.cartId,
      paymentMethod: card,
      shippingAddress: { addressLine1: `${i} Load St`, city: 'Testville', postalCode: '12345', country: 'US' },
      idempotencyKey: `k6-${RUN_ID}-${i}-c`,
    },
  });
  const checkout = c?.checkout;
  outcomes.add(1, { op: 'checkout', outcome: checkout?.__typename ?? 'error' });
  if (checkout?.__typename !== 'CheckoutSuccess') return;
  const order = checkout.order;
  const p = gql('pay', tok, PAY, { input: { orderId: order.id, paymentMethod: card, amount: order.total.amount, idempotencyKey: `k6-${RUN_ID}-${i}-p1` } })?.pay;
  outcomes.add(1, { op: 'pay', outcome: p?.__typename ?? 'error' });
  if (p?.__typename !== 'PaySuccess') return;
  paidUnits.add(1);
  if (Math.random() < REPAY_RATE) {
    // A double click with a new key: must be AlreadyPaid with the same transaction.
    const again = gql('repay', tok, PAY, { input: { orderId: order.id, paymentMethod: card, amount: order.total.amount, idempotencyKey: `k6-${RUN_ID}-${i}-p2` } })?.pay;
    outcomes.add(1, { op: 'repay', outcome: again?.__typename ?? 'error' });
    const charged =
      (again?.__typename === 'PaySuccess' && again.transactionId !== p.transactionId) ||
      (again?.__typename === 'AlreadyPaid' && again.order.transactionId && again.order.transactionId !== p.transactionId);
    check(again, { 'paying twice never charges twice': () => !charged });
    if (charged) duplicateCharges.add(1);
  }
}

/** @param {{ productId: string, admin: string }} data */
export function teardown(data) {
  const inv = gql('teardown', data.admin, INVENTORY, { id: data.productId })?.inventory;
  if (!inv) fail('could not read the inventory after the sale');
  const over = Math.max(0, inv.soldQuantity - STOCK, inv.soldQuantity + inv.reservedQuantity - inv.totalQuantity, -inv.availableQuantity);
  oversold.add(over);
  const balanced = inv.availableQuantity + inv.reservedQuantity + inv.soldQuantity === inv.totalQuantity;
  outOfBalance.add(balanced ? 0 : 1);
  check(inv, { 'nothing oversold': () => over === 0, 'the ledger balances': () => balanced });
  soldAtEnd.add(inv.soldQuantity);
}
