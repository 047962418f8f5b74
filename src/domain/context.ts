import type { Logger } from 'pino';
import type { Db } from '../adapters/db/client.js';
import type { EventBus } from './events.js';
import type { StockGate } from './gate/port.js';
import type { InventoryCache } from './inventory/cache.js';
import type { Notifications } from './notifications/port.js';
import type { PaymentGateway } from './payments/port.js';
import type { Keyring } from './privacy/crypto.js';
import type { RateLimitStore } from '../security/ratelimit.js';

/** Everything the domain needs, built once at start-up and passed first to every function. */
export interface Deps {
  db: Db;
  /** Where reservations commit: connections of their own on Postgres (`RESERVE_CONNECTIONS`), else `db`. */
  reserveDb?: Db;
  /** Whether Postgres answers now (the watchdog; absent on the embedded database or with it off). */
  postgres?: { readonly unresponsive: boolean; readonly trips: number };
  gate: StockGate;
  events: EventBus;
  inventory: InventoryCache;
  payments: PaymentGateway;
  log: Logger;
  now: () => Date;
  /** Keys for personal data at rest (seal/open in domain/privacy/crypto.ts). */
  keyring: Keyring;
  /** Email / SMS senders and the relay's settings (domain/notifications). */
  notifications: Notifications;
  /** Rate-limit buckets, one-time tokens and distinct counts (Redis, or in-process). */
  limiter: RateLimitStore;
  /** Reservations of one product committed together at most (domain/cart/commit-batch.ts; default 250). */
  reserveBatchMax?: number;
  /** Payment settlements committed together at most (domain/payments/pay.ts; default 100). */
  settleBatchMax?: number;
}

/** Who is acting: the token's subject and roles. */
export interface Actor {
  userId: string;
  roles: readonly string[];
  /** When the token was issued (epoch ms), if it says. */
  issuedAtMs?: number;
  /** When the token expires (epoch ms), if it says: a verified token is never trusted past it. */
  expiresAtMs?: number;
}

export const isAdmin = (a: Actor | undefined) => a?.roles.includes('admin') ?? false;

/**
 * An error and the errors it wraps (`cause`), outermost first: drivers and our own layers wrap a
 * fault once or twice (drizzle's query error around postgres.js's, a RetryableError around both).
 * At most `max` deep, so a cause chain that loops back on itself ends.
 */
export function* causes(err: unknown, max = 8): Generator<{ code?: unknown; message?: unknown; cause?: unknown }> {
  for (let e: unknown = err, i = 0; e && i < max; e = (e as { cause?: unknown }).cause, i++) yield e as { code?: unknown };
}

/**
 * A fault that the caller may retry (database or gate unreachable, gateway timing
 * out). Thrown, never returned; the API maps it to `extensions.code: UNAVAILABLE`.
 */
export class RetryableError extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(message, { cause: options?.cause });
    this.name = 'RetryableError';
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}
