// Shoppers and the after-fault checks shared by the fault tests.
import type { Cluster } from './cluster.js';
import { token } from './cluster.js';

export type Outcome = 'paid' | 'abandoned' | 'sold-out' | 'expired' | 'declined' | 'retryable' | 'other';

export interface SaleOptions {
  productId: string;
  shoppers: number;
  concurrency: number;
  /** Shopper names start with this (unique per wave). */
  prefix: string;
  /** Stop after reserving (the hold is left to expire). */
  abandon?: boolean;
  /** Called after every successful reserve with the running count. */
  onReserved?: (n: number) => void;
}

export interface SaleResult {
  outcomes: Record<Outcome, number>;
  others: string[];
  reserved: number;
  requests: number;
  retries: number;
  ms: number;
}

const ADDRESS = { address_line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' };
const RETRIES = 12;

class Retryable extends Error {}

/**
 * One HTTP call as a shopper behind a load balancer makes it: a retryable answer
 * (503, UNAVAILABLE) or a dead connection is tried again on the next api process,
 * with the same idempotency key; anything else is the answer.
 */
async function call(c: Cluster, stats: { requests: number; retries: number }, start: number, path: string, tok: string, body: unknown) {
  let last = '';
  for (let i = 0; i < RETRIES; i++) {
    const live = c.apis.filter((a) => a.child);
    const api = live[(start + i) % live.length] ?? c.apis[0];
    stats.requests++;
    if (i > 0) stats.retries++;
    try {
      const res = await fetch(`http://127.0.0.1:${api.port}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${tok}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(60_000),
      });
      const json = (await res.json()) as Record<string, any>;
      if (res.status === 503) {
        last = `503 ${json?.error?.code}`;
      } else {
        return { status: res.status, body: json };
      }
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw new Error(`request hung: ${path}`);
      last = `connection: ${(err as Error).message}`;
    }
    await new Promise((r) => setTimeout(r, 150 * (i + 1)));
  }
  throw new Retryable(last);
}

export async function runShoppers(c: Cluster, o: SaleOptions): Promise<SaleResult> {
  const t0 = Date.now();
  const outcomes: Record<Outcome, number> = { paid: 0, abandoned: 0, 'sold-out': 0, expired: 0, declined: 0, retryable: 0, other: 0 };
  const others: string[] = [];
  const stats = { requests: 0, retries: 0 };
  let reserved = 0;
  let next = 0;
  const one = async (n: number): Promise<Outcome> => {
    const user = `${o.prefix}-${n}`;
    const tok = await token(user);
    const r = await call(c, stats, n, '/add-to-cart', tok, { product_id: o.productId, quantity: 1, idempotency_key: `r-${user}` });
    if (r.status === 409 && r.body.error?.type === 'SoldOut') return 'sold-out';
    if (r.status !== 200) throw new Error(`reserve ${r.status} ${JSON.stringify(r.body)}`);
    reserved++;
    o.onReserved?.(reserved);
    if (o.abandon) return 'abandoned';
    const co = await call(c, stats, n, '/checkout', tok, {
      cart_id: r.body.cart_id,
      payment_method: 'pm_card_visa',
      shipping_address: ADDRESS,
      idempotency_key: `c-${user}`,
    });
    if (co.status === 410) return 'expired';
    if (co.status !== 200) throw new Error(`checkout ${co.status} ${JSON.stringify(co.body)}`);
    const pay = await call(c, stats, n, '/payment', tok, {
      order_id: co.body.order_id,
      amount: co.body.total_amount,
      currency: co.body.currency,
      payment_method: 'pm_card_visa',
      idempotency_key: `p-${user}`,
    });
    if (pay.status === 200 || (pay.status === 409 && pay.body.error?.type === 'AlreadyPaid')) return 'paid';
    if (pay.status === 410) return 'expired';
    if (pay.status === 402) return 'declined';
    throw new Error(`pay ${pay.status} ${JSON.stringify(pay.body)}`);
  };
  await Promise.all(
    Array.from({ length: o.concurrency }, async () => {
      while (next < o.shoppers) {
        const n = next++;
        try {
          outcomes[await one(n)]++;
        } catch (err) {
          if (err instanceof Retryable) outcomes.retryable++;
          else {
            outcomes.other++;
            if (others.length < 10) others.push((err as Error).message);
          }
        }
      }
    }),
  );
  return { outcomes, others, reserved, ...stats, ms: Date.now() - t0 };
}

export async function createProduct(c: Cluster, id: string, total: number, ttlSeconds: number) {
  const admin = await token('operator', ['admin']);
  const res = await fetch(`http://127.0.0.1:${c.apis[0].port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
    body: JSON.stringify({
      query: `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      variables: {
        input: {
          id,
          name: 'Fault-tested sneaker',
          priceAmount: 1999,
          currency: 'USD',
          totalQuantity: total,
          sale: { startsAt: new Date(Date.now() - 60_000).toISOString(), perUserLimit: 1, reservationTtlSeconds: ttlSeconds },
        },
      },
    }),
  });
  const body = (await res.json()) as { errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
}

export interface Ledger {
  total: number;
  available: number;
  reserved: number;
  sold: number;
}

export async function ledger(c: Cluster, productId: string): Promise<Ledger> {
  const [row] = await c.sql`select total_quantity, available_quantity, reserved_quantity, sold_quantity from products where id = ${productId}`;
  return { total: row.total_quantity, available: row.available_quantity, reserved: row.reserved_quantity, sold: row.sold_quantity };
}

/** What must hold after every fault; returns the figures to print. */
export async function audit(c: Cluster, productId: string) {
  const l = await ledger(c, productId);
  const [paid] = await c.sql`select count(*)::int as n from orders where status = 'COMPLETED'`;
  const badCharges = await c.sql`
    select o.id, o.status,
      (select count(*) from payments p where p.order_id = o.id and p.status = 'SUCCEEDED')::int as charges,
      (select count(*) from outbox x where x.aggregate_id = o.id::text and x.topic = 'order.completed')::int as confirmations
    from orders o
    where o.status = 'COMPLETED' or exists (select 1 from payments p where p.order_id = o.id and p.status = 'SUCCEEDED')`;
  const wrong = badCharges.filter((r) => r.status !== 'COMPLETED' || r.charges !== 1 || r.confirmations !== 1);
  const [soldUnits] = await c.sql`select coalesce(sum(quantity), 0)::int as n from reservations where product_id = ${productId} and status = 'PURCHASED'`;
  const [dupSeq] = await c.sql`select count(*)::int as n from (select sequence from reservations where product_id = ${productId} group by sequence having count(*) > 1) d`;
  const stuck = await c.sql`
    select coalesce(sum(r.quantity), 0)::int as units, count(distinct p.id)::int as payments from reservations r
    join payments p on p.order_id = r.order_id and p.status in ('PROCESSING', 'UNKNOWN')
    where r.product_id = ${productId} and r.status in ('ACTIVE', 'CHECKED_OUT')`;
  return {
    ledger: l,
    paidOrders: Number(paid.n),
    ordersWithWrongChargesOrConfirmations: wrong.length,
    purchasedUnits: Number(soldUnits.n),
    duplicateSequences: Number(dupSeq.n),
    heldByPaymentsInFlight: Number(stuck[0].units),
    paymentsInFlight: Number(stuck[0].payments),
  };
}

/** Waits until every hold has expired or been bought (except holds of payments a dead process left in flight). */
export async function waitSettled(c: Cluster, productId: string, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const a = await audit(c, productId).catch(() => undefined);
    if (a && a.ledger.reserved === a.heldByPaymentsInFlight) return a;
    if (Date.now() > until) {
      const holds = await c.sql`
        select r.status, r.expires_at < now() as past_expiry, o.status as order_status,
          (select string_agg(p.status, ',') from payments p where p.order_id = r.order_id) as payments, count(*)::int as n
        from reservations r left join orders o on o.id = r.order_id
        where r.product_id = ${productId} and r.status in ('ACTIVE', 'CHECKED_OUT')
        group by 1, 2, 3, 4`.catch(() => []);
      // Who might be holding those rows (a transaction left open skips them in the sweeper's SKIP LOCKED).
      const sessions = await c.sql`
        select application_name, state, wait_event_type, wait_event, now() - xact_start as in_transaction, left(query, 160) as query
        from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state <> 'idle'`.catch(() => []);
      throw new Error(`stock never settled: ${JSON.stringify(a)}; live holds: ${JSON.stringify(holds)}; busy sessions: ${JSON.stringify(sessions)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the Redis gate holds exactly what Postgres has available (reconciliation converged). */
export async function waitGateAgrees(c: Cluster, productId: string, prefix = 'fs:', ms = 30_000) {
  const until = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const l = await ledger(c, productId);
    const stock = await c.redis.hget(`${prefix}{${productId}}:gate`, 'stock').catch(() => null);
    last = { postgres: l.available, gate: stock };
    // No gate state at all is fine too: it loads from Postgres on first use.
    if (stock === null || Number(stock) === l.available) return last;
    if (Date.now() > until) throw new Error(`gate never agreed with Postgres: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
