import { createHmac, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import type { Actor } from './domain/context.js';

export class AuthError extends Error {}

export interface Verifier {
  /** Verifies a bearer token; throws AuthError with a reason a client can act on. */
  verify(token: string): Promise<Actor>;
  /**
   * What `verify` would answer from memory right now, without waiting: the actor, the
   * refusal, or undefined when the token must be verified (a verifier that remembers nothing).
   */
  peek?(token: string): Actor | AuthError | undefined;
}

export interface VerifierOptions {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

const SUB_RE = /^[A-Za-z0-9_.:@|-]{1,128}$/;

function actorOf(payload: JWTPayload): Actor {
  const sub = payload.sub;
  if (!sub || !SUB_RE.test(sub)) throw new AuthError('The token has no valid subject (sub)');
  const raw = (payload as { roles?: unknown }).roles;
  const roles = Array.isArray(raw) ? raw.filter((r): r is string => typeof r === 'string') : [];
  return {
    userId: sub,
    roles,
    issuedAtMs: typeof payload.iat === 'number' ? payload.iat * 1000 : undefined,
    expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  };
}

export function createVerifier(opts: VerifierOptions): Verifier {
  const verifyOpts = { issuer: opts.issuer, audience: opts.audience, clockTolerance: 5 };
  if (opts.jwksUrl) {
    const jwks = createRemoteJWKSet(new URL(opts.jwksUrl));
    return {
      async verify(token) {
        try {
          const { payload } = await jwtVerify(token, jwks, { ...verifyOpts, algorithms: ['RS256', 'ES256'] });
          return actorOf(payload);
        } catch (err) {
          if (err instanceof AuthError) throw err;
          throw new AuthError(`Invalid token: ${(err as Error).message}`);
        }
      },
    };
  }
  if (!opts.secret) throw new Error('createVerifier needs a secret or a JWKS URL');
  const plain = plainHs256(opts.secret, verifyOpts);
  // Imported once: handing jose the raw bytes makes it import the key again on every verify,
  // which more than doubles the cost of a token seen for the first time.
  const key = globalThis.crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return {
    async verify(token) {
      // The common case (see plainHs256) without jose; anything else, and every refusal, is jose's to judge.
      const fast = plain(token);
      if (fast) return actorOf(fast);
      try {
        const { payload } = await jwtVerify(token, await key, { ...verifyOpts, algorithms: ['HS256'] });
        return actorOf(payload);
      } catch (err) {
        if (err instanceof AuthError) throw err;
        throw new AuthError(`Invalid token: ${(err as Error).message}`);
      }
    },
  };
}

const B64URL = /^[A-Za-z0-9_-]+$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
/** Header members a plain HS256 JWT may carry (`kid` is ignored with one secret, as jose does). */
const PLAIN_HEADER = new Set(['alg', 'typ', 'kid']);

function plainObject(text: string): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || Object.prototype.toString.call(v) !== '[object Object]') return undefined;
  const proto = Object.getPrototypeOf(v);
  return proto === null || Object.getPrototypeOf(proto) === null ? (v as Record<string, unknown>) : undefined;
}

/** A canonical base64url part (it re-encodes to itself, so any decoder reads the same bytes) holding a JSON object. */
function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    const bytes = Buffer.from(part, 'base64url');
    if (bytes.toString('base64url') !== part) return undefined;
    return plainObject(strictUtf8.decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * A synchronous HS256 check (node:crypto HMAC, constant-time compare) for the plain shape
 * of token our issuers make: three canonical base64url parts, a header of only alg HS256
 * (and typ/kid), a JSON object payload, and claims that pass exactly the checks jose's
 * jwtVerify makes with the same options (iat/nbf/exp numbers when present, nbf and exp
 * against the clock with the same tolerance, iss and aud when configured). It only ever
 * *accepts*: it returns the payload when jose would accept the token, and undefined for
 * everything else (a bad signature, an expired token, any unusual header such as crit or
 * b64), which then goes to jose, so every refusal is jose's, with jose's message. jose's
 * WebCrypto verification was the largest single CPU cost of a first-seen token (an async
 * crypto job per call).
 */
export function plainHs256(secret: string, opts: { issuer?: string; audience?: string; clockTolerance: number }) {
  const key = Buffer.from(secret, 'utf8');
  let knownHeader = '';
  return (token: string): JWTPayload | undefined => {
    const d1 = token.indexOf('.');
    const d2 = token.indexOf('.', d1 + 1);
    if (d1 <= 0 || d2 <= d1 + 1 || token.indexOf('.', d2 + 1) !== -1) return undefined;
    const head = token.slice(0, d1);
    const body = token.slice(d1 + 1, d2);
    const sig = token.slice(d2 + 1);
    if (sig.length !== 43 || !B64URL.test(sig) || !B64URL.test(body)) return undefined;
    if (head !== knownHeader) {
      if (!B64URL.test(head)) return undefined;
      const h = decodePart(head);
      if (!h || h.alg !== 'HS256' || Object.keys(h).some((k) => !PLAIN_HEADER.has(k))) return undefined;
      knownHeader = head;
    }
    // The canonical encoding of the expected MAC, compared in constant time: a signature
    // spelled any other way (even one jose would decode to the same bytes) goes to jose.
    const want = Buffer.from(createHmac('sha256', key).update(token.slice(0, d2)).digest('base64url'));
    const got = Buffer.from(sig);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const p = decodePart(body);
    if (!p) return undefined;
    for (const c of ['iat', 'nbf', 'exp'] as const) if (p[c] !== undefined && typeof p[c] !== 'number') return undefined;
    const now = Math.floor(Date.now() / 1000);
    if (typeof p.nbf === 'number' && p.nbf > now + opts.clockTolerance) return undefined;
    if (typeof p.exp === 'number' && p.exp <= now - opts.clockTolerance) return undefined;
    if (opts.issuer !== undefined && (!Object.hasOwn(p, 'iss') || p.iss !== opts.issuer)) return undefined;
    if (opts.audience !== undefined) {
      const aud = p.aud;
      const ok = typeof aud === 'string' ? aud === opts.audience : Array.isArray(aud) && aud.includes(opts.audience);
      if (!Object.hasOwn(p, 'aud') || !ok) return undefined;
    }
    return p as JWTPayload;
  };
}

/**
 * Signs the same HS256 token as `signToken`, at once (node:crypto, no promise): the load generator
 * mints one per shopper before a run, and 20,000 of jose's WebCrypto signatures left it a second of
 * work and garbage just as the run began. The lifetime is in seconds (default 12 h).
 */
export function signTokenSync(secret: string, claims: { sub: string; roles?: string[]; ttlSeconds?: number; issuer?: string; audience?: string }): string {
  const now = Math.floor(Date.now() / 1000);
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const payload = {
    roles: claims.roles ?? [],
    sub: claims.sub,
    iat: now,
    exp: now + (claims.ttlSeconds ?? 12 * 3600),
    ...(claims.issuer ? { iss: claims.issuer } : {}),
    ...(claims.audience ? { aud: claims.audience } : {}),
  };
  const head = `${enc({ alg: 'HS256' })}.${enc(payload)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

/** Signs an HS256 token (development, tests and the `npm run token` helper). */
export async function signToken(
  secret: string,
  claims: { sub: string; roles?: string[]; expiresIn?: string; issuer?: string; audience?: string },
): Promise<string> {
  let jwt = new SignJWT({ roles: claims.roles ?? [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '12h');
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
