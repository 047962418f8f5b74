/**
 * Every environment variable the server reads, in one typed, validated place.
 * `loadConfig(env)` never reads process.env itself, so tests pass their own.
 */
export type Role = 'all' | 'api' | 'worker';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  redisUrl?: string;
  authJwtSecret?: string;
  authJwksUrl?: string;
  authIssuer?: string;
  authAudience?: string;
  logLevel: string;
  production: boolean;
  role: Role;
  /** How often the worker sweeps expired reservations, in ms. */
  sweepIntervalMs: number;
  /** api processes on this machine (node:cluster, one port); 1 = this process serves. */
  workers: number;
  /** The node:http fast path in front of Yoga: jit (default), graphql-js or off. */
  fastPath: 'off' | 'graphql-js' | 'jit';
  /** How long a verified bearer token is trusted without verifying again, in ms (0 = off). */
  tokenCacheMs: number;
  /** Prefix of every Redis key and channel (several deployments or benchmarks on one Redis). */
  redisPrefix?: string;
}

export class ConfigError extends Error {}

function int(env: Record<string, string | undefined>, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

function url(env: Record<string, string | undefined>, name: string, protocols: string[]): string | undefined {
  const raw = env[name];
  if (!raw) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must start with ${protocols.map((p) => `${p}//`).join(' or ')}`);
  }
  return raw;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const production = env.NODE_ENV === 'production';
  const role = (env.ROLE ?? 'all') as Role;
  if (!['all', 'api', 'worker'].includes(role)) throw new ConfigError(`ROLE must be all, api or worker, got "${role}"`);
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }
  const secret = env.AUTH_JWT_SECRET || undefined;
  if (secret !== undefined && secret.length < 32) {
    throw new ConfigError('AUTH_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit secret)');
  }
  const jwks = url(env, 'AUTH_JWKS_URL', ['https:', 'http:']);
  if (production && !secret && !jwks) {
    throw new ConfigError('NODE_ENV=production requires AUTH_JWT_SECRET or AUTH_JWKS_URL');
  }
  return {
    port: int(env, 'PORT', 4000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: env.DATA_DIR || './.data',
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    redisUrl: url(env, 'REDIS_URL', ['redis:', 'rediss:']),
    authJwtSecret: secret,
    authJwksUrl: jwks,
    authIssuer: env.AUTH_ISSUER || undefined,
    authAudience: env.AUTH_AUDIENCE || undefined,
    logLevel,
    production,
    role,
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 1000, 50, 60_000),
    ...performanceConfig(env, role),
  };
}

function performanceConfig(env: Record<string, string | undefined>, role: Role) {
  const fastPath = (env.FAST_PATH || 'jit') as Config['fastPath'];
  if (!['off', 'graphql-js', 'jit'].includes(fastPath)) throw new ConfigError(`FAST_PATH must be jit, graphql-js or off, got "${fastPath}"`);
  const workers = env.WORKERS === 'auto' ? 0 : int(env, 'WORKERS', 1, 0, 256);
  if (workers !== 1 && role !== 'worker' && (!env.DATABASE_URL || !env.REDIS_URL)) {
    throw new ConfigError('WORKERS other than 1 needs DATABASE_URL and REDIS_URL (the embedded database and gate live in one process)');
  }
  const redisPrefix = env.REDIS_PREFIX || undefined;
  if (redisPrefix !== undefined && !/^[A-Za-z0-9_:.-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX must be 1-64 letters, digits, "_", ":", "." or "-"');
  }
  return { workers, fastPath, tokenCacheMs: int(env, 'TOKEN_CACHE_MS', 30_000, 0, 3_600_000), redisPrefix };
}
