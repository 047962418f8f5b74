/**
 * Every environment variable the server reads, in one typed, validated place.
 * `loadConfig(env)` never reads process.env itself, so tests pass their own.
 */
import { parseKeyring } from './domain/privacy/crypto.js';
import { loadSecurityConfig, type SecurityConfig, SecurityConfigError } from './security/config.js';
import { loadOpsConfig, OpsConfigError, type OpsConfig } from './ops/config.js';

export type Role = 'all' | 'api' | 'worker';

/** Connections of the main Postgres pool (per api process) unless `DATABASE_POOL_SIZE` says otherwise. */
export const DEFAULT_POOL_SIZE = 20;
/** Postgres connections kept for reservations' commits unless `RESERVE_CONNECTIONS` says otherwise. */
export const DEFAULT_RESERVE_CONNECTIONS = 2;

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  /** REDIS_URL: the Redis server; with REDIS_CLUSTER=on, the first seed node of a Redis Cluster. */
  redisUrl?: string;
  /** REDIS_CLUSTER=on: every node REDIS_URL names (comma-separated), the seeds of a Redis Cluster; absent: one server. */
  redisClusterNodes?: string[];
  authJwtSecret?: string;
  authJwksUrl?: string;
  authIssuer?: string;
  authAudience?: string;
  logLevel: string;
  production: boolean;
  role: Role;
  /** How often the worker sweeps expired reservations, in ms. */
  sweepIntervalMs: number;
  /** Prefix of every Redis key and pub/sub channel (several deployments or tests on one Redis). */
  redisPrefix: string;
  /** Live updates: a WebSocket whose unsent backlog exceeds this many bytes is dropped as a slow consumer. */
  wsMaxBufferedBytes: number;
  /** Live updates: a stock ticker pushes at most one update per product per this many ms (the latest count). */
  stockCoalesceMs: number;
  /** Payment gateways, failover, webhooks and reconciliation (docs/payments.md). */
  payments: PaymentsConfig;
  /** DATA_ENCRYPTION_KEY: keyring for personal data at rest (`id:base64key,...`, first is current); see docs/security.md. */
  dataEncryptionKey?: string;
  /** Email / SMS delivery (docs/notifications.md). */
  notifications: NotificationConfig;
  /** Rate limits, bot challenge, GraphQL limits, persisted operations, TLS (src/security/config.ts). */
  security: SecurityConfig;
  /** Resilience and operations: see src/ops/config.ts and docs/operations.md. */
  ops: OpsConfig;
  /** api processes on this machine (node:cluster, one port); 1 = this process serves. */
  workers: number;
  /** The node:http fast path in front of Yoga: jit (default), graphql-js or off (docs/performance.md). */
  fastPath: 'off' | 'graphql-js' | 'jit';
  /** The fast path replays remembered answers while they hold (docs/performance.md, "Replayed answers"). */
  fastPathReplay: boolean;
  /** The fast path plans the SDK's operations at startup, not at their first request (docs/performance.md, step 27). */
  fastPathWarm: boolean;
  /** Reservations of one product committed together at most (group commit); 1 commits each alone. */
  reserveBatchMax: number;
  /** Connections of the main Postgres pool of each process (`DATABASE_POOL_SIZE`). */
  poolSize: number;
  /** Postgres connections kept for reservations' commits, beside the main pool (0: they share it). */
  reserveConnections: number;
  /** Payment settlements committed together at most (group commit); 1 settles each alone. */
  settleBatchMax: number;
  /** How long a verified bearer token is trusted without verifying again, in ms (0 = off). */
  tokenCacheMs: number;
}

