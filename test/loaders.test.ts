// The per-request batch loader behind Order.items, Order.refunds and Order.items' products: keys
// asked in one tick are read with one call, each key once, known keys without a call.
import { describe, expect, it } from 'vitest';
import { batchLoader, loaderOf } from '../src/schema/loaders.js';

describe('batchLoader', () => {
  it('reads the keys asked in one tick with one call, each once; a key left out gets none(); a later tick is a new call', async () => {
    const calls: string[][] = [];
    const load = batchLoader(
      async (keys) => {
        calls.push(keys);
        return new Map(keys.filter((k) => k !== 'gone').map((k) => [k, [k.toUpperCase()]]));
      },
      () => [],
    );
    const first = await Promise.all(['a', 'b', 'a', 'gone'].map(load));
    expect(first).toEqual([['A'], ['B'], ['A'], []]);
    expect(calls).toEqual([['a', 'b', 'gone']]);
    expect(await load('b')).toEqual(['B']);
    expect(calls).toHaveLength(1);
    expect(await Promise.all([load('c'), load('d')])).toEqual([['C'], ['D']]);
    expect(calls).toEqual([['a', 'b', 'gone'], ['c', 'd']]);
  });

  it('answers known keys without a call, and a failed read fails every key of its batch (not the next one)', async () => {
    let fail = true;
    const calls: string[][] = [];
    const load = batchLoader(
      async (keys) => {
        calls.push(keys);
        if (fail) throw new Error('database down');
        return new Map(keys.map((k) => [k, k.length]));
      },
      () => 0,
      (k) => (k === 'cached' ? 99 : undefined),
    );
    expect(await load('cached')).toBe(99);
    expect(calls).toEqual([]);
    const failed = await Promise.allSettled([load('x'), load('yy')]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await load('zzz')).toBe(3);
  });

  it('loaderOf gives one loader per context and name', () => {
    const ctx = {};
    const make = () => batchLoader(async () => new Map<string, number>(), () => 0);
    const a = loaderOf(ctx, 'n', make);
    expect(loaderOf(ctx, 'n', make)).toBe(a);
    expect(loaderOf(ctx, 'm', make)).not.toBe(a);
    expect(loaderOf({}, 'n', make)).not.toBe(a);
  });
});
