// Bearer tokens: HS256 with a shared secret, and RS256 from a JWKS served by a local
// HTTP server (the identity provider's side, at the network boundary).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { type Harness, harness, TEST_SECRET } from './support/harness.js';

const ISSUER = 'https://id.example.test/';
const AUDIENCE = 'flashsale-api';

let h: Harness;
let jwks: Server;
let jwksUrl: string;
let jwksHits = 0;
let idpKey: CryptoKey;
let otherKey: CryptoKey;

beforeAll(async () => {
  h = await harness('embedded');
  const pair = await generateKeyPair('RS256', { extractable: true });
  idpKey = pair.privateKey as CryptoKey;
  otherKey = (await generateKeyPair('RS256')).privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
  jwks = createServer((req, res) => {
    jwksHits++;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`;
}, 180_000); // PGlite start-up is slow on a loaded machine
afterAll(async () => {
  await h?.close();
  await new Promise((r) => jwks?.close(r));
});

const CART = '{ cart { id } }';

async function ask(app: ReturnType<typeof buildApp>, token: string) {
  const res = await app.fetch('http://test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: CART }),
  });
  return res.json() as Promise<{ data?: { cart: unknown }; errors?: { message: string; extensions: { code: string } }[] }>;
}

const rs = (claims: { sub?: string; iss?: string; aud?: string; exp?: number | string; kid?: string; roles?: string[] }, key: CryptoKey = idpKey) => {
  let jwt = new SignJWT({ roles: claims.roles ?? [] }).setProtectedHeader({ alg: 'RS256', kid: claims.kid ?? 'idp-1' }).setIssuedAt();
  if (claims.sub !== undefined) jwt = jwt.setSubject(claims.sub);
  if (claims.iss !== undefined) jwt = jwt.setIssuer(claims.iss);
  if (claims.aud !== undefined) jwt = jwt.setAudience(claims.aud);
  jwt = jwt.setExpirationTime(claims.exp ?? '10m');
  return jwt.sign(key);
};

const hs = (claims: { sub?: string; aud?: string; exp?: number | string }, secret = TEST_SECRET) => {
  let jwt = new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (claims.sub !== undefined) jwt = jwt.setSubject(claims.sub);
  if (claims.aud !== undefined) jwt = jwt.setAudience(claims.aud);
  return jwt.setExpirationTime(claims.exp ?? '10m').sign(new TextEncoder().encode(secret));
};

const unsigned = (payload: Record<string, unknown>) =>
  `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

const expectRefused = async (app: ReturnType<typeof buildApp>, token: string, reason?: RegExp) => {
  const r = await ask(app, token);
  expect(r.data?.cart ?? null).toBeNull();
  expect(r.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
  if (reason) expect(r.errors?.[0].message).toMatch(reason);
};

describe('HS256 secret with audience', () => {
  const app = () => buildApp(h.backend.runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET, audience: AUDIENCE }) });

  it('accepts a good token', async () => {
    const r = await ask(app(), await hs({ sub: 'alice', aud: AUDIENCE }));
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ cart: null });
  });

  it('refuses forged, expired, wrong-audience, subject-less and unsigned tokens', async () => {
    const a = app();
    await expectRefused(a, await hs({ sub: 'alice', aud: AUDIENCE }, 'another-secret-another-secret-another-secret'), /signature/);
    await expectRefused(a, await hs({ sub: 'alice', aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) - 60 }), /exp/);
    await expectRefused(a, await hs({ sub: 'alice', aud: 'some-other-api' }), /aud/);
    await expectRefused(a, await hs({ aud: AUDIENCE }), /subject/);
    await expectRefused(a, unsigned({ sub: 'alice', aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 }));
    await expectRefused(a, 'not.a.jwt');
    // A tampered payload (roles: admin) under the original signature.
    const good = await hs({ sub: 'alice', aud: AUDIENCE });
    const [head, , sig] = good.split('.');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', aud: AUDIENCE, roles: ['admin'], exp: Math.floor(Date.now() / 1000) + 600 })).toString('base64url');
    await expectRefused(a, `${head}.${body}.${sig}`, /signature/);
  });

  it('answers 401 with WWW-Authenticate on the REST mirror', async () => {
    const res = await app().fetch('http://test/reserve-inventory', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await hs({ sub: 'alice', aud: 'wrong' })}` },
      body: JSON.stringify({ product_id: 'x' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });
});

describe('JWKS URL with issuer and audience (local identity provider)', () => {
  const app = () => buildApp(h.backend.runtime.deps, { verifier: createVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE }) });

  it('accepts a token signed by a key in the JWKS, with the right issuer and audience', async () => {
    const before = jwksHits;
    const r = await ask(app(), await rs({ sub: 'bob', iss: ISSUER, aud: AUDIENCE }));
    expect(r.errors).toBeUndefined();
    expect(r.data).toEqual({ cart: null });
    expect(jwksHits).toBeGreaterThan(before);
  });

  it('refuses a forged key, wrong issuer, wrong audience, expired, HS256 (algorithm confusion) and none', async () => {
    const a = app();
    await expectRefused(a, await rs({ sub: 'bob', iss: ISSUER, aud: AUDIENCE }, otherKey), /signature/);
    await expectRefused(a, await rs({ sub: 'bob', iss: ISSUER, aud: AUDIENCE, kid: 'unknown-kid' }, otherKey));
    await expectRefused(a, await rs({ sub: 'bob', iss: 'https://evil.example.test/', aud: AUDIENCE }), /iss/);
    await expectRefused(a, await rs({ sub: 'bob', iss: ISSUER, aud: 'another-api' }), /aud/);
    await expectRefused(a, await rs({ sub: 'bob', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) - 120 }), /exp/);
    await expectRefused(a, await hs({ sub: 'bob', aud: AUDIENCE }));
    await expectRefused(a, unsigned({ sub: 'bob', iss: ISSUER, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 }));
  });

  it('maps roles: ["admin"] to the admin scope', async () => {
    const token = await rs({ sub: 'ops', iss: ISSUER, aud: AUDIENCE, roles: ['admin'] });
    const res = await app().fetch('http://test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation { createProduct(input: { name: "JWKS drop", priceAmount: 100, totalQuantity: 1, sale: { startsAt: "2026-01-01T00:00:00Z" } }) { id } }`,
      }),
    });
    const body = await res.json();
    expect(body.errors).toBeUndefined();
    expect(body.data.createProduct.id).toBeTruthy();
  });
});