export interface NotificationConfig {
  /** SMTP_URL, e.g. smtp://user:pass@mail.example.com:587; unset: email goes to DATA_DIR/outbox.log. */
  smtpUrl?: string;
  /** SMTP_FROM: the From address of every email. */
  smtpFrom: string;
  /** TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN + TWILIO_FROM; unset: SMS goes to DATA_DIR/outbox.log. */
  twilio?: { accountSid: string; authToken: string; from: string; apiUrl?: string };
  /** NOTIFY_MAX_ATTEMPTS: attempts before an outbox event becomes a dead letter. */
  maxAttempts: number;
  /** NOTIFY_RETRY_BASE_MS / NOTIFY_RETRY_MAX_MS: exponential backoff (with jitter) between attempts. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** NOTIFY_INTERVAL_MS: how often the relay looks for due events. */
  intervalMs: number;
  /** NOTIFY_BATCH_SIZE: events claimed per pass. */
  batchSize: number;
  /** NOTIFY_LEASE_SECONDS: how long a claim lasts before another worker may take the event (a crashed worker). */
  leaseSeconds: number;
  /** NOTIFY_EXPIRY_REMINDER_SECONDS: remind a shopper this long before a hold expires (0 = never). */
  expiryReminderSeconds: number;
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

/**
 * REDIS_URL and REDIS_CLUSTER: one `redis://` or `rediss://` URL, or with REDIS_CLUSTER=on one or
 * more nodes of a Redis Cluster, comma-separated (any one is enough; the rest are tried when it is
 * down). The list is split only before a scheme, so a password may hold a comma. A Cluster has
 * only database 0.
 */
function redisConfig(env: Record<string, string | undefined>): Pick<Config, 'redisUrl' | 'redisClusterNodes'> {
  const mode = (env.REDIS_CLUSTER || 'off').toLowerCase();
  if (!['on', 'off'].includes(mode)) throw new ConfigError(`REDIS_CLUSTER must be on or off, got "${env.REDIS_CLUSTER}"`);
  const cluster = mode === 'on';
  const list = (env.REDIS_URL ?? '')
    .split(/,(?=\s*rediss?:\/\/)/i)
    .map((u) => u.trim())
    .filter(Boolean);
  if (!list.length) {
    if (cluster) throw new ConfigError('REDIS_CLUSTER=on needs REDIS_URL: a node of the cluster (or several, comma-separated)');
    return {};
  }
  if (list.length > 1 && !cluster) throw new ConfigError('REDIS_URL names several servers: set REDIS_CLUSTER=on for a Redis Cluster, or give one URL');
  for (const u of list) {
    url({ REDIS_URL: u }, 'REDIS_URL', ['redis:', 'rediss:']);
    const db = new URL(u).pathname.replace(/^\//, '');
    if (cluster && db !== '' && db !== '0') throw new ConfigError(`REDIS_URL: a Redis Cluster has only database 0, got "${u}"`);
  }
  return { redisUrl: list[0], redisClusterNodes: cluster ? list : undefined };
}

function redisPrefix(raw: string | undefined): string {
  if (raw === undefined || raw === '') return 'fs:';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(raw)) {
    throw new ConfigError('REDIS_PREFIX may hold only letters, digits and _ . : - (at most 64 characters)');
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
  const dataEncryptionKey = env.DATA_ENCRYPTION_KEY || undefined;
  if (production && !dataEncryptionKey) {
    throw new ConfigError('NODE_ENV=production requires DATA_ENCRYPTION_KEY (personal data is encrypted at rest)');
  }
  if (dataEncryptionKey) {
    try {
      parseKeyring(dataEncryptionKey);
    } catch (err) {
      throw new ConfigError(`DATA_ENCRYPTION_KEY: ${(err as Error).message}`);
    }
  }
  let security: SecurityConfig;
  try {
    security = loadSecurityConfig(env, production);
  } catch (err) {
    throw err instanceof SecurityConfigError ? new ConfigError(err.message) : err;
  }
  return {
    port: int(env, 'PORT', 4000, 0, 65535),
    host: env.HOST ?? '0.0.0.0',
    dataDir: env.DATA_DIR || './.data',
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    ...redisConfig(env),
    authJwtSecret: secret,
    authJwksUrl: jwks,
    authIssuer: env.AUTH_ISSUER || undefined,
    authAudience: env.AUTH_AUDIENCE || undefined,
    logLevel,
    production,
    role,
    sweepIntervalMs: int(env, 'SWEEP_INTERVAL_MS', 1000, 50, 60_000),
    redisPrefix: redisPrefix(env.REDIS_PREFIX),
    wsMaxBufferedBytes: int(env, 'WS_MAX_BUFFERED_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
    stockCoalesceMs: int(env, 'STOCK_COALESCE_MS', 100, 0, 10_000),
    notifications: notificationConfig(env),
    payments: loadPaymentsConfig(env),
    dataEncryptionKey,
    security,
    ops: opsConfig(env),
    ...performanceConfig(env, role),
  };
}

export type GatewayName = 'sandbox' | 'stripe' | 'paypal';

export interface PaymentsConfig {
  /** PAYMENT_GATEWAYS: tried in this order, failing over to the next (default `sandbox`). */
  gateways: GatewayName[];
  /** PAYMENT_TIMEOUT_MS: one gateway request; past it the outcome is unknown (default 10000). */
  timeoutMs: number;
  stripe?: {
    /** STRIPE_SECRET_KEY (sk_live_… / sk_test_… / rk_…). */
    secretKey: string;
    /** STRIPE_WEBHOOK_SECRET (whsec_…): verifies POST /webhooks/stripe. */
    webhookSecret?: string;
    /** STRIPE_API_BASE: another API origin (tests, egress proxy). */
    apiBase?: string;
  };
  paypal?: {
    /** PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (REST app credentials). */
    clientId: string;
    clientSecret: string;
    /** PAYPAL_ENVIRONMENT: sandbox (default) or production. */
    environment: 'sandbox' | 'production';
    /** PAYPAL_API_BASE: another API origin (tests, egress proxy). */
    apiBase?: string;
    /** PAYPAL_WEBHOOK_ID: the webhook's id in the PayPal app (for notification verification). */
    webhookId?: string;
  };
  /** PAYMENT_BREAKER_FAILURES: consecutive failures that open a gateway's circuit (default 5). */
  breakerFailures: number;
  /** PAYMENT_BREAKER_OPEN_MS: how long an open circuit waits before a probe (default 30000). */
  breakerOpenMs: number;
  /** PAYMENT_RECONCILE_INTERVAL_MS: how often the worker reconciles unknown payments (default 15000). */
  reconcileIntervalMs: number;
  /**
   * PAYMENT_STALE_AFTER_MS: a PROCESSING attempt this old is taken for a crash. It must exceed the
   * longest `pay` (up to 12 requests per gateway), else a live payment could be fenced under it
   * (default 12 × timeout × gateways + 30 s).
   */
  staleAfterMs: number;
}

export function loadPaymentsConfig(env: Record<string, string | undefined>): PaymentsConfig {
  const names = (env.PAYMENT_GATEWAYS || 'sandbox').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const n of names) {
    if (!['sandbox', 'stripe', 'paypal'].includes(n)) throw new ConfigError(`PAYMENT_GATEWAYS: unknown gateway "${n}" (use sandbox, stripe, paypal)`);
  }
  if (new Set(names).size !== names.length) throw new ConfigError('PAYMENT_GATEWAYS lists a gateway twice');
  const gateways = names as GatewayName[];
  const timeoutMs = int(env, 'PAYMENT_TIMEOUT_MS', 10_000, 100, 120_000);
  let stripe: PaymentsConfig['stripe'];
  if (gateways.includes('stripe')) {
    const secretKey = env.STRIPE_SECRET_KEY;
    if (!secretKey) throw new ConfigError('PAYMENT_GATEWAYS includes stripe: set STRIPE_SECRET_KEY');
    if (!/^(sk|rk)_(test|live)_/.test(secretKey)) throw new ConfigError('STRIPE_SECRET_KEY must be a secret or restricted key (sk_… or rk_…), never a publishable key');
    const webhookSecret = env.STRIPE_WEBHOOK_SECRET || undefined;
    if (webhookSecret && !webhookSecret.startsWith('whsec_')) throw new ConfigError('STRIPE_WEBHOOK_SECRET must start with whsec_');
    stripe = { secretKey, webhookSecret, apiBase: url(env, 'STRIPE_API_BASE', ['https:', 'http:']) };
  }
  let paypal: PaymentsConfig['paypal'];
  if (gateways.includes('paypal')) {
    const clientId = env.PAYPAL_CLIENT_ID;
    const clientSecret = env.PAYPAL_CLIENT_SECRET;
    if (!clientId || !clientSecret) throw new ConfigError('PAYMENT_GATEWAYS includes paypal: set PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET');
    const environment = (env.PAYPAL_ENVIRONMENT || 'sandbox').toLowerCase();
    if (environment !== 'sandbox' && environment !== 'production') throw new ConfigError('PAYPAL_ENVIRONMENT must be sandbox or production');
    paypal = {
      clientId,
      clientSecret,
      environment,
      apiBase: url(env, 'PAYPAL_API_BASE', ['https:', 'http:']),
      webhookId: env.PAYPAL_WEBHOOK_ID || undefined,
    };
  }
  return {
    gateways,
    timeoutMs,
    stripe,
    paypal,
    breakerFailures: int(env, 'PAYMENT_BREAKER_FAILURES', 5, 1, 1000),
    breakerOpenMs: int(env, 'PAYMENT_BREAKER_OPEN_MS', 30_000, 100, 3_600_000),
    reconcileIntervalMs: int(env, 'PAYMENT_RECONCILE_INTERVAL_MS', 15_000, 50, 3_600_000),
    staleAfterMs: int(env, 'PAYMENT_STALE_AFTER_MS', 12 * timeoutMs * gateways.length + 30_000, 1_000, 86_400_000),
  };
}

function notificationConfig(env: Record<string, string | undefined>): NotificationConfig {
  const sid = env.TWILIO_ACCOUNT_SID || undefined;
  const token = env.TWILIO_AUTH_TOKEN || undefined;
  const from = env.TWILIO_FROM || undefined;
  if ((sid || token || from) && !(sid && token && from)) {
    throw new ConfigError('SMS needs all of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM');
  }
  if (from && !/^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32}|[A-Za-z0-9 ]{1,11})$/.test(from)) {
    throw new ConfigError('TWILIO_FROM must be an E.164 number (+15005550006), a messaging service sid or an alphanumeric sender id');
  }
  const retryBaseMs = int(env, 'NOTIFY_RETRY_BASE_MS', 2000, 1, 3_600_000);
  return {
    smtpUrl: url(env, 'SMTP_URL', ['smtp:', 'smtps:']),
    smtpFrom: env.SMTP_FROM || 'flashsale <no-reply@flashsale.local>',
    twilio: sid && token && from ? { accountSid: sid, authToken: token, from, apiUrl: url(env, 'TWILIO_API_URL', ['https:', 'http:']) } : undefined,
    maxAttempts: int(env, 'NOTIFY_MAX_ATTEMPTS', 8, 1, 100),
    retryBaseMs,
    retryMaxMs: Math.max(retryBaseMs, int(env, 'NOTIFY_RETRY_MAX_MS', 600_000, 1, 86_400_000)),
    intervalMs: int(env, 'NOTIFY_INTERVAL_MS', 1000, 10, 600_000),
    batchSize: int(env, 'NOTIFY_BATCH_SIZE', 50, 1, 1000),
    leaseSeconds: int(env, 'NOTIFY_LEASE_SECONDS', 120, 1, 86_400),
    expiryReminderSeconds: int(env, 'NOTIFY_EXPIRY_REMINDER_SECONDS', 60, 0, 86_400),
  };
}

