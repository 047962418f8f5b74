import { readFileSync } from 'node:fs';
import type { Result } from 'ioredis';
import type { RedisClient } from './client.js';
import type { RateRule } from '../../security/config.js';
import { badCheck, type Bucket, type RateDecision, type RateLimitStore } from '../../security/ratelimit.js';
import { groupBy, TurnBatches } from '../../domain/batches.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Versioned name: two deployed versions never run each other's script. */
const SCRIPTS = {
  fsRateLimitV1: { numberOfKeys: 1, lua: lua('gcra') + lua('ratelimit-1') },
  // Its number of keys varies with the batch: given as the first argument.
  fsRateLimitManyV2: { lua: lua('gcra') + lua('ratelimit-many') },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fsRateLimitV1(bucket: string, nowMs: number, count: number, periodMs: number, cost: number): Result<[number, number], Context>;
    fsRateLimitManyV2(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<number[], Context>;
  }
}

export function defineRateLimitScripts(redis: RedisClient): void {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
  // The store gathers a turn's checks into one call itself; auto-pipelined, the call would wait
  // another turn of the event loop before it is written.
  const ignored = redis.options.autoPipeliningIgnoredCommands;
  if (redis.options.enableAutoPipelining && ignored && !ignored.includes('fsRateLimitManyV2')) ignored.push('fsRateLimitManyV2');
}

/** A bucket's scope: its key up to the second colon (`rs:u` of `rs:u:alice`), or all of it. */
const scopeOf = (bucket: string) => {
  const at = bucket.indexOf(':', bucket.indexOf(':') + 1);
  return at < 0 ? bucket : bucket.slice(0, at);
};

/** At most this many requests' checks per script call. */
export const CHECKS_PER_CALL = 500;

interface Check {
  buckets: readonly Bucket[];
  nowMs: number;
  resolve(d: RateDecision): void;
  reject(err: unknown): void;
}

/**
 * Rate limits, one-time tokens and distinct counts in Redis, shared by every api
 * process. Each bucket is one key. On one Redis server (or a Sentinel-managed primary) the
 * checks of one event-loop turn (`takeAll`, every request's buckets) go as one script call
 * naming many keys. On a Redis Cluster, whose scripts may only touch keys of one slot, each
 * scope's buckets share a hash tag and a turn's checks go in rounds (`sendInRounds`): one call per
 * scope per round, with the same rule.
 */
