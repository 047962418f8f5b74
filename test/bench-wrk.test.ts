// The benchmark's wrk driver (bench/lib.ts loadWrk): every token used in turn, bodies checked, counts right.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasWrk, load } from '../bench/lib.js';

describe.skipIf(!hasWrk())('load with BENCH_GENERATOR=wrk', () => {
  const seen = new Map<string, number>();
  let answered = 0;
  let good = 0;
  const bodies: string[] = [];
  let url = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const token = String(req.headers.authorization).replace('Bearer ', '');
      seen.set(token, (seen.get(token) ?? 0) + 1);
      bodies.push(body);
      answered++;
      // Tokens t0, t2, ... get the expected answer; the others a different one, and t9 a 503.
      const n = Number(token.slice(1));
      if (n === 9) return void res.writeHead(503).end('{"error":"busy"}');
      if (n % 2 === 0) good++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(n % 2 === 0 ? '{"ok":"yes \\"quoted\\""}' : '{"ok":"no"}');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('rotates the tokens over every request, sends the body, and counts expected bodies and failures', async () => {
    const tokens = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const body = JSON.stringify({ query: 'mutation { reserve(input: {productId: "p\\"1"}) { __typename } }', variables: { line: 'a\nb' } });
    const r = await load({ generator: 'wrk', url, method: 'POST', body, tokens, connections: 4, durationSeconds: 1, warmupSeconds: 0, expect: '"yes \\"quoted\\""' });
    expect(r.requests).toBeGreaterThan(100);
    // wrk counts what it got back; the server may have answered a few more as the run stopped.
    expect(r.requests).toBeLessThanOrEqual(answered);
    expect(r.requests).toBeGreaterThanOrEqual(answered - 4);
    expect(r.matched).toBeLessThanOrEqual(good);
    expect(r.matched).toBeGreaterThanOrEqual(good - 4);
    expect(r.matched).toBeGreaterThan(r.requests * 0.4);
    expect(r.non2xx).toBeGreaterThan(0);
    expect(r.non2xx).toBeLessThan(r.requests * 0.2);
    // One sequence over all tokens: each used about as often as the others.
    expect([...seen.keys()].sort()).toEqual([...tokens].sort());
    const counts = [...seen.values()];
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(2);
    expect(new Set(bodies)).toEqual(new Set([body]));
    expect(r.p99).toBeGreaterThan(0);
    expect(r.p99).toBeGreaterThanOrEqual(r.p50);
  });
});
