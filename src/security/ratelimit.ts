/**
 * Rate limits: GCRA (the generic cell rate algorithm, a token bucket stored as one
 * number, the "theoretical arrival time"). Two stores share the decision rule
 * `gcra()` below, mirrored line for line by `adapters/redis/lua/ratelimit-1.lua`,
 * and one contract suite (test/ratelimit.contract.test.ts): the in-process store
 * (embedded default) and the Redis store (atomic across every api process).
 *
 * The same port also remembers one-time tokens (a solved bot challenge is
 * single-use) and counts distinct members in a window (shoppers per IP).
 */
import type { RateRule } from './config.js';

export interface RateDecision {
  allowed: boolean;
  /** When refused: how long until one more request fits, in ms (always >= 1 when refused). */
  retryAfterMs: number;
}

/**
 * The decision rule. `tat` is the stored theoretical arrival time (µs, or undefined
 * when the key is new). Each request of `cost` pushes it by `cost * interval`; a
 * request is allowed while the pushed time stays within `period` of now, so a full
 * burst of `count` passes at once and then one every `interval`.
 */
export function gcra(
  tat: number | undefined,
  nowMs: number,
  rule: RateRule,
  cost = 1,
): { allowed: boolean; tat: number; retryAfterMs: number } {
  // Whole microseconds throughout, so the Lua twin computes bit for bit the same.
  const now = Math.floor(nowMs * 1000);
  const period = rule.periodSeconds * 1_000_000;
  const interval = Math.floor(period / rule.count);
  const base = tat !== undefined && tat > now ? tat : now;
  const next = base + cost * interval;
  const allowAt = next - period;
  if (allowAt > now) {
    return { allowed: false, tat: tat ?? now, retryAfterMs: Math.max(1, Math.ceil((allowAt - now) / 1000)) };
  }
  return { allowed: true, tat: next, retryAfterMs: 0 };
}

/** One bucket of a request's rate-limit check. */
export interface Bucket {
  key: string;
  rule: RateRule;
  /** Slots this request takes from the bucket: a whole number, 1 when left out. */
  cost?: number;
}

/** Why `takeAll` cannot take these (a cost that is not a whole number >= 0, a time that is not a number), or undefined. */
export function badCheck(buckets: readonly Bucket[], nowMs: number): RangeError | undefined {
  if (!Number.isFinite(nowMs)) return new RangeError(`A rate-limit check's time must be a number of ms, not ${nowMs}`);
  for (const b of buckets) {
    if (b.cost !== undefined && !(Number.isSafeInteger(b.cost) && b.cost >= 0)) return new RangeError(`A bucket's cost must be a whole number >= 0, not ${b.cost}`);
  }
  return undefined;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  /** Takes `cost` from the bucket `key` under `rule`, atomically. */
  take(key: string, rule: RateRule, nowMs: number, cost?: number): Promise<RateDecision>;
  /**
   * A request's buckets, taken in turn: allowed when every one is; else the first refusal's wait,
   * the buckets before it staying taken (as `take` called on each in turn).
   */
  takeAll(buckets: readonly Bucket[], nowMs: number): Promise<RateDecision>;
  /** True the first time `key` is seen within `ttlSeconds`, false on every replay. */
  once(key: string, ttlSeconds: number): Promise<boolean>;
  /** Adds `member` to the set `key` (kept `windowSeconds`) and returns how many distinct members it holds. */
  distinct(key: string, member: string, windowSeconds: number, nowMs: number): Promise<number>;
  close(): Promise<void>;
}

/** The in-process store: the embedded default (one api process). */
export class MemoryRateLimitStore implements RateLimitStore {
  readonly kind = 'memory' as const;
  private tats = new Map<string, { tat: number; expires: number }>();
  private seen = new Map<string, number>();
  private sets = new Map<string, { members: Set<string>; expires: number }>();
  private ops = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  async take(key: string, rule: RateRule, nowMs: number, cost = 1): Promise<RateDecision> {
    this.prune(nowMs);
    const prev = this.tats.get(key);
    const tat = prev && prev.expires > nowMs ? prev.tat : undefined;
    const d = gcra(tat, nowMs, rule, cost);
    if (d.allowed) this.tats.set(key, { tat: d.tat, expires: d.tat / 1000 });
    return { allowed: d.allowed, retryAfterMs: d.retryAfterMs };
  }

  async takeAll(buckets: readonly Bucket[], nowMs: number): Promise<RateDecision> {
    const bad = badCheck(buckets, nowMs);
    if (bad) throw bad;
    for (const b of buckets) {
      const d = await this.take(b.key, b.rule, nowMs, b.cost);
      if (!d.allowed) return d;
    }
    return { allowed: true, retryAfterMs: 0 };
  }

  async once(key: string, ttlSeconds: number): Promise<boolean> {
    const now = this.clock();
    this.prune(now);
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    this.seen.set(key, now + ttlSeconds * 1000);
    return true;
  }

  async distinct(key: string, member: string, windowSeconds: number, nowMs: number): Promise<number> {
    this.prune(nowMs);
    let s = this.sets.get(key);
    if (!s || s.expires <= nowMs) {
      s = { members: new Set(), expires: nowMs + windowSeconds * 1000 };
      this.sets.set(key, s);
    }
    s.members.add(member);
    return s.members.size;
  }

  /** Drops expired entries now and then, so memory stays bounded by live keys. */
  private prune(nowMs: number) {
    if (++this.ops % 10_000 !== 0) return;
    for (const [k, v] of this.tats) if (v.expires <= nowMs) this.tats.delete(k);
    const now = Math.max(nowMs, this.clock());
    for (const [k, v] of this.seen) if (v <= now) this.seen.delete(k);
    for (const [k, v] of this.sets) if (v.expires <= nowMs) this.sets.delete(k);
  }

  async close(): Promise<void> {}
}
