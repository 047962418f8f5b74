import { createHash } from 'node:crypto';
import { createChallenge, extractParams, verifySolution } from 'altcha-lib';
import type { Payload } from 'altcha-lib/types';
import type { Actor, Deps } from '../domain/context.js';
import { blockOf } from '../domain/blocks.js';
import { getProduct } from '../domain/inventory/products.js';
import type { SecurityConfig } from './config.js';
import type { Bucket } from './ratelimit.js';

export interface RateLimited {
  __typename: 'RateLimited';
  code: 'RATE_LIMITED';
  message: string;
  retryAfterSeconds: number;
}
export interface CaptchaRequired {
  __typename: 'CaptchaRequired';
  code: 'CAPTCHA_REQUIRED';
  message: string;
  challenge: string;
}

/** The operator blocked this shopper (blockShoppers) or the client's network (blockNetworks): not a union member; GraphQL throws it as FORBIDDEN, REST answers 403. */
export interface ShopperBlocked {
  __typename: 'ShopperBlocked';
  code: 'FORBIDDEN';
  message: string;
}

export const shopperBlocked: ShopperBlocked = {
  __typename: 'ShopperBlocked',
  code: 'FORBIDDEN',
  message: 'This account may not reserve: it was blocked by the operator',
};

/** The client's address is in a network the operator blocked (blockNetworks): answered as ShopperBlocked is. */
export const networkBlocked: ShopperBlocked = {
  __typename: 'ShopperBlocked',
  code: 'FORBIDDEN',
  message: 'Reserves from this network are blocked by the operator',
};

export const rateLimited = (retryAfterMs: number): RateLimited => {
  const s = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return { __typename: 'RateLimited', code: 'RATE_LIMITED', message: `Too many requests; try again in ${s} s`, retryAfterSeconds: s };
};

/** Why `reserve` asked for a challenge (logged, never shown to the client). */
export type Signal = 'always' | 'burst' | 'shared-ip' | 'fresh-token' | 'bad-solution';

/**
 * The bot checks every entry point runs before its domain call: rate limits per
 * shopper, per IP and per product, and the proof-of-work challenge (ALTCHA, solved by
 * the client, verified here with no third party). Built once per app; stateless
 * itself, its state lives in `deps.limiter` (Redis or in-process).
 */
export class Security {
  private readonly hmacKey: string;
  private readonly startsAt = new Map<string, { ms: number; until: number }>();

  constructor(
    private readonly deps: Deps,
    readonly config: SecurityConfig,
  ) {
    const current = deps.keyring.keys.get(deps.keyring.currentId)!;
    this.hmacKey = config.captcha.hmacKey ?? createHash('sha256').update('flashsale-altcha:').update(current).digest('base64url');
  }

  private now() {
    return this.deps.now().getTime();
  }

  /** Takes one from each bucket in turn; the first refusal wins (one store call for them all). */
  private async limit(buckets: Bucket[]): Promise<RateLimited | undefined> {
    if (!this.config.rateLimit.enabled) return undefined;
    const d = await this.deps.limiter.takeAll(buckets, this.now());
    return d.allowed ? undefined : rateLimited(d.retryAfterMs);
  }

  /** Reads (queries, subscriptions, GET /inventory): per shopper when signed in, per IP when known. */
  read(actor: Actor | undefined, ip: string | undefined): Promise<RateLimited | undefined> {
    const r = this.config.rateLimit.read;
    const buckets: Bucket[] = [];
    if (actor) buckets.push({ key: `read:u:${actor.userId}`, rule: r.shopper });
    if (ip) buckets.push({ key: `read:ip:${ip}`, rule: r.ip });
    return this.limit(buckets);
  }

  /** checkout and pay share one budget, apart from reserve's and reads'. */
  checkout(actor: Actor, ip: string | undefined): Promise<RateLimited | undefined> {
    const r = this.config.rateLimit.checkout;
    const buckets: Bucket[] = [{ key: `co:u:${actor.userId}`, rule: r.shopper }];
    if (ip) buckets.push({ key: `co:ip:${ip}`, rule: r.ip });
    return this.limit(buckets);
  }

