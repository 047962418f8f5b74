import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import {
  type AdmitAttempt,
  type GateDecision,
  type GateSnapshot,
  IDEMPOTENCY_TTL_SECONDS,
  type StockGate,
} from '../../domain/gate/port.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Scripts are registered under versioned names so two deployed versions never run each other's. */
const SCRIPTS = {
  fsReserveV1: { numberOfKeys: 3, lua: lua('reserve-3') },
  fsReleaseV1: { numberOfKeys: 2, lua: lua('release-2') },
  fsLoadV1: { numberOfKeys: 2, lua: lua('load-2') },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fsReserveV1(
      gate: string,
      users: string,
      idem: string,
      userId: string,
      quantity: number,
      nowMs: number,
      reservationId: string,
      idemTtl: number,
    ): Result<[number, number, string], Context>;
    fsReleaseV1(gate: string, users: string, userId: string, quantity: number, restore: '0' | '1'): Result<number, Context>;
    fsLoadV1(gate: string, users: string, ...args: (string | number)[]): Result<number, Context>;
  }
}

export function defineGateScripts(redis: Redis): void {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
}

/** Every key of a product shares one hash tag, so its scripts run on one Redis Cluster shard. */
export function gateKeys(prefix: string, productId: string) {
  const tag = `${prefix}{${productId}}`;
  return { gate: `${tag}:gate`, users: `${tag}:users` };
}

/**
 * A shopper's idempotency key's record, in the product's hash tag. A plain function, not a
 * closure made per call: every reserve and every keyed sold-out answer names one.
 */
export const idemKey = (prefix: string, productId: string, userId: string, key: string) => `${prefix}{${productId}}:idem:${userId}:${key}`;

/** The one place Lua's integer codes become typed decisions. */
export function toDecision([code, n, text]: [number, number, string]): GateDecision {
  switch (code) {
    case 1:
      return { outcome: 'ADMITTED', sequence: n };
    case 2: {
      const at = text.lastIndexOf(':');
      return { outcome: 'REPEATED', reservationId: text.slice(0, at), sequence: Number(text.slice(at + 1)) };
    }
    case 0:
      return { outcome: 'UNKNOWN_PRODUCT' };
    case -1:
      return { outcome: 'NOT_STARTED' };
    case -2:
      return { outcome: 'ENDED' };
    case -3:
      return { outcome: 'LIMIT_EXCEEDED', limit: n };
    case -4:
      return { outcome: 'SOLD_OUT', left: n };
    default:
      throw new Error(`stock gate returned unknown code ${code}`);
  }
}

export class RedisGate implements StockGate {
  readonly kind = 'redis' as const;
  private soldOut = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'fs:',
  ) {
    defineGateScripts(redis);
  }

  async admit(a: AdmitAttempt): Promise<GateDecision> {
    const k = gateKeys(this.prefix, a.productId);
    const keyed = a.idempotencyKey !== undefined;
    const raw = await this.redis.fsReserveV1(
      k.gate,
      k.users,
      keyed ? idemKey(this.prefix, a.productId, a.userId, a.idempotencyKey!) : idemKey(this.prefix, a.productId, '', ''),
      a.userId,
      a.quantity,
      a.nowMs,
      a.reservationId,
      keyed ? IDEMPOTENCY_TTL_SECONDS : 0,
    );
    const d = toDecision(raw);
    if (d.outcome === 'SOLD_OUT' && d.left === 0) this.soldOut.add(a.productId);
    return d;
  }

  async release(productId: string, userId: string, quantity: number, restoreStock: boolean): Promise<void> {
    const k = gateKeys(this.prefix, productId);
    const stock = await this.redis.fsReleaseV1(k.gate, k.users, userId, quantity, restoreStock ? '1' : '0');
    if (stock > 0) this.soldOut.delete(productId);
  }

  async mayRepeat(productId: string, userId: string, key: string): Promise<boolean> {
    return (await this.redis.exists(idemKey(this.prefix, productId, userId, key))) === 1;
  }

  async forget(productId: string, userId: string, idempotencyKey: string): Promise<void> {
    await this.redis.del(idemKey(this.prefix, productId, userId, idempotencyKey));
  }

  async load(s: GateSnapshot, force: boolean): Promise<boolean> {
    const k = gateKeys(this.prefix, s.productId);
    const pairs = Object.entries(s.held).flatMap(([u, n]) => [u, n]);
    const wrote = await this.redis.fsLoadV1(
      k.gate,
      k.users,
      force ? '1' : '0',
      s.stock,
      s.sequence,
      s.startsAtMs,
      s.endsAtMs,
      s.perUserLimit,
      ...pairs,
    );
    if (wrote === 1) this.noteStock(s.productId, s.stock);
    return wrote === 1;
  }

  knownSoldOut(productId: string): boolean {
    return this.soldOut.has(productId);
  }

  noteStock(productId: string, available: number): void {
    if (available > 0) this.soldOut.delete(productId);
    else this.soldOut.add(productId);
  }

  async close(): Promise<void> {}
}
