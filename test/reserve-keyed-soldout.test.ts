// A keyed reserve of a product this process knows is sold out (src/domain/cart/reserve.ts
// keyedSoldOut): answered SoldOut after one plain read of the key's gate entry, without the gate's
// script, unless the key stands for an earlier success, which is answered as before. Both backends.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseReservation } from '../src/domain/cart/reserve.js';
import { BACKENDS } from './support/backends.js';
import { type Harness, harness, RESERVE } from './support/harness.js';

describe.each(BACKENDS)('keyed reserves of a sold-out product on %s', (backend) => {
  const tag = backend.replace(/[^a-z]/g, '-');
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Counts the gate's admissions and key reads from here on (the real gate, observed). */
  function watchGate() {
    const gate = h.backend.runtime.deps.gate;
    const seen = { admit: 0, mayRepeat: 0 };
    const admit = gate.admit.bind(gate);
    const mayRepeat = gate.mayRepeat.bind(gate);
    gate.admit = (a) => (seen.admit++, admit(a));
    gate.mayRepeat = (...args) => (seen.mayRepeat++, mayRepeat(...args));
    return {
      seen,
      stop() {
        gate.admit = admit;
        gate.mayRepeat = mayRepeat;
      },
    };
  }

  it('answers SoldOut for a new key without the gate, the earlier success for a repeated key, bad input as bad input', async () => {
    const { id } = await h.product({ totalQuantity: 2, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1 } });
    const [ta, tb, tc] = await Promise.all(['ks-a', 'ks-b', 'ks-c'].map((s) => h.token(`${s}-${tag}`)));
    const a = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-a-0001' } }, ta);
    const b = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-b-0001' } }, tb);
    expect([a.data?.reserve.__typename ?? JSON.stringify(a.errors), b.data?.reserve.__typename ?? JSON.stringify(b.errors)]).toEqual(['ReserveSuccess', 'ReserveSuccess']);
    expect(h.backend.runtime.deps.gate.knownSoldOut(id)).toBe(true);

    const watch = watchGate();
    try {
      // A new key: SoldOut, from one key read; the gate admits nothing.
      const c = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-c-0001' } }, tc);
      expect(c.data?.reserve).toEqual({ __typename: 'SoldOut', code: 'SOLD_OUT', message: expect.any(String), productId: id });
      expect(watch.seen).toEqual({ admit: 0, mayRepeat: 1 });
      // A's retry with its key: the reservation it was given, not SoldOut (the gate's script answers it).
      const again = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-a-0001' } }, ta);
      expect(again.data?.reserve.__typename).toBe('ReserveSuccess');
      expect(again.data?.reserve.reservation.id).toBe(a.data?.reserve.reservation.id);
      expect(watch.seen).toEqual({ admit: 1, mayRepeat: 2 });
      // The same key from another shopper is another attempt: SoldOut.
      const other = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-a-0001' } }, tc);
      expect(other.data?.reserve.__typename).toBe('SoldOut');
      // Bad input is still bad input, and reads nothing.
      const bad = await h.gql(RESERVE, { input: { productId: id, quantity: 0, idempotencyKey: 'key-c-0002' } }, tc);
      expect(bad.data?.reserve).toMatchObject({ __typename: 'InvalidInput', field: 'quantity' });
      expect(watch.seen.mayRepeat).toBe(3);
    } finally {
      watch.stop();
    }
    expect(await h.ledger(id)).toEqual({ total: 2, available: 0, reserved: 2, sold: 0 });

    // Stock comes back: the flag clears and a keyed reserve takes the unit through the gate.
    const released = await releaseReservation(h.backend.runtime.deps, { userId: `ks-b-${tag}`, roles: [] }, b.data?.reserve.reservation.id);
    expect(released.__typename).toBe('ReleaseSuccess');
    const c2 = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-c-0003' } }, tc);
    expect(c2.data?.reserve.__typename).toBe('ReserveSuccess');
  });

  it('takes the full path when the gate cannot tell', async () => {
    const { id } = await h.product({ totalQuantity: 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1 } });
    const [ta, tb] = await Promise.all(['kf-a', 'kf-b'].map((s) => h.token(`${s}-${tag}`)));
    expect((await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-f-0001' } }, ta)).data?.reserve.__typename).toBe('ReserveSuccess');
    const gate = h.backend.runtime.deps.gate;
    const mayRepeat = gate.mayRepeat;
    const watch = watchGate();
    // The key read fails: the attempt goes to the gate's script, which answers it.
    gate.mayRepeat = () => Promise.reject(new Error('read failed'));
    try {
      const b = await h.gql(RESERVE, { input: { productId: id, idempotencyKey: 'key-f-0002' } }, tb);
      expect(b.data?.reserve.__typename).toBe('SoldOut');
      expect(watch.seen.admit).toBe(1);
    } finally {
      gate.mayRepeat = mayRepeat;
      watch.stop();
    }
  });
});
