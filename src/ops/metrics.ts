import { sql } from 'drizzle-orm';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { rowsOf } from '../adapters/db/client.js';
import type { Deps } from '../domain/context.js';
import { ResilientGate } from '../domain/gate/resilient.js';
import { DegradingEventBus } from '../adapters/pubsub/degrading.js';
import { DegradingRateLimitStore } from '../adapters/redis/ratelimit.js';
import type { LoadShedder } from './shedding.js';

/**
 * Every Prometheus metric flashsale exports (`GET /metrics`), in its own registry.
 * Request, latency, outcome and shed counts are this process's; stock, reservations,
 * payments and outbox figures are read from Postgres at scrape time (the whole fleet),
 * at most once a second, and left out (not failed) when Postgres does not answer.
 */
/**
 * Counts kept as plain numbers per label set and added to a prom-client counter when it is
 * scraped: prom-client hashes and checks the labels on every `inc`, which was the largest
 * metrics cost of a request on the hot path. The scraped figures are the same.
 */
export class Tally<L extends string> {
  private readonly cells = new Map<string, { labels: Record<L, string>; n: number }>();
  private readonly labelNames: L[];
  readonly counter: Counter<L>;

  constructor(config: { name: string; help: string; labelNames: L[]; registers: Registry[] }) {
    const cells = this.cells;
    this.labelNames = config.labelNames;
    this.counter = new Counter<L>({
      ...config,
      collect() {
        for (const cell of cells.values()) {
          if (cell.n === 0) continue;
          this.inc(cell.labels as never, cell.n);
          cell.n = 0;
        }
      },
    });
  }

  /** Adds one under `key`, which must stand for exactly these labels (`labels` is called the first time only). */
  inc(key: string, labels: () => Record<L, string>): void {
    const cell = this.cells.get(key);
    if (cell) cell.n++;
    else this.cells.set(key, { labels: labels(), n: 1 });
  }

  /** Adds one for these labels (the key is made of their values). */
  count(labels: Record<L, string>): void {
    const names = this.labelNames;
    this.inc(names.length === 1 ? labels[names[0]] : names.map((n) => labels[n]).join('\u0000'), () => ({ ...labels }));
  }
}

