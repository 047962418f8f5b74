import type { RedisClient } from '../adapters/redis/client.js';

/**
 * Reserve attempts per product per second, for the operator's view (`saleStats`).
 * Every api process counts its own in one-second buckets and, when Redis is there,
 * adds them every 250 ms to a shared per-second hash so any process can answer for
 * the whole fleet. Without Redis (embedded, or Redis down) the local count is used.
 */
const WINDOW_S = 5;

/** One more attempt at `productId` in second `sec`. */
function count(m: Map<number, Map<string, number>>, sec: number, productId: string): void {
  let b = m.get(sec);
  if (!b) m.set(sec, (b = new Map()));
  b.set(productId, (b.get(productId) ?? 0) + 1);
}

export class AttemptCounter {
  private local = new Map<number, Map<string, number>>();
  private pending = new Map<number, Map<string, number>>();
  private timer?: NodeJS.Timeout;
  private prunedAt = 0;

  constructor(private readonly redis?: { client: RedisClient; prefix: string }) {
    if (redis) {
      this.timer = setInterval(() => void this.flush(), 250);
      this.timer.unref();
    }
  }

  /** Every second's hash shares one hash tag: a flush's pipeline is one slot on a Redis Cluster. */
  private key(sec: number) {
    return `${this.redis!.prefix}{stats}:attempts:${sec}`;
  }

  record(productId: string, nowMs = Date.now()): void {
    const sec = Math.floor(nowMs / 1000);
    count(this.local, sec, productId);
    if (this.redis) count(this.pending, sec, productId);
    // Seconds past the window are dropped once a second, not on every attempt.
    if (sec !== this.prunedAt) {
      this.prunedAt = sec;
      for (const s of this.local.keys()) if (s < sec - WINDOW_S - 1) this.local.delete(s);
    }
  }

  private async flush(): Promise<void> {
    if (!this.redis || this.pending.size === 0 || this.redis.client.status !== 'ready') {
      if (this.pending.size > 50) this.pending.clear();
      return;
    }
    const batch = this.pending;
    this.pending = new Map();
    const p = this.redis.client.pipeline();
    for (const [sec, byProduct] of batch) {
      for (const [id, n] of byProduct) p.hincrby(this.key(sec), id, n);
      p.expire(this.key(sec), 120);
    }
    await p.exec().catch(() => {});
  }

  /** Mean attempts per second over the last WINDOW_S full seconds. */
  async perSecond(productId: string, nowMs = Date.now()): Promise<number> {
    const now = Math.floor(nowMs / 1000);
    const secs = Array.from({ length: WINDOW_S }, (_, i) => now - 1 - i);
    if (this.redis && this.redis.client.status === 'ready') {
      try {
        const p = this.redis.client.pipeline();
        for (const s of secs) p.hget(this.key(s), productId);
        const out = (await p.exec()) ?? [];
        return out.reduce((sum, [, v]) => sum + Number(v ?? 0), 0) / WINDOW_S;
      } catch {
        // fall back to this process's own count
      }
    }
    return secs.reduce((sum, s) => sum + (this.local.get(s)?.get(productId) ?? 0), 0) / WINDOW_S;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
