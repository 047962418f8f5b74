// The stock ticker (InventoryCache.watch): bursts coalesce to at most one push per window,
// leading and trailing edge, ending on the newest value; and a push that ran late (the event
// loop busy) does not make the next change wait longer.
import { describe, expect, it } from 'vitest';
import { InventoryCache } from '../src/domain/inventory/cache.js';
import type { InventorySnapshot } from '../src/domain/events.js';

const snap = (version: number): InventorySnapshot => ({
  productId: 'p',
  totalQuantity: 100,
  availableQuantity: 100 - version,
  reservedQuantity: version,
  soldQuantity: 0,
  version,
  updatedAt: new Date(0).toISOString(),
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const busy = (until: number) => {
  while (Date.now() < until) {
    // the event loop is held, as by a long fan-out
  }
};

describe('stock ticker', () => {
  it('coalesces a burst: the first change at once, the rest once at the end of the window, on the newest value', async () => {
    const cache = new InventoryCache(100);
    const seen: number[] = [];
    cache.watch('p', (s) => seen.push(s.version));
    cache.offer(snap(1));
    expect(seen).toEqual([1]);
    for (let v = 2; v <= 50; v++) cache.offer(snap(v));
    expect(seen).toEqual([1]);
    await sleep(150);
    expect(seen).toEqual([1, 50]);
  });

  it('counts the next window from when a late push was due, not from when it ran', async () => {
    const cache = new InventoryCache(100);
    const seen: number[] = [];
    cache.watch('p', (s) => seen.push(s.version));
    const t0 = Date.now();
    cache.offer(snap(1)); // pushed at once: the window runs to t0 + 100
    cache.offer(snap(2)); // due at t0 + 100
    busy(t0 + 160); // the timer can only run at ~t0 + 160
    await sleep(5);
    expect(seen).toEqual([1, 2]);
    // A change one window after the due time is pushed at once. Counting from the late run
    // (t0 + 160), it would have waited until t0 + 260.
    await sleep(Math.max(0, t0 + 205 - Date.now()));
    cache.offer(snap(3));
    expect(seen).toEqual([1, 2, 3]);
  });
});