  /** Runs before every reserve: a blocked shopper or network is refused, then the rate limits, then the challenge when the mode asks for one. */
  async reserve(actor: Actor, ip: string | undefined, productId: string, solution?: string | null): Promise<ShopperBlocked | RateLimited | CaptchaRequired | undefined> {
    const blocked = await blockOf(this.deps, actor.userId, ip);
    if (blocked) return blocked === 'shopper' ? shopperBlocked : networkBlocked;
    const r = this.config.rateLimit.reserve;
    const buckets: Bucket[] = [{ key: `rs:u:${actor.userId}`, rule: r.shopper }];
    if (ip) buckets.push({ key: `rs:ip:${ip}`, rule: r.ip });
    buckets.push({ key: `rs:p:${productId}`, rule: r.product });
    const limited = await this.limit(buckets);
    if (limited) return limited;
    return this.captcha(actor, ip, productId, solution);
  }

  private async captcha(actor: Actor, ip: string | undefined, productId: string, solution?: string | null): Promise<CaptchaRequired | undefined> {
    const c = this.config.captcha;
    if (c.mode === 'off') return undefined;
    if (solution) {
      if (await this.verify(actor, solution)) return undefined;
      return this.challenge(actor, 'bad-solution');
    }
    if (c.mode === 'always') return this.challenge(actor, 'always');
    const signal = await this.suspicious(actor, ip, productId);
    return signal ? this.challenge(actor, signal) : undefined;
  }

  /** The `suspicious` signals, cheapest first. */
  private async suspicious(actor: Actor, ip: string | undefined, productId: string): Promise<Signal | undefined> {
    const c = this.config.captcha;
    const now = this.now();
    if (actor.issuedAtMs !== undefined) {
      const startsAt = await this.saleStart(productId);
      if (startsAt !== undefined && actor.issuedAtMs > startsAt - c.freshTokenSeconds * 1000) return 'fresh-token';
    }
    const burst = await this.deps.limiter.take(`sig:burst:${actor.userId}`, { count: c.burstCount, periodSeconds: c.burstWindowSeconds }, now);
    if (!burst.allowed) return 'burst';
    if (ip && (await this.deps.limiter.distinct(`sig:ip:${ip}`, actor.userId, c.ipWindowSeconds, now)) > c.shoppersPerIp) {
      return 'shared-ip';
    }
    return undefined;
  }

  private async saleStart(productId: string): Promise<number | undefined> {
    // The in-memory stock copy carries the window and follows an operator's rescheduleSale at once.
    const known = this.deps.inventory.get(productId)?.startsAt;
    if (known) return Date.parse(known);
    const now = Date.now();
    const hit = this.startsAt.get(productId);
    if (hit && hit.until > now) return hit.ms;
    const p = await getProduct(this.deps.db, productId);
    if (!p) return undefined;
    if (this.startsAt.size > 10_000) this.startsAt.clear();
    this.startsAt.set(productId, { ms: p.startsAt.getTime(), until: now + 30_000 });
    return p.startsAt.getTime();
  }

  /** A fresh challenge bound to this shopper, expiring after CAPTCHA_TTL_SECONDS. */
  async challenge(actor: Actor, signal: Signal): Promise<CaptchaRequired> {
    const c = this.config.captcha;
    const ch = await createChallenge({
      hmacKey: this.hmacKey,
      maxNumber: c.maxNumber,
      expires: new Date(this.now() + c.ttlSeconds * 1000),
      params: { sub: actor.userId },
    });
    this.deps.log.info({ userId: actor.userId, signal }, 'reserve asked for a proof-of-work challenge');
    return {
      __typename: 'CaptchaRequired',
      code: 'CAPTCHA_REQUIRED',
      message:
        signal === 'bad-solution'
          ? 'The challenge answer was wrong, expired or already used; solve this new one and send it as `captcha`'
          : 'Solve this proof-of-work challenge (ALTCHA) and send the answer as `captcha`',
      challenge: JSON.stringify(ch),
    };
  }

  /** True once per valid, unexpired solution made for this shopper. */
  async verify(actor: Actor, solution: string): Promise<boolean> {
    let payload: Payload;
    try {
      const text = solution.trim().startsWith('{') ? solution : Buffer.from(solution, 'base64').toString('utf8');
      payload = JSON.parse(text) as Payload;
      if (!payload || typeof payload.signature !== 'string' || typeof payload.salt !== 'string') return false;
    } catch {
      return false;
    }
    if (extractParams(payload).sub !== actor.userId) return false;
    const expires = Number(extractParams(payload).expires);
    if (!Number.isFinite(expires) || expires * 1000 <= this.now()) return false;
    if (!(await verifySolution(payload, this.hmacKey, false).catch(() => false))) return false;
    // Single use: the signature is remembered until the challenge would have expired anyway.
    const ttl = Math.max(1, Math.ceil(expires - this.now() / 1000) + 1);
    return this.deps.limiter.once(`captcha:${payload.signature}`, ttl);
  }
}
