// The watchdog's probe against the shared Postgres, which answers: a process whose event loop is
// held up (a long GC, a CPU-bound stretch) must not take that for a hung server and cut its
// connections. The server that really stops answering: test/postgres-hang.test.ts.
import { describe, expect, it } from 'vitest';
import { PostgresWatchdog } from '../src/adapters/db/watchdog.js';
import { PG_ADMIN_URL } from './support/backends.js';

const busy = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('Postgres watchdog', () => {
  it('does not trip while the process, not the server, is too busy to read the answer', async () => {
    const dog = new PostgresWatchdog({ url: PG_ADMIN_URL, timeoutMs: 600, intervalMs: 20 });
    try {
      await dog.check(); // connected
      // Blocks longer than the timeout while a probe is in flight: before it is even written (its
      // deadline fires first after the block), and after it is written, its answer then waiting
      // unread on the socket when the deadline fires.
      for (let i = 0; i < 2; i++) {
        const unwritten = dog.check();
        busy(1300);
        await unwritten;
        const written = dog.check();
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        busy(1300);
        await written;
        // Held up past the deadline by less than the grace's threshold (half the timeout).
        const shortly = dog.check();
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        busy(800);
        await shortly;
      }
      expect(dog.trips).toBe(0);
      expect(dog.unresponsive).toBe(false);
    } finally {
      await dog.stop();
    }
  });
});
