import { sql } from 'drizzle-orm';
import { type Db, rowsOf } from '../../adapters/db/client.js';
import { type AdmitAttempt, decide, type GateDecision } from './port.js';

/**
 * Admission through Postgres alone, used while the Redis gate is unreachable
 * (GATE_FALLBACK=postgres). It answers the same decision table from the product row;
 * it holds no stock of its own: the conditional update in `reserve` is what refuses
 * an oversell, so a wrong "admit" here costs one refused update, never a unit.
 * Sequence numbers come from the `gate_sequences` counter row (bumped under its row
 * lock), started above every sequence already stored, so they stay unique and increasing.
 */
/**
 * The first fallback sequence of an outage jumps this far above the stored ones, so it
 * stays clear of admissions the Redis gate handed out just before it went away and that
 * are still being stored. Gaps are harmless: sequences are unique and increasing, not dense.
 * A rebuild that loads a Redis gate lost with its state jumps as far, for the same reason.
 */
export const SYNC_GAP = 10_000;

export class PostgresAdmission {
  /** Products whose counter was lifted above the stored sequences during this outage. */
  private synced = new Set<string>();

  constructor(private readonly db: Db) {}

  /** Called when an outage begins: the Redis gate may have handed out sequences since the last sync. */
  resync(): void {
    this.synced.clear();
  }

  async admit(a: AdmitAttempt): Promise<GateDecision> {
    const [p] = rowsOf<{ available: number; starts_at: Date | string; ends_at: Date | string | null; per_user_limit: number }>(
      await this.db.execute(sql`
        select available_quantity as available, starts_at, ends_at, per_user_limit
        from products where id = ${a.productId}`),
    );
    if (!p) return { outcome: 'UNKNOWN_PRODUCT' };
    if (a.idempotencyKey) {
      const [prev] = rowsOf<{ id: string; sequence: number }>(
        await this.db.execute(sql`
          select id, sequence from reservations
          where user_id = ${a.userId} and idempotency_key = ${a.idempotencyKey} and product_id = ${a.productId}`),
      );
      if (prev) return { outcome: 'REPEATED', reservationId: prev.id, sequence: Number(prev.sequence) };
    }
    const state = {
      stock: Number(p.available),
      sequence: 0,
      startsAtMs: new Date(p.starts_at).getTime(),
      endsAtMs: p.ends_at === null ? -1 : new Date(p.ends_at).getTime(),
      perUserLimit: Number(p.per_user_limit),
    };
    // The per-user limit is checked by the conditional update itself (under the cart lock).
    const d = decide(state, 0, a.quantity, a.nowMs);
    if (d.outcome !== 'ADMIT') return d;
    return { outcome: 'ADMITTED', sequence: await this.nextSequence(a.productId) };
  }

  private async nextSequence(productId: string): Promise<number> {
    const first = !this.synced.has(productId);
    const stored = sql`(select coalesce(max(sequence), 0) from reservations where product_id = ${productId})`;
    const [row] = rowsOf<{ last: number }>(
      await this.db.execute(
        first
          ? sql`insert into gate_sequences (product_id, last) values (${productId}, ${stored} + ${SYNC_GAP})
                on conflict (product_id) do update set last = greatest(gate_sequences.last, ${stored}) + ${SYNC_GAP}
                returning last`
          : sql`insert into gate_sequences (product_id, last) values (${productId}, ${stored} + 1)
                on conflict (product_id) do update set last = gate_sequences.last + 1
                returning last`,
      ),
    );
    this.synced.add(productId);
    return Number(row.last);
  }
}

/** The highest sequence the Postgres fallback handed out for a product (0 if none). */
export async function fallbackSequence(db: Db, productId: string): Promise<number> {
  const [row] = rowsOf<{ last: number }>(await db.execute(sql`select last from gate_sequences where product_id = ${productId}`));
  return row ? Number(row.last) : 0;
}