export class RedisRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  /** This turn's checks, sent when it ends (one queue: the call names many keys). */
  private readonly pending = new TurnBatches<Check>(CHECKS_PER_CALL, (_, checks) => void this.send(checks));
  /** Script calls made and requests' checks they carried (tests, the batching's effect). */
  readonly stats = { calls: 0, checks: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'fs:',
  ) {
    defineRateLimitScripts(redis);
  }

  async take(key: string, rule: RateRule, nowMs: number, cost = 1): Promise<RateDecision> {
    const [allowed, retryAfterMs] = await this.redis.fsRateLimitV1(
      this.keyOf(key),
      nowMs,
      rule.count,
      rule.periodSeconds * 1000,
      cost,
    );
    return { allowed: allowed === 1, retryAfterMs: Number(retryAfterMs) };
  }

  /**
   * Queued, and sent at the end of this turn of the event loop with every other request's
   * buckets in one call (ratelimit-many.lua), decided in arrival order as separate calls would
   * have been: a reserve's three buckets were three calls, one after the other, each a round
   * trip and most of the CPU its limits cost this process.
   */
  takeAll(buckets: readonly Bucket[], nowMs: number): Promise<RateDecision> {
    const bad = badCheck(buckets, nowMs);
    if (bad) return Promise.reject(bad);
    if (!buckets.length) return Promise.resolve({ allowed: true, retryAfterMs: 0 });
    return new Promise((resolve, reject) => this.pending.add('', { buckets, nowMs, resolve, reject }));
  }

  /**
   * A bucket's key. On a Redis Cluster every bucket of one scope (the key up to its second colon:
   * `rs:u` the shoppers' reserve buckets, `rs:ip`, `rs:p`, `read:u`...) shares one hash tag, so the
   * buckets a round takes from one scope are one script call on one node (`sendInRounds`). A scope
   * is then one node's work, as every scope is one server's without a Cluster.
   */
  private keyOf(bucket: string): string {
    if (!this.redis.isCluster) return `${this.prefix}rl:${bucket}`;
    const scope = scopeOf(bucket);
    return `${this.prefix}rl:{${scope}}${bucket.slice(scope.length)}`;
  }

  /**
   * A Redis Cluster's checks of one turn, in rounds: every request's first bucket, then the second
   * bucket of those not refused, and so on. A round is one call per scope (ratelimit-many.lua on
   * that scope's node, its buckets in arrival order). Each bucket sees the requests in arrival
   * order, as in the one script on one server: a request's buckets are taken one after another,
   * not in the order different nodes answered. A request's first refusal ends it, the buckets
   * taken before stay taken; a failed call fails the requests it carried.
   */
  private async sendInRounds(checks: Check[]): Promise<void> {
    let live = checks.filter((c) => c.buckets.length);
    for (const c of checks) if (!c.buckets.length) c.resolve({ allowed: true, retryAfterMs: 0 });
    for (let round = 0; live.length; round++) {
      const byScope = groupBy(live, (c) => scopeOf(c.buckets[round].key));
      const next: Check[] = [];
      await Promise.all(
        [...byScope.values()].map(async (group) => {
          let decided: RateDecision[];
          try {
            decided = await this.call(group.map((c) => ({ buckets: [c.buckets[round]], nowMs: c.nowMs })));
          } catch (err) {
            for (const c of group) c.reject(err);
            return;
          }
          group.forEach((c, i) => {
            if (!decided[i].allowed || round === c.buckets.length - 1) c.resolve(decided[i]);
            else next.push(c);
          });
        }),
      );
      // In arrival order again for the next round.
      const going = new Set(next);
      live = live.filter((c) => going.has(c));
    }
  }

  /** The checks of one turn, one call on one server; on a Cluster, in rounds. */
  private async send(checks: Check[]): Promise<void> {
    if (this.redis.isCluster) return this.sendInRounds(checks);
    let decided: RateDecision[];
    try {
      decided = await this.call(checks);
    } catch (err) {
      for (const c of checks) c.reject(err);
      return;
    }
    checks.forEach((c, i) => c.resolve(decided[i]));
  }

  /** One script call for `checks` (ratelimit-many.lua: the keys and rules once, the checks as one string of numbers). */
  private async call(checks: readonly Pick<Check, 'buckets' | 'nowMs'>[]): Promise<RateDecision[]> {
    const keys: string[] = [];
    const keyAt = new Map<string, number>();
    const rules: number[] = [];
    const ruleAt = new Map<RateRule, number>();
    // Whole microseconds, floored as gcra() does, each check's after the earliest's.
    let base = Number.POSITIVE_INFINITY;
    for (const c of checks) base = Math.min(base, Math.floor(c.nowMs * 1000));
    let text = '';
    for (const c of checks) {
      text += `${Math.floor(c.nowMs * 1000) - base} ${c.buckets.length}`;
      for (const b of c.buckets) {
        const k = this.keyOf(b.key);
        let i = keyAt.get(k);
        if (i === undefined) keyAt.set(k, (i = keys.push(k)));
        let r = ruleAt.get(b.rule);
        if (r === undefined) ruleAt.set(b.rule, (r = rules.push(b.rule.count, b.rule.periodSeconds * 1000) / 2));
        text += ` ${i} ${r} ${b.cost ?? 1}`;
      }
      text += ' ';
    }
    this.stats.calls++;
    this.stats.checks += checks.length;
    const raw = await this.redis.fsRateLimitManyV2(keys.length, ...keys, base, rules.length / 2, ...rules, text);
    return checks.map((_, i) => ({ allowed: raw[2 * i] === 1, retryAfterMs: Number(raw[2 * i + 1]) }));
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

/**
 * The Redis limiter, answered in process while Redis cannot answer (down, hung past
 * REDIS_TIMEOUT_MS, or on a Cluster the node of a bucket's slot gone), so that a Redis outage
 * slows reserves down as the gate's fallback does instead of refusing every one: each api process
 * then limits alone, with its own buckets (a shopper spread over N processes gets up to N times a
 * limit), and a CAPTCHA solution is remembered by the process that took it. A call Redis refused
 * as wrong (a bad cost or time) is not a fault and fails as before. Counted in `local`.
 */
export class DegradingRateLimitStore implements RateLimitStore {
  readonly kind = 'redis' as const;
  /** Calls answered in process because Redis could not answer (a metric). */
  readonly counts = { local: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly primary: RateLimitStore,
    private readonly local: RateLimitStore,
  ) {}

  private async either<T>(remote: () => Promise<T>, here: () => Promise<T>): Promise<T> {
    if (this.redis.status === 'ready') {
      try {
        return await remote();
      } catch (err) {
        if (err instanceof RangeError) throw err;
      }
    }
    // Counted once answered: a wrong call (RangeError) is refused here too, and is no local answer.
    const answer = await here();
    this.counts.local++;
    return answer;
  }

  take(key: string, rule: RateRule, nowMs: number, cost?: number): Promise<RateDecision> {
    return this.either(
      () => this.primary.take(key, rule, nowMs, cost),
      () => this.local.take(key, rule, nowMs, cost),
    );
  }

  takeAll(buckets: readonly Bucket[], nowMs: number): Promise<RateDecision> {
    return this.either(
      () => this.primary.takeAll(buckets, nowMs),
      () => this.local.takeAll(buckets, nowMs),
    );
  }

  once(key: string, ttlSeconds: number): Promise<boolean> {
    return this.either(
      () => this.primary.once(key, ttlSeconds),
      () => this.local.once(key, ttlSeconds),
    );
  }

  distinct(key: string, member: string, windowSeconds: number, nowMs: number): Promise<number> {
    return this.either(
      () => this.primary.distinct(key, member, windowSeconds, nowMs),
      () => this.local.distinct(key, member, windowSeconds, nowMs),
    );
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.local.close()]);
  }
}
