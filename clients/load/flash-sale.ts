/**
 * The flash-sale load generator: N shoppers with distinct tokens arrive in a burst at a running
 * server, reserve, and most check out and pay (some abandon, some are declined). It measures
 * outcomes and latency per operation, then checks the sale's promises: nothing oversold, first
 * come first served, no order charged twice. `runFlashSale` is the library entry point (the CLI
 * and benchmarks call it); `failed` in the summary is true when a promise was broken.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { createFlashSaleClient, FlashSaleClient, FlashSaleError, newIdempotencyKey } from '../sdk/src/index.js';
import { signTokenSync } from '../../src/auth.js';
import { type LeanFetch, leanFetch } from './http.js';

export interface FlashSaleOptions {
  /** Server base URL, e.g. http://localhost:4000 (GraphQL at /graphql). */
  url: string;
  shoppers: number;
  stock: number;
  /** Mints tokens (HS256 with the server's AUTH_JWT_SECRET) unless `mintToken` is given. */
  secret?: string;
  mintToken?: (sub: string, admin: boolean) => string | Promise<string>;
  /** An admin token to create the product (default: minted). */
  adminToken?: string;
  /** Use an existing product instead of creating one (its stock must equal `stock`). */
  productId?: string;
  priceAmount?: number;
  currency?: string;
  perUserLimit?: number;
  /** The sale's reservation hold, in seconds. */
  ttlSeconds?: number;
  /** Shoppers arrive spread over this many ms (a burst). */
  rampMs?: number;
  /** Shoppers in flight at most (so requests too): each holds its slot from its first request to its last, as a k6 VU does. */
  concurrency?: number;
  /**
   * Open the `concurrency` keep-alive connections before the clock starts, as shoppers waiting on
   * the sale's page already have theirs (default false: each opens with the first request sent on
   * it, at the opening). A busy Node server accepts one new connection per event-loop turn
   * (libuv >= 1.45), so a burst of new connections at the opening waits on that, not on the sale.
   */
  preconnect?: boolean;
  /** Of the shoppers who get a hold: fraction who check out and pay; the rest abandon. */
  checkoutRate?: number;
  /** Of the payers: fraction paying with a card that is declined. */
  declineRate?: number;
  /** Of the abandoners: fraction who give the hold back (the rest walk away and let it expire). */
  releaseRate?: number;
  /** Of the successful payers: fraction who pay again (a double click) to probe duplicate charges. */
  repayRate?: number;
  /** Extra WebSocket clients watching the product's stock. */
  subscribers?: number;
  /** How often RateLimited / CaptchaRequired / unavailable answers are retried per shopper. */
  maxRetries?: number;
  seed?: number;
  /** A progress line, about once a second. */
  onProgress?: (line: string) => void;
  runId?: string;
  /** The HTTP client under the SDK: default a lean node:http keep-alive client (clients/load/http.ts); pass `globalThis.fetch` for the platform's. */
  fetch?: typeof fetch;
}

