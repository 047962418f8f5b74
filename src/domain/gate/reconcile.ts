import { gt, isNull, or } from 'drizzle-orm';
import { products } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { announceStock, gateSnapshot, getProduct } from '../inventory/products.js';
import type { GateSnapshot, StockGate } from './port.js';
import { type GateInspector, ResilientGate } from './resilient.js';

/**
 * Gate reconciliation: brings the shared gate back in line with Postgres (the truth).
 *
 * - The gate holds MORE than Postgres has (it would admit what Postgres must refuse):
 *   lowered at once. Never unsafe: admitting less is always allowed.
 * - The gate holds LESS (stock handed back by a commit whose gate release was lost, an
 *   admission whose request died before Postgres stored it): raised only once the
 *   product's gate has not moved for `settleMs`, so no admission can still be on its way
 *   to Postgres, and only if it still has not moved (compare-and-set). Shoppers' counts
 *   are reloaded from Postgres at the same time.
 */
export interface ReconcileOptions {
  settleMs: number;
  /** Only these products (an on-demand pass); all products still on sale otherwise. */
  productIds?: string[];
}

export interface ReconcileReport {
  checked: number;
  lowered: number;
  raised: number;
}

/** Per-process memory of what the gate looked like at the previous pass. */
export type ReconcileMemo = Map<string, { stock: number; sequence: number; at: number }>;

export function inspectorOf(gate: StockGate): GateInspector | undefined {
  return gate instanceof ResilientGate && gate.mode === 'up' ? gate.inspector : undefined;
}

export async function reconcileGate(deps: Deps, opts: ReconcileOptions, memo: ReconcileMemo): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, lowered: 0, raised: 0 };
  const inspector = inspectorOf(deps.gate);
  if (!inspector) return report;
  const now = deps.now();
  const ids =
    opts.productIds ??
    (await deps.db.select({ id: products.id }).from(products).where(or(isNull(products.endsAt), gt(products.endsAt, now)))).map((r) => r.id);
  for (const id of ids) {
    // Gate first, then Postgres: an admission between the two reads makes the gate look
    // lower (never higher) than it is; its compare-and-set then fails on the moved sequence.
    const g = await inspector.peek(id);
    if (!g) {
      memo.delete(id);
      continue;
    }
    const row = await getProduct(deps.db, id);
    if (!row) continue;
    report.checked++;
    if (g.stock > row.availableQuantity) {
      if ((await inspector.correct(id, g, row.availableQuantity)) === 'DONE') {
        report.lowered++;
        deps.log.warn({ productId: id, gate: g.stock, postgres: row.availableQuantity }, 'gate held more than Postgres; lowered');
      }
      memo.delete(id);
    } else if (g.stock < row.availableQuantity) {
      const seen = memo.get(id);
      if (seen && seen.stock === g.stock && seen.sequence === g.sequence && Date.now() - seen.at >= opts.settleMs) {
        const snap = await gateSnapshot(deps.db, row);
        if ((await inspector.correct(id, g, snap.stock, snap.held)) === 'DONE') {
          report.raised++;
          deps.log.info({ productId: id, gate: g.stock, postgres: snap.stock }, 'gate held less than Postgres; units given back');
          // Postgres did not change, so no stock event says so: re-announce its stock, or the
          // processes that saw the gate empty keep answering SoldOut from their sold-out flag.
          await announceStock(deps, row);
        }
        memo.delete(id);
      } else if (!seen || seen.stock !== g.stock || seen.sequence !== g.sequence) {
        memo.set(id, { ...g, at: Date.now() });
      }
    } else {
      memo.delete(id);
    }
  }
  return report;
}

/** How a rebuild writes one product into a shared gate. */
export interface GateRebuilder {
  /** Writes the snapshot when the gate holds nothing for the product; false (nothing written) when it does. */
  load(snapshot: GateSnapshot): Promise<boolean>;
  /**
   * Folds the snapshot into a gate that holds the product, never raising what it may admit
   * (RedisGate.merge); false when the gate holds nothing after all.
   */
  merge(snapshot: GateSnapshot): Promise<boolean>;
}

/**
 * Rebuilds the gate from Postgres for every product still on sale (after the gate's store came
 * back). An empty store (Redis restarted) is loaded. A product's gate that is already there (another
 * process rebuilt it first, or Redis kept its state through a partition) is never overwritten: the
 * snapshot was read before, and other processes may have admitted through the gate since; it is
 * merged (the lower stock, the higher sequence and counts), and the reconciler raises it later if
 * it stands below Postgres.
 */
export async function rebuildGate(deps: Pick<Deps, 'db' | 'now'>, gate: GateRebuilder): Promise<number> {
  const now = deps.now();
  const rows = await deps.db.select().from(products).where(or(isNull(products.endsAt), gt(products.endsAt, now)));
  for (const row of rows) {
    const snap = await gateSnapshot(deps.db, row);
    // Loaded, merged, or (gone again between the two: flushed) loaded after all.
    if (!(await gate.load(snap)) && !(await gate.merge(snap))) await gate.load(snap);
  }
  return rows.length;
}
