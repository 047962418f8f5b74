// The proof-of-work challenge (ALTCHA) on reserve, on both backends (used solutions
// remembered in-process; in Redis). The client side is altcha-lib's own solver.
import { solveChallenge } from 'altcha-lib';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './support/backends.js';
import { type Harness, harness, TEST_SECRET } from './support/harness.js';
import { securedApp, testClock } from './support/security.js';

const RESERVE = /* GraphQL */ `
  mutation Reserve($input: ReserveInput!) {
    reserve(input: $input) {
      __typename
      ... on ReserveSuccess { reservation { id } }
      ... on CaptchaRequired { code message challenge }
      ... on Error { code }
    }
  }
`;

/** Solves a challenge the way the ALTCHA widget does, and encodes the payload it sends back. */
async function solve(challengeJson: string): Promise<string> {
  const ch = JSON.parse(challengeJson);
  const solution = await solveChallenge(ch.challenge, ch.salt, ch.algorithm, ch.maxnumber).promise;
  if (!solution) throw new Error('challenge not solvable');
  return Buffer.from(JSON.stringify({ algorithm: ch.algorithm, challenge: ch.challenge, number: solution.number, salt: ch.salt, signature: ch.signature })).toString('base64');
}

/** A token issued at a chosen time. */
const tokenAt = (sub: string, iatMs: number) =>
  new SignJWT({ roles: [] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(Math.floor(iatMs / 1000))
    .setExpirationTime('12h')
    .sign(new TextEncoder().encode(TEST_SECRET));

describe.each(BACKENDS)('reserve challenge on %s', (backend) => {
  let h: Harness;
  const clock = testClock();
  beforeAll(async () => {
    h = await harness(backend, { now: clock.now });
  }, 180_000); // PGlite start-up is slow on a loaded machine
  afterAll(async () => {
    await h?.close();
  });
  const product = () => h.product({ totalQuantity: 100, sale: { startsAt: new Date(clock.now().getTime() - 600_000).toISOString(), perUserLimit: 10 } });
  const oldToken = (sub: string) => tokenAt(sub, clock.now().getTime() - 3_600_000);

  it('CAPTCHA=always: asks, accepts a solved challenge once, refuses the replay', async () => {
    const s = securedApp(h, { CAPTCHA: 'always', CAPTCHA_MAX_NUMBER: '2000', RATE_LIMIT: 'off' });
    const { id } = await product();
    const t = await oldToken('human');
    const ask = await s.gql(RESERVE, { input: { productId: id } }, t);
    expect(ask.body.data.reserve).toMatchObject({ __typename: 'CaptchaRequired', code: 'CAPTCHA_REQUIRED' });
    const answer = await solve(ask.body.data.reserve.challenge);
    const ok = await s.gql(RESERVE, { input: { productId: id, captcha: answer } }, t);
    expect(ok.body.data.reserve.__typename).toBe('ReserveSuccess');
    // The same answer again, even fired 10 times at once: refused, a fresh challenge instead.
    const replays = await Promise.all(Array.from({ length: 10 }, () => s.gql(RESERVE, { input: { productId: id, captcha: answer } }, t)));
    expect(replays.every((r) => r.body.data.reserve.__typename === 'CaptchaRequired')).toBe(true);
    expect(replays[0].body.data.reserve.challenge).not.toBe(ask.body.data.reserve.challenge);
    expect((await h.ledger(id)).reserved).toBe(1);
    // On the REST mirror: 428 with the challenge.
    const rest = await s.post('/reserve-inventory', { product_id: id }, t);
    expect(rest.status).toBe(428);
    expect(rest.body.error.code).toBe('CAPTCHA_REQUIRED');
    const restOk = await s.post('/reserve-inventory', { product_id: id, captcha: await solve(rest.body.error.challenge) }, t);
    expect(restOk.status).toBe(200);
  });

  it('refuses a stale challenge, a wrong answer, a forged one and one solved for another shopper', async () => {
    const s = securedApp(h, { CAPTCHA: 'always', CAPTCHA_MAX_NUMBER: '2000', CAPTCHA_TTL_SECONDS: '60', RATE_LIMIT: 'off' });
    const { id } = await product();
    const t = await oldToken('slowpoke');
    const ask = await s.gql(RESERVE, { input: { productId: id } }, t);
    const answer = await solve(ask.body.data.reserve.challenge);
    clock.advance(61_000);
    const stale = await s.gql(RESERVE, { input: { productId: id, captcha: answer } }, t);
    expect(stale.body.data.reserve.__typename).toBe('CaptchaRequired');
    expect(stale.body.data.reserve.message).toMatch(/expired|already used|wrong/);

    const fresh = await s.gql(RESERVE, { input: { productId: id } }, t);
    const good = JSON.parse(Buffer.from(await solve(fresh.body.data.reserve.challenge), 'base64').toString());
    const wrong = Buffer.from(JSON.stringify({ ...good, number: good.number + 1 })).toString('base64');
    expect((await s.gql(RESERVE, { input: { productId: id, captcha: wrong } }, t)).body.data.reserve.__typename).toBe('CaptchaRequired');
    const forged = Buffer.from(JSON.stringify({ ...good, signature: 'f'.repeat(64) })).toString('base64');
    expect((await s.gql(RESERVE, { input: { productId: id, captcha: forged } }, t)).body.data.reserve.__typename).toBe('CaptchaRequired');
    expect((await s.gql(RESERVE, { input: { productId: id, captcha: 'not base64 json' } }, t)).body.data.reserve.__typename).toBe('CaptchaRequired');
    // Solved for slowpoke, presented by another account: refused.
    const other = await oldToken('farm-account');
    const stolen = Buffer.from(JSON.stringify(good)).toString('base64');
    expect((await s.gql(RESERVE, { input: { productId: id, captcha: stolen } }, other)).body.data.reserve.__typename).toBe('CaptchaRequired');
    // The right shopper with the untouched answer still gets through.
    expect((await s.gql(RESERVE, { input: { productId: id, captcha: stolen } }, t)).body.data.reserve.__typename).toBe('ReserveSuccess');
    expect((await h.ledger(id)).reserved).toBe(1);
  });

  it('CAPTCHA=suspicious: an ordinary shopper is never asked', async () => {
    const s = securedApp(h, { CAPTCHA: 'suspicious', RATE_LIMIT: 'off' });
    const { id } = await product();
    const r = await s.gql(RESERVE, { input: { productId: id } }, await oldToken('regular'), '198.51.100.1');
    expect(r.body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('CAPTCHA=suspicious: asks on a burst from one shopper', async () => {
    const s = securedApp(h, { CAPTCHA: 'suspicious', CAPTCHA_BURST_COUNT: '3', CAPTCHA_MAX_NUMBER: '2000', RATE_LIMIT: 'off' });
    const { id } = await product();
    const t = await oldToken('burster');
    const kinds = [];
    for (let i = 0; i < 5; i++) kinds.push((await s.gql(RESERVE, { input: { productId: id } }, t)).body.data.reserve.__typename);
    expect(kinds).toEqual(['ReserveSuccess', 'ReserveSuccess', 'ReserveSuccess', 'CaptchaRequired', 'CaptchaRequired']);
    const ask = await s.gql(RESERVE, { input: { productId: id } }, t);
    const solved = await s.gql(RESERVE, { input: { productId: id, captcha: await solve(ask.body.data.reserve.challenge) } }, t);
    expect(solved.body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('CAPTCHA=suspicious: asks when many shoppers come from one IP', async () => {
    const s = securedApp(h, { CAPTCHA: 'suspicious', CAPTCHA_SHOPPERS_PER_IP: '3', RATE_LIMIT: 'off' });
    const { id } = await product();
    const kinds = [];
    for (let i = 0; i < 5; i++) kinds.push((await s.gql(RESERVE, { input: { productId: id } }, await oldToken(`flat-${i}`), '203.0.113.50')).body.data.reserve.__typename);
    expect(kinds).toEqual(['ReserveSuccess', 'ReserveSuccess', 'ReserveSuccess', 'CaptchaRequired', 'CaptchaRequired']);
    // The same shoppers from their own IPs are fine.
    expect((await s.gql(RESERVE, { input: { productId: id } }, await oldToken('flat-4'), '203.0.113.51')).body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('CAPTCHA=suspicious: asks when the token was minted seconds before the sale', async () => {
    const s = securedApp(h, { CAPTCHA: 'suspicious', CAPTCHA_FRESH_TOKEN_SECONDS: '60', RATE_LIMIT: 'off' });
    const startsAt = clock.now().getTime() - 1000;
    const { id } = await h.product({ totalQuantity: 10, sale: { startsAt: new Date(startsAt).toISOString(), perUserLimit: 5 } });
    const minted = await tokenAt('just-in-time', startsAt - 5_000);
    expect((await s.gql(RESERVE, { input: { productId: id } }, minted)).body.data.reserve.__typename).toBe('CaptchaRequired');
    const prepared = await tokenAt('planned-ahead', startsAt - 3_600_000);
    expect((await s.gql(RESERVE, { input: { productId: id } }, prepared)).body.data.reserve.__typename).toBe('ReserveSuccess');
  });

  it('CAPTCHA=suspicious: follows an operator who moves the start (rescheduleSale) at once', async () => {
    const s = securedApp(h, { CAPTCHA: 'suspicious', CAPTCHA_FRESH_TOKEN_SECONDS: '60', RATE_LIMIT: 'off' });
    const now = clock.now().getTime();
    const { id } = await h.product({ totalQuantity: 10, sale: { startsAt: new Date(now + 1_800_000).toISOString(), perUserLimit: 5 } });
    const minted = await tokenAt('moved-start', now - 5_000);
    // Half an hour before the start the token is not fresh: refused only because the sale has not opened.
    expect((await s.gql(RESERVE, { input: { productId: id } }, minted)).body.data.reserve.__typename).toBe('SaleNotOpen');
    // The operator opens the sale now: the same token was minted seconds before it.
    const moved = await h.gql(`mutation($id: ID!, $at: DateTime!) { rescheduleSale(productId: $id, startsAt: $at) { sale { state } } }`, { id, at: new Date(now).toISOString() }, await h.admin());
    expect(moved.data.rescheduleSale.sale.state).toBe('LIVE');
    expect((await s.gql(RESERVE, { input: { productId: id } }, minted)).body.data.reserve.__typename).toBe('CaptchaRequired');
  });

  it('CAPTCHA=off (the default) never asks', async () => {
    const s = securedApp(h, { RATE_LIMIT: 'off' });
    const { id } = await product();
    const t = await tokenAt('whoever', clock.now().getTime());
    const out = await Promise.all(Array.from({ length: 8 }, () => s.gql(RESERVE, { input: { productId: id } }, t, '203.0.113.50')));
    expect(out.map((r) => r.body.data.reserve.__typename)).not.toContain('CaptchaRequired');
  });
});
