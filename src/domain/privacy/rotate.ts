import { and, asc, eq, gt, isNotNull, not, like } from 'drizzle-orm';
import { orders } from '../../adapters/db/schema/tables.js';
import { recordAudit } from '../audit.js';
import type { Deps } from '../context.js';
import { resealAddress } from './address.js';

/**
 * One column of sealed values. `rotate` re-seals, in one batch, up to `limit` values
 * still on an old key id and returns how many it changed. Modules that seal data add
 * theirs to SEALED_COLUMNS (notifications adds contact details).
 */
export interface SealedColumn {
  name: string;
  rotate(deps: Deps, limit: number): Promise<number>;
}

export const orderAddresses: SealedColumn = {
  name: 'orders.shipping_address_sealed',
  async rotate(deps, limit) {
    const current = `v1.${deps.keyring.currentId}.%`;
    let changed = 0;
    let after = '00000000-0000-0000-0000-000000000000';
    for (;;) {
      const rows = await deps.db
        .select({ id: orders.id, shippingAddress: orders.shippingAddress, shippingAddressSealed: orders.shippingAddressSealed })
        .from(orders)
        .where(and(isNotNull(orders.shippingAddressSealed), not(like(orders.shippingAddressSealed, current)), gt(orders.id, after)))
        .orderBy(asc(orders.id))
        .limit(limit);
      if (!rows.length) return changed;
      for (const row of rows) {
        const next = resealAddress(deps, row);
        // Only if nobody changed it meanwhile (compare-and-set on the old sealed value).
        if (next) {
          const done = await deps.db
            .update(orders)
            .set({ shippingAddressSealed: next.shippingAddressSealed })
            .where(and(eq(orders.id, row.id), eq(orders.shippingAddressSealed, row.shippingAddressSealed!)))
            .returning({ id: orders.id });
          changed += done.length;
        }
        after = row.id;
      }
    }
  },
};

export const SEALED_COLUMNS: SealedColumn[] = [orderAddresses];

/** Re-seals every value still on an old key with the current key (`npm run rotate-keys`). */
export async function rotateKeys(deps: Deps, batch = 500): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const col of SEALED_COLUMNS) out[col.name] = await col.rotate(deps, batch);
  await recordAudit(deps.db, { actor: 'system:rotate-keys', action: 'keys.rotate', target: deps.keyring.currentId, details: out });
  return out;
}
