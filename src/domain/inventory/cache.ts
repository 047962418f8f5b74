import type { InventorySnapshot } from '../events.js';

type Watcher = (s: InventorySnapshot) => void;

interface Ticker {
  watchers: Set<Watcher>;
  lastPushAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The in-memory copy of every product's stock that reads are served from, fed by
 * stock events (this process's and, over Redis, every other's). Out-of-order events
 * are harmless: the snapshot with the highest version wins.
 *
 * It is also the process's stock ticker: `watch()` tells a listener about a product's
 * newest snapshot at most once per `coalesceMs` (leading and trailing edge), so a
 * burst of a thousand reserves costs each screen a handful of updates, always
 * ending on the latest count.
 */
export class InventoryCache {
  private byId = new Map<string, InventorySnapshot>();
  private tickers = new Map<string, Ticker>();

  constructor(private readonly coalesceMs = 100) {}

  get(productId: string): InventorySnapshot | undefined {
    return this.byId.get(productId);
  }

  /** Product ids held in memory (refreshed from Postgres after a pub/sub outage). */
  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Keeps `s` if it is newer than what is held; returns whether it was. */
  offer(s: InventorySnapshot): boolean {
    const held = this.byId.get(s.productId);
    if (held && held.version >= s.version) return false;
    this.byId.set(s.productId, s);
    this.changed(s.productId);
    return true;
  }

  forget(productId: string): void {
    this.byId.delete(productId);
  }

  /** Calls `watcher` with the product's newest snapshot after changes, coalesced. Returns an unwatch function. */
  watch(productId: string, watcher: Watcher): () => void {
    let t = this.tickers.get(productId);
    if (!t) this.tickers.set(productId, (t = { watchers: new Set(), lastPushAt: 0 }));
    t.watchers.add(watcher);
    return () => {
      t!.watchers.delete(watcher);
      if (t!.watchers.size === 0 && this.tickers.get(productId) === t) {
        if (t!.timer) clearTimeout(t!.timer);
        this.tickers.delete(productId);
      }
    };
  }

  /** How many listeners are watching (metrics). */
  watcherCount(): number {
    let n = 0;
    for (const t of this.tickers.values()) n += t.watchers.size;
    return n;
  }

  private changed(productId: string): void {
    const t = this.tickers.get(productId);
    if (!t || t.timer) return;
    const now = Date.now();
    const due = t.lastPushAt + this.coalesceMs;
    if (due <= now) this.push(productId, t, now);
    else t.timer = setTimeout(() => this.push(productId, t, due), due - now);
  }

  /**
   * `at` is when the push was due, not when it ran: a timer that fires late (the event loop
   * busy with the last fan-out) must not push the next window later too. Counting from the
   * late run, a change arriving once per window waited a little longer each time, until it
   * waited nearly a whole window (about half a window on average).
   */
  private push(productId: string, t: Ticker, at: number): void {
    t.timer = undefined;
    t.lastPushAt = at;
    const s = this.byId.get(productId);
    if (!s) return;
    for (const w of [...t.watchers]) {
      try {
        w(s);
      } catch {
        // One broken listener must not starve the others.
      }
    }
  }
}
