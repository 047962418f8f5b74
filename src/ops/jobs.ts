import type { Deps } from '../domain/context.js';
import { reconcileGate, type ReconcileMemo } from '../domain/gate/reconcile.js';
import { ResilientGate } from '../domain/gate/resilient.js';
import type { Job } from '../worker.js';
import type { OpsConfig } from './config.js';

/** The worker's gate reconciliation pass (every GATE_RECONCILE_INTERVAL_MS). */
export function gateReconcileJob(config: Pick<OpsConfig, 'gateReconcileIntervalMs' | 'gateReconcileSettleMs'>): Job {
  const memo: ReconcileMemo = new Map();
  return {
    name: 'reconcile-gate',
    intervalMs: config.gateReconcileIntervalMs,
    run: async (deps) => {
      await reconcileGate(deps, { settleMs: config.gateReconcileSettleMs }, memo);
      return false;
    },
  };
}

/** Jobs this module adds to the worker registry. */
export const opsJobs = (config: OpsConfig): Job[] => [gateReconcileJob(config)];

/**
 * In an api process: reconcile a product as soon as Postgres refuses an admission the
 * gate gave (the two disagree), and also on the periodic interval, so the gate
 * converges even while no worker runs. Safe beside other processes doing the same
 * (every correction is a compare-and-set). Returns a stop function.
 */
export function startGateNudges(deps: Deps, config: OpsConfig): () => Promise<void> {
  const gate = deps.gate;
  if (!(gate instanceof ResilientGate)) return async () => {};
  const memo: ReconcileMemo = new Map();
  const queued = new Set<string>();
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const run = (productIds?: string[]) => {
    running = running
      .then(() => reconcileGate(deps, { settleMs: config.gateReconcileSettleMs, productIds }, memo))
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'gate reconciliation failed; will retry'));
    return running;
  };
  gate.onDisagree = (productId) => {
    if (queued.has(productId)) return;
    queued.add(productId);
    setTimeout(() => {
      queued.delete(productId);
      void run([productId]);
    }, 200).unref();
  };
  timer = setInterval(() => void run(), config.gateReconcileIntervalMs);
  timer.unref();
  return async () => {
    gate.onDisagree = undefined;
    if (timer) clearInterval(timer);
    await running;
  };
}
