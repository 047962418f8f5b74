import type { Deps } from '../context.js';
import type { InventorySnapshot } from '../events.js';
import { assertProductId, type InvalidInput, type NotFound, notFound } from '../results.js';
import { Latest } from '../streams.js';
import { inventoryOf } from './products.js';

/**
 * A product's stock, now and after every change, from this process's in-memory copy
 * (no database query per update): the ticker coalesces bursts to the latest count at
 * most every `coalesceMs`, and a snapshot never goes back to an older version.
 * Ends when `signal` aborts (the client left, or the server is shutting down).
 */
export async function watchStock(
  deps: Deps,
  productId: string,
  signal: AbortSignal,
): Promise<InvalidInput | NotFound | AsyncGenerator<InventorySnapshot>> {
  const bad = assertProductId('productId', productId);
  if (bad) return bad;
  const box = new Latest<InventorySnapshot>();
  // Watch before reading the current value, so no change falls between the two.
  const unwatch = deps.inventory.watch(productId, (s) => box.put(s));
  const now = await inventoryOf(deps, productId).catch((err) => {
    unwatch();
    throw err;
  });
  if (!now) {
    unwatch();
    return notFound('Product');
  }
  const stop = () => {
    box.close();
    unwatch();
  };
  signal.addEventListener('abort', stop, { once: true });
  return (async function* () {
    try {
      let last = now.version;
      yield now;
      for (;;) {
        const next = await box.take();
        if (next === undefined || signal.aborted) return;
        if (next.version <= last) continue;
        last = next.version;
        yield next;
      }
    } finally {
      unwatch();
      signal.removeEventListener('abort', stop);
    }
  })();
}
