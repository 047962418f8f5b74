import type { Logger } from 'pino';
import type { ChargeOutcome, ChargeRequest, PaymentGateway } from './port.js';

export interface BreakerOptions {
  /** Consecutive failures (unavailable or unknown) that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses traffic before one half-open probe is let through. */
  openMs: number;
}

/**
 * A per-gateway circuit breaker: CLOSED lets everything through; after
 * `failureThreshold` consecutive failures it is OPEN and refuses traffic for `openMs`;
 * then HALF_OPEN lets one probe through: success closes it, failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | undefined;
  private probing = false;
  constructor(
    private readonly opts: BreakerOptions,
    private readonly clock: () => number = Date.now,
  ) {}

  get state(): 'CLOSED' | 'OPEN' | 'HALF_OPEN' {
    if (this.openedAt === undefined) return 'CLOSED';
    return this.clock() - this.openedAt >= this.opts.openMs ? 'HALF_OPEN' : 'OPEN';
  }

  /** Seconds until the next probe may go through (0 when closed). */
  retryAfterSeconds(): number {
    if (this.openedAt === undefined) return 0;
    return Math.max(1, Math.ceil((this.openedAt + this.opts.openMs - this.clock()) / 1000));
  }

  /** True when a call may go through now; in HALF_OPEN only one probe at a time. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'CLOSED') return true;
    if (s === 'OPEN' || this.probing) return false;
    this.probing = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openedAt = undefined;
    this.probing = false;
  }

  failure(): void {
    this.probing = false;
    this.failures++;
    if (this.openedAt !== undefined || this.failures >= this.opts.failureThreshold) this.openedAt = this.clock();
  }
}

const settled = (o: ChargeOutcome): o is Extract<ChargeOutcome, { status: 'succeeded' | 'declined' }> =>
  o.status === 'succeeded' || o.status === 'declined';

/**
 * Charges through an ordered list of gateways. The next gateway is tried only when
 * the current one is known not to have charged: it answered `unavailable`, its circuit
 * is open, or — after an unknown outcome and one retry with the same idempotency
 * key — its lookup proves nothing was (or can any more be) charged. Otherwise the
 * outcome stays `unknown` and reconciliation settles it: never two charges.
 */
export class GatewayRouter implements PaymentGateway {
  readonly members: readonly PaymentGateway[];
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    gateways: PaymentGateway[],
    breaker: BreakerOptions,
    private readonly log?: Logger,
    clock?: () => number,
  ) {
    if (gateways.length === 0) throw new Error('GatewayRouter needs at least one gateway');
    this.members = gateways;
    for (const g of gateways) this.breakers.set(g.name, new CircuitBreaker(breaker, clock));
  }

  /** The primary gateway's name: what a new attempt is recorded with until it settles. */
  get name(): string {
    return this.members[0].name;
  }

  breaker(name: string): CircuitBreaker | undefined {
    return this.breakers.get(name);
  }

  async charge(req: ChargeRequest): Promise<ChargeOutcome> {
    let retryAfter = 0;
    const reasons: string[] = [];
    for (const g of this.members) {
      const breaker = this.breakers.get(g.name)!;
      if (!breaker.tryAcquire()) {
        retryAfter = retryAfter === 0 ? breaker.retryAfterSeconds() : Math.min(retryAfter, breaker.retryAfterSeconds());
        reasons.push(`${g.name}: circuit open`);
        continue;
      }
      let o = await this.call(g, req);
      if (o.status === 'unknown') {
        // Same idempotency key once more: the gateway replays the first answer or,
        // if the first request never got through, processes this one. Never two charges.
        o = await this.call(g, req);
        // "Unavailable" now says nothing about the first request, which may have charged:
        // only the lookup below can clear the way to the next gateway.
        if (o.status === 'unavailable') o = { status: 'unknown', message: o.message };
      }
      if (o.status === 'unknown') {
        const rec = await this.ask(g, req);
        if (rec === 'cannot-tell') {
          breaker.failure();
          this.log?.warn({ gateway: g.name, orderId: req.orderId }, 'payment outcome unknown; left for reconciliation, no failover');
          return o;
        }
        if (rec) o = rec;
        else o = { status: 'unavailable', message: `${g.name} did not charge (confirmed by lookup)` };
      }
      if (settled(o)) {
        breaker.success();
        return { ...o, gateway: g.name };
      }
      breaker.failure();
      reasons.push(`${g.name}: ${o.message}`);
      if (o.retryAfterSeconds) retryAfter = retryAfter === 0 ? o.retryAfterSeconds : Math.min(retryAfter, o.retryAfterSeconds);
      this.log?.warn({ gateway: g.name, orderId: req.orderId, reason: o.message }, 'payment gateway unavailable; trying the next one');
    }
    return {
      status: 'unavailable',
      message: `No payment gateway is available right now; nothing was charged (${reasons.join('; ')})`,
      retryAfterSeconds: retryAfter || 5,
    };
  }

  /** Asks every gateway (the attempt may have been charged by any of them). */
  async lookup(req: ChargeRequest, now?: Date) {
    let unknown: unknown;
    for (const g of this.members) {
      try {
        if (!g.lookup) throw new Error(`${g.name} cannot look up charges`);
        const rec = await g.lookup(req, now);
        if (rec) return { ...rec, gateway: g.name };
      } catch (err) {
        unknown = err;
      }
    }
    if (unknown) throw unknown;
    return undefined;
  }

  private async call(g: PaymentGateway, req: ChargeRequest): Promise<ChargeOutcome> {
    try {
      return await g.charge(req);
    } catch (err) {
      this.log?.warn({ err, gateway: g.name }, 'payment gateway adapter threw; outcome unknown');
      return { status: 'unknown', message: `${g.name} did not answer` };
    }
  }

  private async ask(g: PaymentGateway, req: ChargeRequest) {
    if (!g.lookup) return 'cannot-tell' as const;
    try {
      return await g.lookup(req);
    } catch (err) {
      this.log?.warn({ err, gateway: g.name }, 'payment lookup failed');
      return 'cannot-tell' as const;
    }
  }
}
