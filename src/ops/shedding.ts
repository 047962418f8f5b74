import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Load shedding. Requests are ranked: cheap reads first to go, then new reserves
 * (and other mutations), checkout and pay last. Each rank has its share of the two
 * bounds (in-flight requests, event-loop lag): reads are shed from 50% of a bound,
 * reserves from 75%, checkout and pay only past 100%. A shed request is answered at
 * once (503 + Retry-After on REST, `UNAVAILABLE` on GraphQL): never queued, never hung.
 */
export type Priority = 'read' | 'reserve' | 'critical';

export const SHARE: Record<Priority, number> = { read: 0.5, reserve: 0.75, critical: 1 };

export interface ShedderOptions {
  enabled: boolean;
  maxInFlight: number;
  maxLagMs: number;
  retryAfterSeconds: number;
}

export class LoadShedder {
  inFlight = 0;
  /** p99 event-loop delay over the last full window, in ms. */
  lagMs = 0;
  readonly shed: Record<Priority, number> = { read: 0, reserve: 0, critical: 0 };
  private histogram: IntervalHistogram;
  private timer: NodeJS.Timeout;

  constructor(readonly o: ShedderOptions) {
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.timer = setInterval(() => {
      // The histogram counts the 10 ms resolution itself; report only the delay beyond it.
      this.lagMs = Math.max(0, this.histogram.percentile(99) / 1e6 - 10);
      this.histogram.reset();
    }, 1000);
    this.timer.unref();
  }

  /**
   * Forgets the lag measured so far: called when the server starts listening, so the time
   * start-up itself held the event loop (migrations, loading the gate) does not shed the
   * first second of traffic.
   */
  forgetLag(): void {
    this.histogram.reset();
    this.lagMs = 0;
  }

  /** Whether a request of this rank should be refused now; counts it when so. */
  shouldShed(priority: Priority): boolean {
    if (!this.o.enabled) return false;
    const share = SHARE[priority];
    // `inFlight` includes the request being decided.
    const over = this.inFlight > this.o.maxInFlight * share || this.lagMs > this.o.maxLagMs * share;
    if (over) this.shed[priority]++;
    return over;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }
}

/** The rank of a REST request by path; undefined for paths never shed (health, metrics). */
export function restPriority(method: string, path: string): Priority | undefined {
  if (path === '/checkout' || path === '/payment') return 'critical';
  if (path === '/reserve-inventory' || path === '/add-to-cart') return 'reserve';
  if (method === 'GET' && path.startsWith('/inventory/')) return 'read';
  return undefined;
}

/** The rank of a GraphQL operation from its kind and root fields. */
export function graphqlPriority(kind: 'query' | 'mutation' | 'subscription', fields: string[]): Priority {
  if (kind !== 'mutation') return 'read';
  if (fields.some((f) => f === 'checkout' || f === 'pay')) return 'critical';
  return 'reserve';
}