export interface LatencyStats {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface Summary {
  productId: string;
  shoppers: number;
  stock: number;
  durationMs: number;
  requests: number;
  requestsPerSecond: number;
  /** Reserve attempts (with retries) and their outcomes by __typename (faults as `error:CODE`). */
  attempts: number;
  reserveOutcomes: Record<string, number>;
  checkoutOutcomes: Record<string, number>;
  payOutcomes: Record<string, number>;
  repayOutcomes: Record<string, number>;
  releaseOutcomes: Record<string, number>;
  abandoned: { released: number; walkedAway: number };
  latencyMs: Record<string, LatencyStats>;
  /**
   * The load generator's own event-loop delay over the run (ms): every latency above includes
   * about this much of it, the time an answer waited in this process before it was read. When it
   * is a large part of the latencies, the load generator, not the server, is what they measure.
   */
  loadGeneratorLagMs: { p50: number; p99: number; max: number };
  paidUnits: number;
  inventory: { total: number; available: number; reserved: number; sold: number; balanced: boolean };
  oversold: number;
  fairnessViolations: number;
  duplicateSequences: number;
  duplicateCharges: number;
  subscribers?: { count: number; events: number; connected: number; lastSeenMatches: number };
  failed: boolean;
  failures: string[];
}

// A small seeded PRNG (mulberry32) so a run's choices can be replayed.
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inc = (m: Record<string, number>, k: string) => {
  m[k] = (m[k] ?? 0) + 1;
};

/** A counting semaphore: at most `n` shoppers in flight. */
function limiter(n: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

export interface StockReturn {
  sentAt: number;
  doneAt: number;
}

export interface ReserveRecord {
  sentAt: number;
  doneAt: number;
  typename: string;
  sequence?: number;
}

export async function runFlashSale(opts: FlashSaleOptions): Promise<Summary> {
  const base = opts.url.replace(/\/+$/, '').replace(/\/graphql$/, '');
  const gqlUrl = `${base}/graphql`;
  const runId = opts.runId ?? `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const rand = prng(opts.seed ?? 42);
  const checkoutRate = opts.checkoutRate ?? 0.85;
  const declineRate = opts.declineRate ?? 0.1;
  const releaseRate = opts.releaseRate ?? 0.5;
  const repayRate = opts.repayRate ?? 0.1;
  const rampMs = opts.rampMs ?? 1000;
  const maxRetries = opts.maxRetries ?? 3;
  const run = limiter(opts.concurrency ?? 256);
  const fetchImpl = opts.fetch ?? leanFetch({ maxSockets: opts.concurrency ?? 256 });
  const mint =
    opts.mintToken ??
    ((sub: string, admin: boolean) => {
      if (!opts.secret) throw new Error('runFlashSale needs `secret` (AUTH_JWT_SECRET) or `mintToken` to give each shopper a token');
      // Signed at once (node:crypto): minted with jose, 20,000 tokens left this process a second of
      // work and garbage collection that ran into the first requests' latencies.
      return signTokenSync(opts.secret, { sub, roles: admin ? ['admin'] : [], ttlSeconds: 7200 });
    });

  // --- the product ---
  const adminToken = opts.adminToken ?? (await mint(`load-admin-${runId}`, true));
  const admin = createFlashSaleClient({ url: gqlUrl, getToken: () => adminToken, fetch: fetchImpl });
  let productId = opts.productId;
  let priceAmount = opts.priceAmount ?? 4999;
  let ttlSeconds = opts.ttlSeconds ?? 120;
  if (!productId) {
    const p = await admin.createProduct({
      id: `load-${runId}`,
      name: `Flash sale ${runId}`,
      priceAmount,
      currency: opts.currency ?? 'USD',
      totalQuantity: opts.stock,
      sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: opts.perUserLimit ?? 1, reservationTtlSeconds: ttlSeconds },
    });
    productId = p.id;
  } else {
    const p = await admin.product(productId);
    if (!p) throw new Error(`No product ${productId}`);
    priceAmount = p.price.amount;
    ttlSeconds = p.sale.reservationTtlSeconds;
  }

  // --- tokens, up front so minting is not measured ---
  const tokens = await Promise.all(Array.from({ length: opts.shoppers }, (_, i) => mint(`load-${runId}-${i}`, false)));

  // Every shopper's client, made before the clock starts too.
  const clients = tokens.map((token) => createFlashSaleClient({ url: gqlUrl, getToken: () => token, retries: 1, fetch: fetchImpl }));

  if (opts.preconnect) await (fetchImpl as Partial<LeanFetch>).preconnect?.(gqlUrl, opts.concurrency ?? 256);

  // --- subscribers ---
  const subs: { client: FlashSaleClient; events: number; last?: number; connected: boolean }[] = [];
  for (let i = 0; i < (opts.subscribers ?? 0); i++) {
    const s = { client: createFlashSaleClient({ url: gqlUrl, webSocketImpl: WebSocket }), events: 0, last: undefined as number | undefined, connected: false };
    s.client.onStockChanged(productId, (inv) => {
      s.connected = true;
      s.events++;
      s.last = inv.availableQuantity;
    });
    subs.push(s);
  }

  // --- measurements ---
  const latency: Record<string, number[]> = { reserve: [], checkout: [], pay: [], repay: [], release: [] };
  const reserveOutcomes: Record<string, number> = {};
  const checkoutOutcomes: Record<string, number> = {};
  const payOutcomes: Record<string, number> = {};
  const repayOutcomes: Record<string, number> = {};
  const releaseOutcomes: Record<string, number> = {};
  const reserves: ReserveRecord[] = [];
  // Stock that went back (a release, a decline) somewhere between the request's send and its answer.
  const returns: StockReturn[] = [];
  // Any hold may expire (and return its unit) from its creation + TTL on: after the first hold's
  // earliest expiry, outside observers can no longer judge arrival order.
  let earliestExpiry = Number.POSITIVE_INFINITY;
  const txByOrder = new Map<string, Set<string>>();
  let duplicateCharges = 0;
  let requests = 0;
  let attempts = 0;
  let arrived = 0;
  let finished = 0;
  let paidUnits = 0;
  const abandoned = { released: 0, walkedAway: 0 };

  const timed = async <T>(op: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    requests++;
    try {
      return await fn();
    } finally {
      latency[op].push(performance.now() - t0);
    }
  };
  const faultName = (err: unknown) => `error:${err instanceof FlashSaleError ? err.code : 'UNEXPECTED'}`;

  const started = performance.now();
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const progress = setInterval(() => {
    const secs = (performance.now() - started) / 1000;
    opts.onProgress?.(
      `[${secs.toFixed(1).padStart(5)}s] arrived ${arrived}/${opts.shoppers} done ${finished} · holds ${reserveOutcomes.ReserveSuccess ?? 0} sold-out ${reserveOutcomes.SoldOut ?? 0} paid ${payOutcomes.PaySuccess ?? 0} declined ${payOutcomes.PaymentDeclined ?? 0} · ${Math.round(requests / Math.max(secs, 0.001))} req/s`,
    );
  }, 1000);

  const shopper = async (i: number) => {
    const client = clients[i];
    // Decide the shopper's fate up front (seeded), so runs are comparable.
    const willCheckout = rand() < checkoutRate;
    const willDecline = rand() < declineRate;
    const willRelease = rand() < releaseRate;
    const willRepay = rand() < repayRate;

    let reservation: { id: string; cartId: string; sequence: number; expiresAt: string } | undefined;
    for (let attempt = 0; attempt <= maxRetries; attempt++) {
      attempts++;
      const rec: ReserveRecord = { sentAt: performance.now(), doneAt: 0, typename: '' };
      try {
        const r = await timed('reserve', () => client.reserve({ productId: productId!, quantity: 1 }));
        rec.doneAt = performance.now();
        rec.typename = r.__typename;
        if (r.__typename === 'ReserveSuccess') {
          rec.sequence = r.reservation.sequence;
          earliestExpiry = Math.min(earliestExpiry, rec.sentAt + ttlSeconds * 1000);
          reservation = r.reservation;
        }
        reserves.push(rec);
        inc(reserveOutcomes, r.__typename);
        if (r.__typename === 'RateLimited' && attempt < maxRetries) {
          await sleep(Math.min(2000, r.retryAfterSeconds * 1000) * (0.5 + rand() / 2));
          continue;
        }
      } catch (err) {
        rec.doneAt = performance.now();
        inc(reserveOutcomes, faultName(err));
        if (err instanceof FlashSaleError && err.retryable && attempt < maxRetries) {
          await sleep(200 * 2 ** attempt);
          continue;
        }
      }
      break;
    }
    if (!reservation) return;

    if (!willCheckout) {
      if (willRelease) {
        abandoned.released++;
        try {
          const sentAt = performance.now();
          const r = await timed('release', () => client.releaseReservation(reservation!.id));
          inc(releaseOutcomes, r.__typename);
          if (r.__typename === 'ReleaseSuccess') returns.push({ sentAt, doneAt: performance.now() });
        } catch (err) {
          inc(releaseOutcomes, faultName(err));
        }
      } else {
        abandoned.walkedAway++;
      }
      return;
    }

    let order: { id: string; total: { amount: number } } | undefined;
    try {
      const c = await timed('checkout', () =>
        client.checkout({
          cartId: reservation!.cartId,
          paymentMethod: willDecline ? 'pm_card_chargeDeclined' : 'pm_card_visa',
          shippingAddress: { addressLine1: `${i} Load St`, city: 'Testville', postalCode: '12345', country: 'US' },
        }),
      );
      inc(checkoutOutcomes, c.__typename);
      if (c.__typename === 'CheckoutSuccess') order = c.order;
    } catch (err) {
      inc(checkoutOutcomes, faultName(err));
    }
    if (!order) return;

    const method = willDecline ? 'pm_card_chargeDeclined' : 'pm_card_visa';
    const record = (orderId: string, tx: string) => {
      const set = txByOrder.get(orderId) ?? new Set<string>();
      set.add(tx);
      txByOrder.set(orderId, set);
    };
    try {
      const paySentAt = performance.now();
      const p = await timed('pay', () => client.pay({ orderId: order!.id, paymentMethod: method, amount: order!.total.amount, idempotencyKey: newIdempotencyKey() }));
      inc(payOutcomes, p.__typename);
      if (p.__typename === 'PaySuccess') {
        paidUnits++;
        record(order.id, p.transactionId);
      } else if (p.__typename === 'PaymentDeclined') {
        returns.push({ sentAt: paySentAt, doneAt: performance.now() });
      }
      if (willRepay && p.__typename === 'PaySuccess') {
        // A second click with a new key: must answer AlreadyPaid, never charge again.
        const again = await timed('repay', () => client.pay({ orderId: order!.id, paymentMethod: method, amount: order!.total.amount, idempotencyKey: newIdempotencyKey() }));
        inc(repayOutcomes, again.__typename);
        if (again.__typename === 'PaySuccess') {
          record(order.id, again.transactionId);
          if (again.transactionId !== p.transactionId) duplicateCharges++;
        }
        if (again.__typename === 'AlreadyPaid' && again.order.transactionId && again.order.transactionId !== p.transactionId) duplicateCharges++;
      }
    } catch (err) {
      inc(payOutcomes, faultName(err));
    }
  };

  // Arrival times: a burst spread over rampMs, front-loaded (most arrive at the opening). One timer
  // lets the shoppers in at their times, in order: a timer and a promise per shopper made at the
  // opening cost this process a few hundred ms of work and collection just as the first requests
  // went out, and that time was inside their latencies.
  const arrivals = Array.from({ length: opts.shoppers }, () => rampMs * rand() ** 2).sort((x, y) => x - y);
  const shopping: Promise<void>[] = [];
  await new Promise<void>((allIn) => {
    let next = 0;
    const letIn = () => {
      const now = performance.now() - started;
      while (next < arrivals.length && arrivals[next] <= now) {
        const i = next++;
        arrived++;
        // A shopper holds a slot from its first request to its last, as a k6 VU runs one iteration:
        // a winner checks out and pays at once, not behind every reserve queued after its own.
        shopping.push(
          run(() => shopper(i))
            .catch(() => inc(reserveOutcomes, 'error:UNEXPECTED'))
            .finally(() => {
              finished++;
            }),
        );
      }
      if (next < arrivals.length) setTimeout(letIn, arrivals[next] - now);
      else allIn();
    };
    letIn();
  });
  await Promise.all(shopping);
  const durationMs = performance.now() - started;
  lag.disable();
  // The histogram holds the intervals between its 10 ms timer's runs: less 10 ms, the delay.
  const lagMs = (ns: number) => Math.max(0, Math.round((ns / 1e6 - 10) * 10) / 10);
  const loadGeneratorLagMs = { p50: lagMs(lag.percentile(50)), p99: lagMs(lag.percentile(99)), max: lagMs(lag.max) };
  clearInterval(progress);

  // --- the verdict ---
  const inv = await admin.inventory(productId);
  const inventory = inv
    ? {
        total: inv.totalQuantity,
        available: inv.availableQuantity,
        reserved: inv.reservedQuantity,
        sold: inv.soldQuantity,
        balanced: inv.availableQuantity + inv.reservedQuantity + inv.soldQuantity === inv.totalQuantity && inv.availableQuantity >= 0 && inv.reservedQuantity >= 0,
      }
    : { total: 0, available: 0, reserved: 0, sold: 0, balanced: false };
  const oversold = Math.max(0, paidUnits - opts.stock, inventory.sold - opts.stock, inventory.sold + inventory.reserved - inventory.total, -inventory.available);

  const chargedTwice = [...txByOrder.values()].filter((s) => s.size > 1).length;
  duplicateCharges = Math.max(duplicateCharges, chargedTwice);

  const seqs = reserves.filter((r) => r.sequence !== undefined).map((r) => r.sequence!);
  const duplicateSequences = seqs.length - new Set(seqs).size;
  const fairnessViolations = fcfsViolations(reserves, returns, earliestExpiry) + duplicateSequences;

  let subscribers: Summary['subscribers'];
  if (subs.length) {
    // Let the last events arrive, then compare what watchers saw with the truth.
    const deadline = performance.now() + 3000;
    while (performance.now() < deadline && subs.some((s) => s.last !== inventory.available)) await sleep(100);
    subscribers = {
      count: subs.length,
      events: subs.reduce((n, s) => n + s.events, 0),
      connected: subs.filter((s) => s.connected).length,
      lastSeenMatches: subs.filter((s) => s.last === inventory.available).length,
    };
    await Promise.all(subs.map((s) => s.client.close()));
  }

  const stats = (xs: number[]): LatencyStats => {
    const s = [...xs].sort((x, y) => x - y);
    const r = (n: number) => Math.round(n * 10) / 10;
    return { count: s.length, p50: r(percentile(s, 50)), p95: r(percentile(s, 95)), p99: r(percentile(s, 99)), max: r(s.at(-1) ?? 0) };
  };
  const failures: string[] = [];
  if (oversold > 0) failures.push(`${oversold} unit(s) oversold`);
  if (!inventory.balanced) failures.push(`the ledger does not balance: ${JSON.stringify(inventory)}`);
  if (duplicateCharges > 0) failures.push(`${duplicateCharges} order(s) charged twice`);
  if (fairnessViolations > 0) failures.push(`${fairnessViolations} first-come-first-served violation(s)`);

  return {
    productId,
    shoppers: opts.shoppers,
    stock: opts.stock,
    durationMs: Math.round(durationMs),
    requests,
    requestsPerSecond: Math.round(requests / (durationMs / 1000)),
    attempts,
    reserveOutcomes,
    checkoutOutcomes,
    payOutcomes,
    repayOutcomes,
    releaseOutcomes,
    abandoned,
    loadGeneratorLagMs,
    latencyMs: Object.fromEntries(Object.entries(latency).filter(([, v]) => v.length).map(([k, v]) => [k, stats(v)])),
    paidUnits,
    inventory,
    oversold,
    fairnessViolations,
    duplicateSequences,
    duplicateCharges,
    subscribers,
    failed: failures.length > 0,
    failures,
  };
}

/**
 * A shopper was refused SOLD_OUT before another shopper even asked, yet that later shopper got a
 * hold although no stock could have come back in between (no release or decline in flight, no
 * hold old enough to expire): the later arrival was served first. Counted once per such hold.
 * Requests that overlap in time cannot be ordered from outside and are never counted.
 */
export function fcfsViolations(reserves: ReserveRecord[], returns: StockReturn[], earliestExpiry = Number.POSITIVE_INFINITY): number {
  const refusals = reserves.filter((r) => r.typename === 'SoldOut').sort((x, y) => x.doneAt - y.doneAt);
  const refusedSentMax: number[] = [];
  for (const r of refusals) refusedSentMax.push(Math.max(refusedSentMax.at(-1) ?? Number.NEGATIVE_INFINITY, r.sentAt));
  const back = [...returns].sort((x, y) => x.sentAt - y.sentAt);
  const backDoneMax: number[] = [];
  for (const b of back) backDoneMax.push(Math.max(backDoneMax.at(-1) ?? Number.NEGATIVE_INFINITY, b.doneAt));
  /** How many of `xs` (sorted by key) have key < limit. */
  const countBelow = <T>(xs: T[], key: (x: T) => number, limit: number) => {
    let lo = 0;
    let hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (key(xs[mid]) < limit) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  let violations = 0;
  for (const s of reserves) {
    if (s.typename !== 'ReserveSuccess') continue;
    if (s.doneAt > earliestExpiry) continue;
    // Refusals answered before this request was sent; the latest-sent of them is the strictest.
    const n = countBelow(refusals, (r) => r.doneAt, s.sentAt);
    if (n === 0) continue;
    const refusedSentAt = refusedSentMax[n - 1];
    // A return that could have happened after that refusal was decided and before this hold: one
    // sent before this hold was answered and answered after the refusal was sent.
    const m = countBelow(back, (b) => b.sentAt, s.doneAt);
    if (m > 0 && backDoneMax[m - 1] > refusedSentAt) continue;
    violations++;
  }
  return violations;
}

/** The summary as a human-readable report. */
export function formatSummary(s: Summary): string {
  const lines: string[] = [];
  const fmt = (m: Record<string, number>) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-';
  lines.push(`flash sale ${s.productId}: ${s.shoppers} shoppers, ${s.stock} units, ${(s.durationMs / 1000).toFixed(1)} s`);
  lines.push(`  requests      ${s.requests} (${s.requestsPerSecond} req/s), reserve attempts ${s.attempts}`);
  lines.push(`  reserve       ${fmt(s.reserveOutcomes)}`);
  lines.push(`  checkout      ${fmt(s.checkoutOutcomes)}`);
  lines.push(`  pay           ${fmt(s.payOutcomes)}`);
  if (Object.keys(s.repayOutcomes).length) lines.push(`  pay again     ${fmt(s.repayOutcomes)}`);
  lines.push(`  abandoned     released ${s.abandoned.released} (${fmt(s.releaseOutcomes)}), walked away ${s.abandoned.walkedAway}`);
  lines.push(`  latency (ms)  ${'op'.padEnd(9)} ${'count'.padStart(6)} ${'p50'.padStart(8)} ${'p95'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`);
  for (const [op, l] of Object.entries(s.latencyMs)) {
    lines.push(`                ${op.padEnd(9)} ${String(l.count).padStart(6)} ${String(l.p50).padStart(8)} ${String(l.p95).padStart(8)} ${String(l.p99).padStart(8)} ${String(l.max).padStart(8)}`);
  }
  lines.push(`  load generator's own event-loop delay (in every latency above): p50 ${s.loadGeneratorLagMs.p50} ms, p99 ${s.loadGeneratorLagMs.p99} ms, max ${s.loadGeneratorLagMs.max} ms`);
  const i = s.inventory;
  lines.push(`  inventory     total ${i.total}, sold ${i.sold}, reserved ${i.reserved}, available ${i.available}${i.balanced ? '' : ' (OUT OF BALANCE)'}; paid units seen ${s.paidUnits}`);
  if (s.subscribers) lines.push(`  subscribers   ${s.subscribers.count} (${s.subscribers.connected} got events, ${s.subscribers.events} events, ${s.subscribers.lastSeenMatches} saw the final count)`);
  lines.push(`  oversold ${s.oversold} · first-come-first-served violations ${s.fairnessViolations} · duplicate charges ${s.duplicateCharges}`);
  lines.push(s.failed ? `FAILED: ${s.failures.join('; ')}` : 'OK: nothing oversold, first come first served, nobody charged twice');
  return lines.join('\n');
}
