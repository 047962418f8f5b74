/**
 * The stock gate: admits or refuses each reserve attempt atomically before it may
 * touch Postgres, and stamps admitted ones with an arrival sequence number.
 *
 * Two implementations share one decision table (`decide` below, mirrored line for
 * line by `adapters/redis/lua/reserve-many.lua`) and one contract suite
 * (`test/gate.contract.test.ts`): the in-process gate (embedded default) and the
 * Redis Lua gate.
 */
export interface GateSnapshot {
  productId: string;
  /** Units the gate may still admit (Postgres `available_quantity`). */
  stock: number;
  /** Highest sequence already handed out for this product. */
  sequence: number;
  startsAtMs: number;
  /** -1 when the sale has no end. */
  endsAtMs: number;
  perUserLimit: number;
  /** Units each shopper holds or bought (ACTIVE, CHECKED_OUT, PURCHASED). */
  held: Record<string, number>;
}

export interface AdmitAttempt {
  productId: string;
  userId: string;
  quantity: number;
  nowMs: number;
  /** The id the reservation will get if admitted; remembered with the idempotency key. */
  reservationId: string;
  idempotencyKey?: string;
}

export type GateDecision =
  /**
   * `stored`, when present, must be called once Postgres has kept or refused the admission: the
   * Postgres fallback counts its admissions until then, so a rebuild of the gate waits for them.
   */
  | { outcome: 'ADMITTED'; sequence: number; stored?: () => void }
  /** The same shopper already reserved with this idempotency key. */
  | { outcome: 'REPEATED'; reservationId: string; sequence: number }
  | { outcome: 'NOT_STARTED' }
  | { outcome: 'ENDED' }
  | { outcome: 'LIMIT_EXCEEDED'; limit: number }
  | { outcome: 'SOLD_OUT'; left: number }
  /** The gate holds nothing for this product: load it from Postgres, then ask again. */
  | { outcome: 'UNKNOWN_PRODUCT' };

export interface StockGate {
  readonly kind: 'memory' | 'redis';
  admit(attempt: AdmitAttempt): Promise<GateDecision>;
  /**
   * Gives a shopper's units back: their per-user count always, the stock when `restoreStock`.
   * `admitted`: the sequence of an admission Postgres never stored (refused, or failed to store),
   * handed back; what the gate has had set from Postgres's numbers since (see `takeOver`) already
   * counts it as not taken and is left alone. Without it (a stored hold released or expired), the
   * units always go back.
   */
  release(productId: string, userId: string, quantity: number, restoreStock: boolean, admitted?: number): Promise<void>;
  /** Forgets an idempotency key whose admission Postgres did not keep, so a retry can go through. */
  forget(productId: string, userId: string, idempotencyKey: string): Promise<void>;
  /**
   * Takes over an idempotency key whose admission `reservationId` was never stored (its process
   * died): forgets the key only while it still names that admission, and gives its `quantity`
   * back (the stock and the shopper's count), unless the gate has since been set from Postgres's
   * numbers (a load, a reconciliation, a merge that took Postgres's stock), which already count
   * them as not taken. True when it took the key over; false when the key names another
   * admission, is gone, or the gate cannot be reached.
   */
  takeOver(productId: string, userId: string, idempotencyKey: string, reservationId: string, quantity: number): Promise<boolean>;
  /**
   * Whether an attempt with this idempotency key may already have been admitted for this shopper and
   * product: false only when the gate knows none was (a plain read, nothing changes). A gate that
   * cannot tell (Redis unreachable) answers true, so the caller takes the full path.
   */
  mayRepeat(productId: string, userId: string, idempotencyKey: string, nowMs: number): Promise<boolean>;
  /** Loads a product's state; unless `force`, only when the gate has none yet. Returns whether it wrote. */
  load(snapshot: GateSnapshot, force: boolean): Promise<boolean>;
  /**
   * Moves a product's sale window (an operator ended or rescheduled the sale), leaving its stock, sequence and
   * holders as they are. A product the gate does not hold is left alone: it loads from Postgres.
   */
  setWindow(productId: string, startsAtMs: number, endsAtMs: number): Promise<void>;
  /**
   * Says a stock change is under way (`setStock`, before its commit): a shared gate's reconciliation
   * leaves the product alone until `adjustStock` ends it (or the mark runs out), so a pass between
   * the commit and the adjustment cannot count the change twice.
   */
  beginAdjust(productId: string): Promise<void>;
  /**
   * Ends a stock change begun by `beginAdjust`, moving the product's stock by `delta` (what Postgres
   * committed; 0 when nothing was), never below 0, leaving its sequence, window and holders as they
   * are. A product the gate does not hold is left alone: it loads from Postgres.
   */
  adjustStock(productId: string, delta: number): Promise<void>;
  /** What this process knows without a round trip: the product is sold out. */
  knownSoldOut(productId: string): boolean;
  /** Tells this process the latest available count (from pub/sub), to set or clear the sold-out flag. */
  noteStock(productId: string, available: number): void;
  close(): Promise<void>;
}

/** How long an admitted idempotency key is remembered. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

export interface GateProductState {
  stock: number;
  sequence: number;
  startsAtMs: number;
  endsAtMs: number;
  perUserLimit: number;
}

/**
 * The decision table, in order. The Lua script implements exactly these rows.
 * 1. sale not started  2. sale ended  3. per-user limit  4. stock  5. admit.
 * (Unknown product and a remembered idempotency key are answered before it.)
 */
export function decide(
  state: GateProductState,
  heldByUser: number,
  quantity: number,
  nowMs: number,
): Exclude<GateDecision, { outcome: 'REPEATED' } | { outcome: 'UNKNOWN_PRODUCT' } | { outcome: 'ADMITTED' }> | { outcome: 'ADMIT' } {
  if (nowMs < state.startsAtMs) return { outcome: 'NOT_STARTED' };
  if (state.endsAtMs >= 0 && nowMs >= state.endsAtMs) return { outcome: 'ENDED' };
  if (heldByUser + quantity > state.perUserLimit) return { outcome: 'LIMIT_EXCEEDED', limit: state.perUserLimit };
  if (state.stock < quantity) return { outcome: 'SOLD_OUT', left: state.stock };
  return { outcome: 'ADMIT' };
}
