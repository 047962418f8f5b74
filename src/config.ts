/**
 * Every environment variable the server reads, in one typed, validated place.
 * `loadConfig(env)` never reads process.env itself, so tests pass their own.
 */
import { loadOpsConfig, OpsConfigError, type OpsConfig } from './ops/config.js';

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
  /** Resilience and operations (issue 7): see src/ops/config.ts and docs/operations.md. */
  ops: OpsConfig;
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

function opsConfig(env: Record<string, string | undefined>): OpsConfig {
  try {
    return loadOpsConfig(env, int);
  } catch (err) {
    throw err instanceof OpsConfigError ? new ConfigError(err.message) : err;
  }
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
    ops: opsConfig(env),
  };
}