/** The notification settings with every default (tests and embedded callers start from these). */
export const defaultNotificationConfig = (): NotificationConfig => notificationConfig({});

function performanceConfig(env: Record<string, string | undefined>, role: Role) {
  const fastPath = (env.FAST_PATH || 'jit') as Config['fastPath'];
  if (!['off', 'graphql-js', 'jit'].includes(fastPath)) throw new ConfigError(`FAST_PATH must be jit, graphql-js or off, got "${fastPath}"`);
  const workers = env.WORKERS === 'auto' ? 0 : int(env, 'WORKERS', 1, 0, 256);
  if (workers !== 1 && role !== 'worker' && (!env.DATABASE_URL || !env.REDIS_URL)) {
    throw new ConfigError('WORKERS other than 1 needs DATABASE_URL and REDIS_URL (the embedded database and gate live in one process)');
  }
  const replay = (env.FAST_PATH_REPLAY || 'on').toLowerCase();
  if (!['on', 'off'].includes(replay)) throw new ConfigError(`FAST_PATH_REPLAY must be on or off, got "${env.FAST_PATH_REPLAY}"`);
  const warm = (env.FAST_PATH_WARM || 'on').toLowerCase();
  if (!['on', 'off'].includes(warm)) throw new ConfigError(`FAST_PATH_WARM must be on or off, got "${env.FAST_PATH_WARM}"`);
  return {
    workers,
    fastPath,
    fastPathReplay: replay === 'on',
    fastPathWarm: warm === 'on',
    tokenCacheMs: int(env, 'TOKEN_CACHE_MS', 30_000, 0, 3_600_000),
    reserveBatchMax: int(env, 'RESERVE_BATCH_MAX', 250, 1, 10_000),
    poolSize: int(env, 'DATABASE_POOL_SIZE', DEFAULT_POOL_SIZE, 1, 1000),
    reserveConnections: int(env, 'RESERVE_CONNECTIONS', DEFAULT_RESERVE_CONNECTIONS, 0, 100),
    settleBatchMax: int(env, 'SETTLE_BATCH_MAX', 100, 1, 10_000),
  };
}
