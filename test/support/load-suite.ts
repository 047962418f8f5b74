// The load generator played small against an in-process server on a real port:
// the sale must end with nothing oversold, nobody charged twice, first come first served.
// Used by test/load.test.ts (embedded) and test/load.redis.test.ts (Postgres + Redis).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fcfsViolations, formatSummary, runFlashSale } from '../../clients/load/flash-sale.js';
import type { BackendName } from './backends.js';
import { type Harness, harness, TEST_SECRET } from './harness.js';

/** The load generator suite on one backend; one test file per backend keeps each file short. */
export function loadSuite(backend: BackendName) {
  describe(`clients/load flash sale (${backend})`, () => {
    let h: Harness;
    let url: string;
    beforeAll(async () => {
      h = await harness(backend);
      url = `http://127.0.0.1:${await h.app.start(0, '127.0.0.1')}`;
    });
    afterAll(async () => {
      await h?.close();
    });

    // A generous timeout: 300 shoppers on a busy shared 2-core machine (speed is measured in benchmarks, not here).
    it('300 shoppers for 50 units: 0 oversold, 0 duplicate charges, 0 fairness violations', { timeout: 180_000 }, async () => {
      // One backend with the connections opened before the sale, the other with them opened at the opening.
      const s = await runFlashSale({ url, shoppers: 300, stock: 50, secret: TEST_SECRET, concurrency: 32, rampMs: 300, subscribers: 3, preconnect: backend !== 'embedded' });
      const report = formatSummary(s);
      expect(s.failures, report).toEqual([]);
      expect(s.oversold).toBe(0);
      expect(s.duplicateCharges).toBe(0);
      expect(s.fairnessViolations).toBe(0);
      expect(s.inventory.balanced).toBe(true);
      // Every unit was held at least once, the rest were turned away cleanly.
      expect(s.reserveOutcomes.ReserveSuccess).toBeGreaterThanOrEqual(50);
      expect(s.reserveOutcomes.SoldOut).toBeGreaterThan(0);
      expect(Object.keys(s.reserveOutcomes).filter((k) => k.startsWith('error:'))).toEqual([]);
      // What the shoppers saw paid is what the server sold; double clicks never charged again.
      expect(s.inventory.sold).toBe(s.paidUnits);
      expect(s.paidUnits).toBeGreaterThan(0);
      expect(s.payOutcomes.PaymentDeclined ?? 0).toBeGreaterThan(0);
      for (const k of Object.keys(s.repayOutcomes)) expect(['AlreadyPaid', 'PaySuccess']).toContain(k);
      expect(s.latencyMs.reserve.count).toBe(s.attempts);
      expect(s.loadGeneratorLagMs.p50).toBeGreaterThanOrEqual(0);
      expect(s.loadGeneratorLagMs.max).toBeGreaterThanOrEqual(s.loadGeneratorLagMs.p99);
      expect(s.loadGeneratorLagMs.p99).toBeGreaterThanOrEqual(s.loadGeneratorLagMs.p50);
      expect(report).toMatch(/load generator's own event-loop delay/);
      expect(s.subscribers?.lastSeenMatches).toBe(3);
      expect(report).toMatch(/OK: nothing oversold/);
      const ledger = await h.ledger(s.productId);
      expect(ledger.sold).toBe(s.paidUnits);
    });

    it.runIf(backend === 'embedded')('counts a later arrival served while an earlier one was refused with no stock back as unfair', () => {
      const early = { sentAt: 0, doneAt: 10, typename: 'SoldOut' };
      const late = { sentAt: 20, doneAt: 30, typename: 'ReserveSuccess', sequence: 7 };
      expect(fcfsViolations([early, late], [])).toBe(1);
      // A release in flight between the refusal and the later hold explains it.
      expect(fcfsViolations([early, late], [{ sentAt: 25, doneAt: 40 }])).toBe(0);
      expect(fcfsViolations([early, late], [{ sentAt: 1, doneAt: 12 }])).toBe(0);
      // A release that was over before the refusal was even sent does not.
      expect(fcfsViolations([{ ...early, sentAt: 5 }, late], [{ sentAt: 1, doneAt: 3 }])).toBe(1);
      // Nor one sent after the later hold was answered.
      expect(fcfsViolations([early, late], [{ sentAt: 31, doneAt: 35 }])).toBe(1);
      // Once a hold may have expired, order can no longer be judged from outside.
      expect(fcfsViolations([early, late], [], 25)).toBe(0);
      // Overlapping requests cannot be ordered from outside: not counted.
      expect(fcfsViolations([early, { ...late, sentAt: 5 }], [])).toBe(0);
    });
  });
}
