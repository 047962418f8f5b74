import type { Logger } from 'pino';
import { RetryableError } from '../context.js';
import type { AdmitAttempt, GateDecision, GateSnapshot, StockGate } from './port.js';
import type { PostgresAdmission } from './postgres.js';

/** What the reconciler needs from a shared gate: look at a product, and correct it if unchanged. */
export interface GateInspector {
  peek(productId: string): Promise<{ stock: number; sequence: number } | undefined>;
  /** Sets the stock (and, when given, every shopper's count) only if stock and sequence are still `expect`. */
  correct(
    productId: string,
    expect: { stock: number; sequence: number },
    stock: number,
    held?: Record<string, number>,
  ): Promise<'DONE' | 'MOVED' | 'MISSING'>;
}

export type GateMode = 'up' | 'down' | 'recovering';

/** Hand-backs kept during an outage at most; later ones are dropped (reconciliation converges the stock, not the counts). */
const MAX_HAND_BACKS = 100_000;

export interface ResilientGateOptions {
  primary: StockGate;
  inspector: GateInspector;
  /** 'postgres': admit through Postgres alone while the primary is down; 'error': answer UNAVAILABLE. */
  fallback: 'postgres' | 'error';
  postgres: PostgresAdmission;
  /** Cheap, no round trip: is the primary's connection ready right now? */
  connected(): boolean;
  /** One round trip with a short timeout: does the primary answer? */
  probe(): Promise<boolean>;
  /** The lowest sequence the primary may hand out next for a product (above the fallback's). */
  sequenceFloor(productId: string): Promise<number>;
  /** Rebuilds the primary from Postgres (every product on sale); runs before the primary is used again. */
  rebuild(): Promise<void>;
  log: Logger;
  probeIntervalMs?: number;
}

/**
 * The Redis gate with a way down and a way back. While Redis answers, every call goes
 * to it. When a call fails (or the connection is known to be gone) the gate goes
 * `down`: admissions go through Postgres alone or are refused as retryable, and
 * releases of stored holds are dropped (the rebuild restores them). A probe runs until Redis
 * answers again; then, once this process's fallback admissions have drained, the gate is
 * rebuilt from Postgres, the hand-backs it could not take meanwhile are given to it, and it
 * goes back `up`. The gate may admit less than Postgres has, never knowingly more; Postgres's
 * conditional update refuses anything else.
 */
export class ResilientGate implements StockGate {
  readonly kind = 'redis' as const;
  private state: GateMode = 'up';
  private inFlight = 0;
  private closed = false;
  private probing?: Promise<void>;
  private listeners = new Set<(mode: GateMode) => void>();
  /** Fallback admissions not yet stored or refused, as `productId sequence` (their hand-backs are not the primary's). */
  private fallbackAdmitted = new Set<string>();
  /**
   * Hand-backs of the primary's admissions that Postgres never stored, which the primary could not
   * take (it was down): given to it after the rebuild. A rebuild merges into a gate Redis kept and
   * keeps each shopper's higher count, so a dropped hand-back would leave the shopper counted for
   * units they never got (refused as over the limit) until a reconciliation raised the gate.
   */
  private handBacks: { productId: string; userId: string; quantity: number; restoreStock: boolean; admitted: number }[] = [];
  private handBacksDropped = 0;
  /** Counts for metrics: admissions answered by the fallback, outages, rebuilds. */
  readonly counts = { fallbackAdmits: 0, outages: 0, rebuilds: 0 };
  /** Called when the gate and Postgres visibly disagree (Postgres refused an admission for lack of stock). */
  onDisagree?: (productId: string) => void;

  constructor(private readonly o: ResilientGateOptions) {}

  get mode(): GateMode {
    return this.state;
  }

  /** Hand-backs kept for the primary until its rebuild (a gauge for operators). */
  get handBacksKept(): number {
    return this.handBacks.length;
  }

  get inspector(): GateInspector {
    return this.o.inspector;
  }

  onModeChange(fn: (mode: GateMode) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private setMode(mode: GateMode) {
    if (this.state === mode) return;
    this.state = mode;
    for (const fn of this.listeners) fn(mode);
  }

  /** Marks the primary down (idempotent) and starts probing for its return. */
  markDown(err?: unknown): void {
    if (this.state === 'down') return;
    const wasUp = this.state === 'up';
    this.setMode('down');
    if (wasUp) {
      this.counts.outages++;
      this.o.postgres.resync();
      this.o.log.warn(
        { err: err instanceof Error ? err.message : err, fallback: this.o.fallback },
        this.o.fallback === 'postgres' ? 'stock gate unreachable: admitting through Postgres alone' : 'stock gate unreachable: refusing reserves as retryable',
      );
    }
    this.probing ??= this.probeLoop().finally(() => (this.probing = undefined));
  }

  private async probeLoop(): Promise<void> {
    const every = this.o.probeIntervalMs ?? 500;
    while (this.state === 'down' && !this.closed) {
      await new Promise((r) => setTimeout(r, every).unref?.());
      if (!(await this.o.probe().catch(() => false))) continue;
      this.setMode('recovering');
      try {
        // Let this process's fallback admissions finish storing first, so the rebuild counts them
        // (at most 5 s: an admission whose caller never says it is stored must not hold Redis back;
        // one the snapshot misses leaves the gate above Postgres, which refuses the extra attempt,
        // and reconciliation lowers it).
        for (let i = 0; i < 100 && this.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 50));
        await this.o.rebuild();
        // Given with the admission's sequence: what the rebuild set from Postgres's numbers is left alone.
        while (this.handBacks.length) {
          const h = this.handBacks[0];
          await this.o.primary.release(h.productId, h.userId, h.quantity, h.restoreStock, h.admitted);
          this.handBacks.shift();
        }
        this.handBacksDropped = 0;
        this.counts.rebuilds++;
        this.setMode('up');
        this.o.log.info('stock gate is back: rebuilt from Postgres');
      } catch (err) {
        this.setMode('down');
        this.o.log.warn({ err: (err as Error).message }, 'stock gate rebuild failed; will retry');
      }
    }
  }

