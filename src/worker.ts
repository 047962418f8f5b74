import type { Deps } from './domain/context.js';
import { sweepExpired } from './domain/inventory/expiry.js';
import { reconcilePayments } from './domain/payments/reconcile.js';
import { DEFAULT_REFUND_SETTINGS, type RefundSettings, runRefunds } from './domain/payments/refunds.js';
import { notificationJobs } from './domain/notifications/jobs.js';

/**
 * One background job. Every job must be safe to run in any number of worker
 * processes at once (claim rows with `FOR UPDATE SKIP LOCKED`, settle idempotently).
 */
export interface Job {
  name: string;
  intervalMs: number;
  /** One pass; returns true when there is more to do right away (a full batch). */
  run(deps: Deps): Promise<boolean>;
}

/** The reservation-expiry sweeper. */
export const expiryJob = (intervalMs: number): Job => ({
  name: 'expire-reservations',
  intervalMs,
  run: async (deps) => (await sweepExpired(deps, 500)) >= 500,
});

/** Settles payments whose outcome is unknown (timeouts, crashes) from the gateway's record. */
export const reconcileJob = (intervalMs: number, staleAfterMs: number): Job => ({
  name: 'reconcile-payments',
  intervalMs,
  run: async (deps) => (await reconcilePayments(deps, { staleAfterMs, batch: 100 })).examined >= 100,
});

/** Gives back charges no order keeps (domain/payments/refunds.ts). */
export const refundJob = (intervalMs: number, settings: RefundSettings = DEFAULT_REFUND_SETTINGS): Job => ({
  name: 'refunds',
  intervalMs,
  run: async (deps) => (await runRefunds(deps, settings)).claimed >= settings.batch,
});

export interface WorkerOptions {
  sweepIntervalMs: number;
  /** Payment reconciliation: how often, and when a PROCESSING attempt counts as crashed. */
  reconcile?: { intervalMs: number; staleAfterMs: number };
  /** Refunds of charges without an order: how often, and their retry settings. */
  refunds?: { intervalMs: number } & Partial<RefundSettings>;
  /** Extra jobs beside the built-in ones (tests, and modules that bring their own). */
  jobs?: Job[];
}

export interface Worker {
  /** Runs one pass of every job now (tests, and a worker told to hurry). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Runs every job on its own timer; a pass never overlaps the previous pass of the same job. */
export function startWorker(deps: Deps, opts: WorkerOptions): Worker {
  const rec = opts.reconcile ?? { intervalMs: 15_000, staleAfterMs: 70_000 };
  const jobs = [
    expiryJob(opts.sweepIntervalMs),
    reconcileJob(rec.intervalMs, rec.staleAfterMs),
    refundJob(opts.refunds?.intervalMs ?? rec.intervalMs, { ...DEFAULT_REFUND_SETTINGS, ...opts.refunds }),
    ...notificationJobs(deps.notifications.settings),
    ...(opts.jobs ?? []),
  ];
  let stopped = false;
  const running = new Map<string, Promise<void>>();
  const pass = (job: Job): Promise<void> => {
    let p = running.get(job.name);
    if (!p) {
      p = (async () => {
        while (!stopped && (await job.run(deps))) {}
      })()
        .catch((err) => deps.log.error({ err, job: job.name }, 'background job failed; will retry'))
        .finally(() => running.delete(job.name));
      running.set(job.name, p);
    }
    return p;
  };
  const timers = jobs.map((job) => {
    const t = setInterval(() => void pass(job), job.intervalMs);
    t.unref();
    return t;
  });
  return {
    async tick() {
      await Promise.all(jobs.map(pass));
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      await Promise.all(running.values());
    },
  };
}
