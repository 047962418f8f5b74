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
  return { userId: sub, roles, issuedAtMs: typeof payload.iat === 'number' ? payload.iat * 1000 : undefined };
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
  // Imported once: handing jose the raw bytes makes it import the key again on every verify,
  // which more than doubles the cost of a token seen for the first time.
  const key = globalThis.crypto.subtle.importKey('raw', new TextEncoder().encode(opts.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  return {
    async verify(token) {
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