/**
 * A latency histogram by operation, exported in Prometheus's histogram format (`_bucket`
 * with `le`, `_sum`, `_count`) like prom-client's, but observed with plain arithmetic
 * (no label hashing per observation).
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: number[],
    registers: Registry[],
  ) {
    for (const r of registers) r.registerMetric(this as never);
  }

  observe(operation: string, seconds: number): void {
    let s = this.series.get(operation);
    if (!s) this.series.set(operation, (s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]) {
        s.counts[i]++;
        break;
      }
    }
    s.sum += seconds;
    s.count++;
  }

  /** What prom-client's registry reads of a metric (its own histograms give the same shape). */
  async get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [operation, s] of this.series) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i];
        values.push({ labels: { le, operation }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', operation }, value: s.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { operation }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { operation }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}

/** A process's WebSocket figures (src/live/ws.ts `stats()`): open sockets and upgrades refused. */
export interface WebSocketFigures {
  sockets: number;
  /** Refused for their page's origin (CORS_ORIGINS). */
  refusedOrigin: number;
  /** Refused because their IP held WS_MAX_PER_IP sockets. */
  refusedPerIp: number;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Tally<'operation' | 'outcome'>;
  readonly latency: LatencyHistogram;
  readonly reserveOutcomes: Tally<'outcome'>;
  readonly payOutcomes: Tally<'outcome'>;
  private dbCache?: { at: number; data: Promise<DbFigures | undefined> };

  constructor(
    private readonly deps: Deps,
    shedder: LoadShedder,
    webSockets: () => WebSocketFigures,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'flashsale_process_' });
    this.requests = new Tally({
      name: 'flashsale_requests_total',
      help: 'HTTP requests by operation (GraphQL root field or REST route) and outcome (ok, error, unavailable, shed)',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.latency = new LatencyHistogram(
      'flashsale_request_duration_seconds',
      'HTTP request latency by operation',
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    );
    this.reserveOutcomes = new Tally({
      name: 'flashsale_reserve_outcomes_total',
      help: 'Reserve attempts answered by this process, by outcome (ReserveSuccess, SoldOut, LimitExceeded, ..., UNAVAILABLE)',
      labelNames: ['outcome'],
      registers,
    });
    this.payOutcomes = new Tally({
      name: 'flashsale_pay_outcomes_total',
      help: 'pay calls answered by this process, by outcome (PaySuccess, PaymentDeclined, PaymentUnavailable, ...)',
      labelNames: ['outcome'],
      registers,
    });
    new Gauge({
      name: 'flashsale_shed_requests_total',
      help: 'Requests refused by load shedding, by priority (read, reserve, critical)',
      labelNames: ['priority'],
      registers,
      collect() {
        for (const [p, n] of Object.entries(shedder.shed)) this.set({ priority: p }, n);
      },
    });
    new Gauge({ name: 'flashsale_in_flight_requests', help: 'HTTP requests being served now', registers, collect() { this.set(shedder.inFlight); } });
    new Gauge({ name: 'flashsale_event_loop_lag_seconds', help: 'p99 event-loop delay over the last second', registers, collect() { this.set(shedder.lagMs / 1000); } });
    new Gauge({ name: 'flashsale_subscribers', help: 'Open GraphQL WebSocket connections on this process', registers, collect() { this.set(webSockets().sockets); } });
    new Gauge({
      name: 'flashsale_ws_refused_total',
      help: 'WebSocket upgrades refused by this process, by reason: origin (a page on an origin CORS_ORIGINS does not allow), per_ip (WS_MAX_PER_IP)',
      labelNames: ['reason'],
      registers,
      collect() {
        const ws = webSockets();
        this.set({ reason: 'origin' }, ws.refusedOrigin);
        this.set({ reason: 'per_ip' }, ws.refusedPerIp);
      },
    });
    new Gauge({
      name: 'flashsale_postgres_answering',
      help: '0 while Postgres is not answering (the watchdog, POSTGRES_TIMEOUT_MS): requests that need it fail retryably; 1 otherwise',
      registers,
      collect() {
        this.set(deps.postgres?.unresponsive ? 0 : 1);
      },
    });
    new Gauge({
      name: 'flashsale_postgres_unresponsive_total',
      help: 'Times this process found Postgres not answering and cut its connections',
      registers,
      collect() {
        this.set(deps.postgres?.trips ?? 0);
      },
    });
    const gate = deps.gate;
    new Gauge({
      name: 'flashsale_gate_up',
      help: '1 when the shared stock gate (Redis) is in use, 0 while admitting through the fallback',
      registers,
      collect() {
        this.set(gate instanceof ResilientGate ? (gate.mode === 'up' ? 1 : 0) : 1);
      },
    });
    new Gauge({
      name: 'flashsale_gate_fallback_admissions_total',
      help: 'Reserve attempts admitted through Postgres alone while Redis was unreachable',
      registers,
      collect() {
        this.set(gate instanceof ResilientGate ? gate.counts.fallbackAdmits : 0);
      },
    });
    new Gauge({
      name: 'flashsale_gate_hand_backs_kept',
      help: 'Admissions Postgres refused while Redis was unreachable, kept to be handed back to the gate after its rebuild',
      registers,
      collect() {
        this.set(gate instanceof ResilientGate ? gate.handBacksKept : 0);
      },
    });
    new Gauge({
      name: 'flashsale_gate_outages_total',
      help: 'Times this process lost the shared stock gate (and rebuilt it when it returned)',
      labelNames: ['event'],
      registers,
      collect() {
        if (!(gate instanceof ResilientGate)) return;
        this.set({ event: 'lost' }, gate.counts.outages);
        this.set({ event: 'rebuilt' }, gate.counts.rebuilds);
      },
    });
    const events = deps.events;
    new Gauge({
      name: 'flashsale_events_local_only_total',
      help: 'Events delivered in this process only because Redis pub/sub was unreachable',
      registers,
      collect() {
        this.set(events instanceof DegradingEventBus ? events.localOnly : 0);
      },
    });
    const limiter = deps.limiter;
    new Gauge({
      name: 'flashsale_ratelimit_local_total',
      help: 'Rate-limit checks answered by this process alone because Redis could not answer',
      registers,
      collect() {
        this.set(limiter instanceof DegradingRateLimitStore ? limiter.counts.local : 0);
      },
    });
    const figures = () => this.dbFigures();
    new Gauge({
      name: 'flashsale_stock',
      help: 'Units per product and state (total, available, reserved, sold), from Postgres',
      labelNames: ['product_id', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const p of (await figures())?.stock ?? []) {
          for (const state of ['total', 'available', 'reserved', 'sold'] as const) this.set({ product_id: p.id, state }, Number(p[state]));
        }
      },
    });
    new Gauge({
      name: 'flashsale_reservations',
      help: 'Reservations by status (EXPIRED counts every reservation the sweeper expired), from Postgres',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await figures())?.reservations ?? []) this.set({ status: r.status }, Number(r.n));
      },
    });
    new Gauge({
      name: 'flashsale_payments',
      help: 'Payment attempts by status (SUCCEEDED, DECLINED, FAILED, UNKNOWN, PROCESSING), from Postgres',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await figures())?.payments ?? []) this.set({ status: r.status }, Number(r.n));
      },
    });
    new Gauge({
      name: 'flashsale_refunds',
      help: 'Refunds of charges without an order by status (PENDING: being made; FAILED: an operator must refund by hand), from Postgres',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        for (const r of (await figures())?.refunds ?? []) this.set({ status: r.status }, Number(r.n));
      },
    });
    new Gauge({
      name: 'flashsale_outbox_depth',
      help: 'Outbox rows waiting to be delivered (PENDING), from Postgres',
      registers,
      async collect() {
        const f = await figures();
        if (f) this.set(f.outbox.PENDING ?? 0);
      },
    });
    new Gauge({
      name: 'flashsale_outbox_dead_letters',
      help: 'Outbox rows that gave up (DEAD), from Postgres',
      registers,
      async collect() {
        const f = await figures();
        if (f) this.set(f.outbox.DEAD ?? 0);
      },
    });
  }

  private dbFigures(): Promise<DbFigures | undefined> {
    if (this.dbCache && Date.now() - this.dbCache.at < 1000) return this.dbCache.data;
    const data = readFigures(this.deps).catch((err) => {
      this.deps.log.warn({ err: (err as Error).message }, 'metrics: Postgres figures unavailable');
      return undefined;
    });
    this.dbCache = { at: Date.now(), data };
    return data;
  }
}

