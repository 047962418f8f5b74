/**
 * The resilience and operations settings (issue 7). Read by `loadConfig` in
 * src/config.ts; every variable is documented in docs/operations.md.
 */
export type GateFallback = 'postgres' | 'error';

export interface OpsConfig {
  /** What the Redis gate does while Redis is unreachable: admit through Postgres alone, or answer UNAVAILABLE. */
  gateFallback: GateFallback;
  /** How often the gate is compared with Postgres and corrected (ms). */
  gateReconcileIntervalMs: number;
  /** How long a product's gate must stay unchanged before units it lacks are given back to it (ms). */
  gateReconcileSettleMs: number;
  /**
   * A Redis connection that answers nothing for this long while commands wait on it is taken for
   * dead (a hung server, a partition that sends no reset): its commands fail, the gate falls back,
   * and it reconnects (ms; 0 waits forever).
   */
  redisTimeoutMs: number;
  /**
   * Postgres (not the embedded database) not answering a probe for this long is taken for hung (a
   * stopped server, a partition that sends no reset): the pools' connections are cut and requests
   * that need it fail retryably until it answers again (ms; 0: no watchdog, queries wait).
   */
  postgresTimeoutMs: number;
  /**
   * At start-up, how long to wait for a Postgres that is not reachable yet (down, starting, its host
   * name not resolving yet), retrying with backoff, before the process gives up (ms; 0: at once).
   */
  postgresStartupWaitMs: number;
  /** Load shedding on or off. */
  shedding: boolean;
  /** In-flight HTTP requests at which checkout and pay are shed (reads at 50%, reserves at 75%). */
  shedMaxInFlight: number;
  /** Event-loop lag (p99 over the last second, ms) at which checkout and pay are shed (same fractions). */
  shedMaxLagMs: number;
  /** Retry-After sent with a shed request (seconds). */
  shedRetryAfterSeconds: number;
  /** Log one JSON line per HTTP request (at info level). */
  requestLog: boolean;
  /** How often a `saleStats` subscription pushes a fresh figure (ms). */
  saleStatsIntervalMs: number;
}

type IntReader = (env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number) => number;

function flag(env: Record<string, string | undefined>, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'off', 'no'].includes(raw.toLowerCase())) return false;
  throw new OpsConfigError(`${name} must be on or off, got "${raw}"`);
}

export class OpsConfigError extends Error {}

/** `REDIS_TIMEOUT_MS` and `POSTGRES_TIMEOUT_MS` when unset (also for runtimes built without `loadConfig`). */
export const DEFAULT_REDIS_TIMEOUT_MS = 2000;
export const DEFAULT_POSTGRES_TIMEOUT_MS = 5000;

export function loadOpsConfig(env: Record<string, string | undefined>, int: IntReader): OpsConfig {
  const gateFallback = (env.GATE_FALLBACK || 'postgres') as GateFallback;
  if (gateFallback !== 'postgres' && gateFallback !== 'error') {
    throw new OpsConfigError(`GATE_FALLBACK must be postgres or error, got "${gateFallback}"`);
  }
  return {
    gateFallback,
    gateReconcileIntervalMs: int(env, 'GATE_RECONCILE_INTERVAL_MS', 5000, 100, 3_600_000),
    gateReconcileSettleMs: int(env, 'GATE_RECONCILE_SETTLE_MS', 10_000, 0, 600_000),
    redisTimeoutMs: int(env, 'REDIS_TIMEOUT_MS', DEFAULT_REDIS_TIMEOUT_MS, 0, 600_000),
    postgresTimeoutMs: int(env, 'POSTGRES_TIMEOUT_MS', DEFAULT_POSTGRES_TIMEOUT_MS, 0, 600_000),
    postgresStartupWaitMs: int(env, 'POSTGRES_STARTUP_WAIT_MS', 60_000, 0, 3_600_000),
    shedding: flag(env, 'LOAD_SHEDDING', true),
    shedMaxInFlight: int(env, 'SHED_MAX_IN_FLIGHT', 1000, 1, 1_000_000),
    shedMaxLagMs: int(env, 'SHED_MAX_LAG_MS', 500, 1, 60_000),
    shedRetryAfterSeconds: int(env, 'SHED_RETRY_AFTER_SECONDS', 1, 1, 3600),
    requestLog: flag(env, 'REQUEST_LOG', true),
    saleStatsIntervalMs: int(env, 'SALE_STATS_INTERVAL_MS', 1000, 100, 60_000),
  };
}

/**
 * For tests and embedders that build an app without `loadConfig`: the defaults, with
 * load shedding and request logs off (an embedder's own traffic shaping decides).
 */
export const defaultOpsConfig = (): OpsConfig => ({
  ...loadOpsConfig({}, (_e, _n, fallback) => fallback),
  shedding: false,
  requestLog: false,
});
