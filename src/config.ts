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
  /** DATA_ENCRYPTION_KEY: keyring for personal data at rest (`id:base64key,...`). */
  dataEncryptionKey?: string;
  /** Email / SMS delivery (docs/notifications.md). */
  notifications: NotificationConfig;
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
    dataEncryptionKey: env.DATA_ENCRYPTION_KEY || undefined,
    notifications: notificationConfig(env),
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
