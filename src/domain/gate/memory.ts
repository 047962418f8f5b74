import { type AdmitAttempt, decide, type GateDecision, type GateProductState, type GateSnapshot, IDEMPOTENCY_TTL_SECONDS, type StockGate } from './port.js';

interface Remembered {
  reservationId: string;
  sequence: number;
  expiresAtMs: number;
}

/** A product's gate; `healed`: the sequence it was last loaded at (its numbers were Postgres's). */
type Product = GateProductState & { held: Map<string, number>; healed: number };

/**
 * The in-process gate of the embedded default: one process, so a Map and the
 * shared decision table are atomic by construction (no await between read and write).
 */
export class MemoryGate implements StockGate {
  readonly kind = 'memory' as const;
  private products = new Map<string, Product>();
  private remembered = new Map<string, Remembered>();

  private idemKey(productId: string, userId: string, key: string) {
    return `${productId}\u0000${userId}\u0000${key}`;
  }

  async admit(a: AdmitAttempt): Promise<GateDecision> {
    const p = this.products.get(a.productId);
    if (!p) return { outcome: 'UNKNOWN_PRODUCT' };
    const idem = a.idempotencyKey ? this.idemKey(a.productId, a.userId, a.idempotencyKey) : undefined;
    if (idem) {
      const prev = this.remembered.get(idem);
      if (prev && prev.expiresAtMs > a.nowMs) {
        return { outcome: 'REPEATED', reservationId: prev.reservationId, sequence: prev.sequence };
      }
    }
    const held = p.held.get(a.userId) ?? 0;
    const d = decide(p, held, a.quantity, a.nowMs);
    if (d.outcome !== 'ADMIT') return d;
    p.stock -= a.quantity;
    p.sequence += 1;
    p.held.set(a.userId, held + a.quantity);
    if (idem) {
      if (this.remembered.size >= 100_000) this.pruneRemembered(a.nowMs);
      this.remembered.set(idem, {
        reservationId: a.reservationId,
        sequence: p.sequence,
        expiresAtMs: a.nowMs + IDEMPOTENCY_TTL_SECONDS * 1000,
      });
    }
    return { outcome: 'ADMITTED', sequence: p.sequence };
  }

  async mayRepeat(productId: string, userId: string, key: string, nowMs: number): Promise<boolean> {
    const prev = this.remembered.get(this.idemKey(productId, userId, key));
    return !!prev && prev.expiresAtMs > nowMs;
  }

  /** Drops expired idempotency keys so the map stays bounded by a day's worth of keyed admissions. */
  private pruneRemembered(nowMs: number) {
    for (const [k, v] of this.remembered) if (v.expiresAtMs <= nowMs) this.remembered.delete(k);
  }

  async release(productId: string, userId: string, quantity: number, restoreStock: boolean, admitted?: number): Promise<void> {
    const p = this.products.get(productId);
    if (!p || (admitted !== undefined && admitted <= p.healed)) return;
    if (restoreStock) p.stock += quantity;
    const left = (p.held.get(userId) ?? 0) - quantity;
    if (left > 0) p.held.set(userId, left);
    else p.held.delete(userId);
  }

  async forget(productId: string, userId: string, idempotencyKey: string): Promise<void> {
    this.remembered.delete(this.idemKey(productId, userId, idempotencyKey));
  }

  async takeOver(productId: string, userId: string, idempotencyKey: string, reservationId: string, quantity: number): Promise<boolean> {
    const k = this.idemKey(productId, userId, idempotencyKey);
    const r = this.remembered.get(k);
    if (r?.reservationId !== reservationId) return false;
    this.remembered.delete(k);
    // A hand-back of that admission: nothing when a load since has counted it already.
    await this.release(productId, userId, quantity, true, r.sequence);
    return true;
  }

  async load(s: GateSnapshot, force: boolean): Promise<boolean> {
    const existing = this.products.get(s.productId);
    if (existing && !force) return false;
    const sequence = Math.max(s.sequence, existing?.sequence ?? 0);
    this.products.set(s.productId, {
      stock: s.stock,
      sequence,
      healed: sequence,
      startsAtMs: s.startsAtMs,
      endsAtMs: s.endsAtMs,
      perUserLimit: s.perUserLimit,
      held: new Map(Object.entries(s.held)),
    });
    return true;
  }

  async setWindow(productId: string, startsAtMs: number, endsAtMs: number): Promise<void> {
    const p = this.products.get(productId);
    if (!p) return;
    p.startsAtMs = startsAtMs;
    p.endsAtMs = endsAtMs;
  }

  async beginAdjust(): Promise<void> {
    // One process, no reconciliation: nothing can come between the commit and the adjustment's effect.
  }

  async adjustStock(productId: string, delta: number): Promise<void> {
    const p = this.products.get(productId);
    if (p) p.stock = Math.max(0, p.stock + delta);
  }

  knownSoldOut(productId: string): boolean {
    const p = this.products.get(productId);
    return p !== undefined && p.stock <= 0;
  }

  noteStock(): void {
    // The in-process gate is the stock count itself; nothing to learn.
  }

  async close(): Promise<void> {}
}
