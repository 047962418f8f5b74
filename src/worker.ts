import type { Deps } from './domain/context.js';
import { sweepExpired } from './domain/inventory/expiry.js';

export interface Worker {
  /** Runs one pass of every job now (tests, and a worker that was told to hurry). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The background jobs: the reservation-expiry sweeper (more jobs join it: outbox
 * relay, payment and gate reconciliation). Safe to run in any number of processes.
 */
export function startWorker(deps: Deps, opts: { sweepIntervalMs: number }): Worker {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    // Keep sweeping while batches come back full, so a backlog clears at once.
    while (!stopped && (await sweepExpired(deps)) >= 500) {}
  };
  const tick = () => {
    running ??= pass()
      .catch((err) => deps.log.error({ err }, 'expiry sweep failed; will retry'))
      .finally(() => (running = undefined));
    return running;
  };
  const timer = setInterval(tick, opts.sweepIntervalMs);
  timer.unref();
  return {
    tick,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
