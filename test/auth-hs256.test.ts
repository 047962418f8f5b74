// The synchronous HS256 check (plainHs256 in src/auth.ts) against jose itself: for jose-made
// tokens it must accept exactly what jose's jwtVerify accepts with the same options, and for
// forged or unusual tokens it must never accept (they go to jose, which refuses with its message).
import { createHmac } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { createVerifier, plainHs256, signToken, signTokenSync } from '../src/auth.js';

const SECRET = 'hs256-test-secret-hs256-test-secret-0123456789';
const OTHER = 'another-secret-another-secret-another-secret-99';
const enc = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
/** A token signed by hand with any header and payload text (forgeries and odd shapes). */
const raw = (header: unknown, payload: unknown, secret = SECRET) => {
  const head = `${enc(header)}.${enc(payload)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
};
const jose = (claims: Record<string, unknown>, opts: { header?: Record<string, unknown>; secret?: string } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...opts.header }).sign(new TextEncoder().encode(opts.secret ?? SECRET));

type Opts = { issuer?: string; audience?: string };
const reference = async (token: string, o: Opts) => {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(SECRET), { ...o, clockTolerance: 5, algorithms: ['HS256'] });
    return { ok: payload };
  } catch (err) {
    return { error: (err as Error).message };
  }
};

async function cases(o: Opts): Promise<[string, string][]> {
  const t = now();
  const base = { sub: 'alice', roles: [], iat: t, exp: t + 600, ...(o.issuer ? { iss: o.issuer } : {}), ...(o.audience ? { aud: o.audience } : {}) };
  const good = await jose(base);
  const [h, p, s] = good.split('.');
  const flip = (c: string) => (c === 'A' ? 'B' : 'A');
  return [
    ['jose-made', good],
    ['signToken', await signToken(SECRET, { sub: 'bob', issuer: o.issuer, audience: o.audience })],
    ['signTokenSync', signTokenSync(SECRET, { sub: 'erin', roles: ['admin'], issuer: o.issuer, audience: o.audience })],
    ['signTokenSync, expired', signTokenSync(SECRET, { sub: 'erin', ttlSeconds: -60, issuer: o.issuer, audience: o.audience })],
    ['typ and kid in the header', await jose(base, { header: { typ: 'JWT', kid: 'k1' } })],
    ['audience as an array', await jose({ ...base, aud: [o.audience ?? 'x', 'other'] })],
    ['no exp', await jose({ ...base, exp: undefined })],
    ['nbf now', await jose({ ...base, nbf: t })],
    ['nbf within the tolerance', await jose({ ...base, nbf: t + 3 })],
    ['nbf in the future', await jose({ ...base, nbf: t + 60 })],
    ['exp within the tolerance', await jose({ ...base, exp: t - 3 })],
    ['expired', await jose({ ...base, exp: t - 60 })],
    ['exp not a number', raw({ alg: 'HS256' }, { ...base, exp: String(t + 600) })],
    ['iat not a number', raw({ alg: 'HS256' }, { ...base, iat: 'yesterday' })],
    ['wrong issuer', await jose({ ...base, iss: 'https://evil.example/' })],
    ['no issuer', await jose({ ...base, iss: undefined })],
    ['wrong audience', await jose({ ...base, aud: 'another-api' })],
    ['no audience', await jose({ ...base, aud: undefined })],
    ['other secret', await jose(base, { secret: OTHER })],
    ['tampered payload', `${h}.${enc({ ...base, roles: ['admin'] })}.${s}`],
    ['tampered signature', `${h}.${p}.${flip(s[0])}${s.slice(1)}`],
    ['signature with other trailing bits', `${h}.${p}.${s.slice(0, 42)}${String.fromCharCode(s.charCodeAt(42) ^ 1)}`],
    ['signature cut short', `${h}.${p}.${s.slice(0, 40)}`],
    ['no signature', `${h}.${p}.`],
    ['alg none', `${enc({ alg: 'none' })}.${p}.`],
    ['alg none, signed anyway', raw({ alg: 'none' }, base)],
    ['alg HS512 header over an HS256 MAC', raw({ alg: 'HS512' }, base)],
    ['alg RS256 header over an HS256 MAC', raw({ alg: 'RS256' }, base)],
    ['crit b64', raw({ alg: 'HS256', crit: ['b64'], b64: true }, base)],
    ['crit unknown', raw({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': 1 }, base)],
    ['b64 false without crit', raw({ alg: 'HS256', b64: false }, base)],
    ['extra header member', raw({ alg: 'HS256', jku: 'https://evil.example/jwks' }, base)],
    ['header is an array', raw(['HS256'], base)],
    ['payload is an array', raw({ alg: 'HS256' }, [base])],
    ['payload is not JSON', raw({ alg: 'HS256' }, 'not json')],
    ['payload is invalid UTF-8', (() => {
      const head = `${enc({ alg: 'HS256' })}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`;
      return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
    })()],
    ['padding in the payload', (() => {
      const head = `${h}.${Buffer.from(JSON.stringify(base)).toString('base64')}`;
      return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
    })()],
    ['four parts', `${good}.x`],
    ['two parts', `${h}.${p}`],
    ['empty', ''],
    ['not a jwt', 'not.a.jwt'],
  ];
}

describe.each<[string, Opts]>([
  ['no issuer or audience', {}],
  ['issuer and audience', { issuer: 'https://issuer.example/', audience: 'flashsale-api' }],
])('plain HS256 check against jose (%s)', (_name, o) => {
  it('accepts exactly what jose accepts, and createVerifier answers as jose does', async () => {
    const check = plainHs256(SECRET, { ...o, clockTolerance: 5 });
    const verifier = createVerifier({ secret: SECRET, ...o });
    let accepted = 0;
    for (const [label, token] of await cases(o)) {
      const want = await reference(token, o);
      const fast = check(token);
      // Never accepts what jose refuses; never differs in what it accepts.
      if (fast) expect({ label, payload: fast }).toEqual({ label, payload: want.ok });
      const got = await verifier.verify(token).then(
        (a) => ({ user: a.userId }),
        (err: Error) => ({ error: err.message }),
      );
      if (want.ok) {
        expect({ label, got }).toEqual({ label, got: { user: want.ok.sub } });
        accepted++;
      } else {
        expect({ label, got }).toEqual({ label, got: { error: `Invalid token: ${want.error}` } });
      }
    }
    expect(accepted).toBeGreaterThanOrEqual(7);
  });

  it('takes the jose-made tokens of the common shape itself (no async crypto)', async () => {
    const check = plainHs256(SECRET, { ...o, clockTolerance: 5 });
    const t = now();
    const claims = { sub: 'carol', roles: ['admin'], iat: t, exp: t + 600, ...(o.issuer ? { iss: o.issuer } : {}), ...(o.audience ? { aud: o.audience } : {}) };
    expect(check(await jose(claims))).toEqual(claims);
    expect(check(await jose(claims, { header: { typ: 'JWT' } }))).toEqual(claims);
    expect(check(await signToken(SECRET, { sub: 'dave', issuer: o.issuer, audience: o.audience }))).toMatchObject({ sub: 'dave' });
    expect(check(await jose(claims, { secret: OTHER }))).toBeUndefined();
  });

  it('signTokenSync makes the token signToken makes: the same claims, verified by jose', async () => {
    const t = now();
    const sync = signTokenSync(SECRET, { sub: 'frank', roles: ['admin'], ttlSeconds: 600, issuer: o.issuer, audience: o.audience });
    const { payload, protectedHeader } = await jwtVerify(sync, new TextEncoder().encode(SECRET), { ...o, algorithms: ['HS256'] });
    expect(protectedHeader).toEqual({ alg: 'HS256' });
    expect(payload).toEqual({ sub: 'frank', roles: ['admin'], iat: expect.any(Number), exp: (payload.iat as number) + 600, ...(o.issuer ? { iss: o.issuer } : {}), ...(o.audience ? { aud: o.audience } : {}) });
    expect(Math.abs((payload.iat as number) - t)).toBeLessThanOrEqual(1);
    const viaJose = await jwtVerify(await signToken(SECRET, { sub: 'frank', roles: ['admin'], expiresIn: '600s', issuer: o.issuer, audience: o.audience }), new TextEncoder().encode(SECRET), o);
    expect(Object.keys(payload).sort()).toEqual(Object.keys(viaJose.payload).sort());
    // Twelve hours unless told otherwise, as signToken.
    const long = await jwtVerify(signTokenSync(SECRET, { sub: 'frank', issuer: o.issuer, audience: o.audience }), new TextEncoder().encode(SECRET), o);
    expect((long.payload.exp as number) - (long.payload.iat as number)).toBe(12 * 3600);
    expect(long.payload.roles).toEqual([]);
  });
});
