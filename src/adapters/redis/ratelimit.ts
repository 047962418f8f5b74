import { readFileSync } from 'node:fs';
import type { Redis, Result } from 'ioredis';
import type { RateRule } from '../../security/config.js';
import type { RateDecision, RateLimitStore } from '../../security/ratelimit.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Versioned name: two deployed versions never run each other's script. */
const SCRIPTS = {
  fsRateLimitV1: { numberOfKeys: 1, lua: lua('ratelimit-1') },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fsRateLimitV1(bucket: string, nowMs: number, count: number, periodMs: number, cost: number): Result<[number, number], Context>;
  }
}

export function defineRateLimitScripts(redis: Redis): void {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
}

/**
 * Rate limits, one-time tokens and distinct counts in Redis, shared by every api
 * process. Each bucket is one key (its own hash slot in Redis Cluster).
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'fs:',
  ) {
    defineRateLimitScripts(redis);
  }

  async take(key: string, rule: RateRule, nowMs: number, cost = 1): Promise<RateDecision> {
    const [allowed, retryAfterMs] = await this.redis.fsRateLimitV1(
      `${this.prefix}rl:${key}`,
      nowMs,
      rule.count,
      rule.periodSeconds * 1000,
      cost,
    );
    return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs) };
  }

  async once(key: string, ttlSeconds: number): Promise<boolean> {
    const ok = await this.redis.set(`${this.prefix}once:${key}`, '1', 'EX', ttlSeconds, 'NX');
    return ok === 'OK';
  }

  async distinct(key: string, member: string, windowSeconds: number, nowMs: number): Promise<number> {
    // One HyperLogLog per fixed window: approximate (±1%) and bounded at 12 kB per key.
    const k = `${this.prefix}hll:${key}:${Math.floor(nowMs / (windowSeconds * 1000))}`;
    const [, , count] = (await this.redis.multi().pfadd(k, member).expire(k, windowSeconds * 2).pfcount(k).exec()) ?? [];
    if (!count || count[0]) throw count?.[0] ?? new Error('distinct count failed');
    return Number(count[1]);
  }

  async close(): Promise<void> {}
}
