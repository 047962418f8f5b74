import type { Actor } from '../domain/context.js';
import { AuthError, type Verifier } from '../auth.js';

export interface TokenCacheOptions {
  /** How long a verified token is trusted without verifying it again (ms); 0 turns the cache off. */
  ttlMs: number;
  /** At most this many tokens are held; the oldest half is dropped when full. */
  max?: number;
  now?: () => number;
}

const NO_ROLES: readonly string[] = Object.freeze([]);

type Entry = { actor: Actor; until: number } | { error: string; until: number };

/**
 * The `exp` claim of a token that was already verified (epoch ms), or undefined: for a verifier
 * that does not say it with the actor (ours do, from the payload they have just read).
 */
function expiryMs(token: string): number | undefined {
  const dot1 = token.indexOf('.');
  const dot2 = token.indexOf('.', dot1 + 1);
  if (dot1 < 0 || dot2 < 0) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(token.slice(dot1 + 1, dot2), 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Remembers verified tokens briefly, so a shopper who sends the same bearer token on
 * every request costs one HMAC/RSA verification per `ttlMs`, not one per request.
 * A token is never trusted past its own `exp`; refusals are remembered for a shorter
 * time (a flood of one bad token costs one verification per second).
 */
export function cachedVerifier(inner: Verifier, opts: TokenCacheOptions): Verifier {
  if (opts.ttlMs <= 0) return inner;
  const max = opts.max ?? 50_000;
  const now = opts.now ?? Date.now;
  const held = new Map<string, Entry>();
  const remember = (token: string, entry: Entry) => {
    if (held.size >= max) {
      // Maps iterate in insertion order: drop the oldest half.
      let drop = held.size >> 1;
      for (const k of held.keys()) {
        held.delete(k);
        if (--drop <= 0) break;
      }
    }
    held.set(token, entry);
  };
  const peek = (token: string, t: number): Actor | AuthError | undefined => {
    const hit = held.get(token);
    if (!hit || hit.until <= t) return undefined;
    return 'actor' in hit ? hit.actor : new AuthError(hit.error);
  };
  return {
    peek: (token) => peek(token, now()),
    async verify(token) {
      const t = now();
      const hit = peek(token, t);
      if (hit instanceof AuthError) throw hit;
      if (hit) return hit;
      try {
        const actor = await inner.verify(token);
        const exp = actor.expiresAtMs ?? expiryMs(token);
        const until = Math.min(t + opts.ttlMs, exp ?? Number.POSITIVE_INFINITY);
        // A copy the caller cannot change; a shopper's token has no roles, and they all share one.
        if (until > t) remember(token, { actor: Object.freeze({ ...actor, roles: actor.roles.length ? Object.freeze([...actor.roles]) : NO_ROLES }), until });
        return actor;
      } catch (err) {
        if (err instanceof AuthError) remember(token, { error: err.message, until: t + Math.min(opts.ttlMs, 1000) });
        throw err;
      }
    },
  };
}
