import type { InventorySnapshot } from '../events.js';

/**
 * The in-memory copy of every product's stock that reads are served from, fed by
 * stock events (this process's and, over Redis, every other's). Out-of-order events
 * are harmless: the snapshot with the highest version wins.
 */
export class InventoryCache {
  private byId = new Map<string, InventorySnapshot>();

  get(productId: string): InventorySnapshot | undefined {
    return this.byId.get(productId);
  }

  /** Keeps `s` if it is newer than what is held; returns whether it was. */
  offer(s: InventorySnapshot): boolean {
    const held = this.byId.get(s.productId);
    if (held && held.version >= s.version) return false;
    this.byId.set(s.productId, s);
    return true;
  }

  forget(productId: string): void {
    this.byId.delete(productId);
  }
}