  private usable(): boolean {
    if (this.state === 'up' && !this.o.connected()) this.markDown('connection lost');
    return this.state === 'up';
  }

  async admit(a: AdmitAttempt): Promise<GateDecision> {
    if (this.usable()) {
      try {
        return await this.o.primary.admit(a);
      } catch (err) {
        this.markDown(err);
      }
    }
    if (this.o.fallback === 'error') {
      throw new RetryableError('The stock gate is unavailable; nothing was reserved, try again', { retryAfterSeconds: 1 });
    }
    // Counted until Postgres has kept or refused the admission (the caller's `stored`), not only
    // until it is decided: a rebuild's snapshot must see what the fallback admitted.
    this.inFlight++;
    let handedOver = false;
    try {
      this.counts.fallbackAdmits++;
      const d = await this.o.postgres.admit(a);
      if (d.outcome !== 'ADMITTED') return d;
      handedOver = true;
      let done = false;
      const id = `${a.productId} ${d.sequence}`;
      this.fallbackAdmitted.add(id);
      return {
        ...d,
        stored: () => {
          if (done) return;
          done = true;
          this.inFlight--;
          this.fallbackAdmitted.delete(id);
        },
      };
    } finally {
      if (!handedOver) this.inFlight--;
    }
  }

  /**
   * `call` on the primary while it is usable; `down` when it is not, or when the call fails (the
   * gate then goes down and its probe starts).
   */
  private async onPrimary<T>(down: T, call: (primary: StockGate) => Promise<T>): Promise<T> {
    if (!this.usable()) return down;
    try {
      return await call(this.o.primary);
    } catch (err) {
      this.markDown(err);
      return down;
    }
  }

  async release(productId: string, userId: string, quantity: number, restoreStock: boolean, admitted?: number): Promise<void> {
    if (!restoreStock) this.onDisagree?.(productId);
    const given = await this.onPrimary(false, async (p) => {
      await p.release(productId, userId, quantity, restoreStock, admitted);
      return true;
    });
    // A hand-back of the primary's own admission (not the fallback's, which it never counted) is
    // kept for after the rebuild; a stored hold's release is not (the rebuild counts it from Postgres).
    if (given || admitted === undefined || this.fallbackAdmitted.has(`${productId} ${admitted}`)) return;
    if (this.handBacks.length >= MAX_HAND_BACKS) {
      if (this.handBacksDropped++ === 0) this.o.log.warn({ max: MAX_HAND_BACKS }, 'stock gate unreachable: hand-backs kept up to the limit; later ones are dropped');
      return;
    }
    this.handBacks.push({ productId, userId, quantity, restoreStock, admitted });
  }

  mayRepeat(productId: string, userId: string, key: string, nowMs: number): Promise<boolean> {
    // Not known here during an outage: the full path asks the fallback (Postgres) itself.
    return this.onPrimary(true, (p) => p.mayRepeat(productId, userId, key, nowMs));
  }

  async forget(productId: string, userId: string, idempotencyKey: string): Promise<void> {
    await this.onPrimary(undefined, (p) => p.forget(productId, userId, idempotencyKey));
  }

  takeOver(productId: string, userId: string, idempotencyKey: string, reservationId: string, quantity: number): Promise<boolean> {
    return this.onPrimary(false, (p) => p.takeOver(productId, userId, idempotencyKey, reservationId, quantity));
  }

  async load(snapshot: GateSnapshot, force: boolean): Promise<boolean> {
    if (!this.usable()) return false;
    // The floor is read from Postgres: its failure is the caller's, as the reads before it (a
    // retryable error), never a reason to take Redis for gone and start a fallback and a rebuild.
    const floor = await this.o.sequenceFloor(snapshot.productId);
    return this.onPrimary(false, (p) => p.load({ ...snapshot, sequence: Math.max(snapshot.sequence, floor) }, force));
  }

  async setWindow(productId: string, startsAtMs: number, endsAtMs: number): Promise<void> {
    // During an outage admissions read the window from Postgres, and the rebuild reloads it.
    await this.onPrimary(undefined, (p) => p.setWindow(productId, startsAtMs, endsAtMs));
  }

  async beginAdjust(productId: string): Promise<void> {
    // During an outage there is no shared gate to reconcile; the rebuild reloads it.
    await this.onPrimary(undefined, (p) => p.beginAdjust(productId));
  }

  async adjustStock(productId: string, delta: number): Promise<void> {
    // During an outage admissions read the stock from Postgres. The rebuild's merge keeps the lower
    // of Postgres's stock and one Redis kept: a lowering holds; a raise missed here is given to the
    // gate by reconciliation once it stands still (GATE_RECONCILE_SETTLE_MS).
    await this.onPrimary(undefined, (p) => p.adjustStock(productId, delta));
  }

  knownSoldOut(productId: string): boolean {
    return this.o.primary.knownSoldOut(productId);
  }

  noteStock(productId: string, available: number): void {
    this.o.primary.noteStock(productId, available);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.o.primary.close();
  }
}