interface DbFigures {
  stock: { id: string; total: number; available: number; reserved: number; sold: number }[];
  reservations: { status: string; n: number }[];
  payments: { status: string; n: number }[];
  refunds: { status: string; n: number }[];
  outbox: Record<string, number>;
}

async function readFigures(deps: Deps): Promise<DbFigures> {
  const db = deps.db;
  const stock = rowsOf<DbFigures['stock'][number]>(
    await db.execute(sql`select id, total_quantity as total, available_quantity as available, reserved_quantity as reserved, sold_quantity as sold
      from products where ends_at is null or ends_at > now() - interval '1 day' order by id limit 1000`),
  );
  const reservations = rowsOf<{ status: string; n: number }>(await db.execute(sql`select status, count(*)::int as n from reservations group by status`));
  const payments = rowsOf<{ status: string; n: number }>(await db.execute(sql`select status, count(*)::int as n from payments group by status`));
  const outbox = rowsOf<{ status: string; n: number }>(
    await db.execute(sql`select status, count(*)::int as n from outbox where status in ('PENDING', 'DEAD') group by status`),
  );
  const refunds = rowsOf<{ status: string; n: number }>(await db.execute(sql`select status, count(*)::int as n from refunds group by status`));
  return { stock, reservations, payments, refunds, outbox: Object.fromEntries(outbox.map((r) => [r.status, Number(r.n)])) };
}
