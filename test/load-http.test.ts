// The load generator's lean HTTP client (clients/load/http.ts) sends what the global fetch sends
// for the SDK's requests, and gives the SDK the same answers.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leanFetch } from '../clients/load/http.js';
import { createFlashSaleClient, FlashSaleError } from '../clients/sdk/src/index.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe('leanFetch', () => {
  const seen: Seen[] = [];
  let answer: { status: number; body: string } = { status: 200, body: '{}' };
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { host: _host, connection: _connection, 'user-agent': _ua, 'accept-encoding': _ae, 'accept-language': _al, 'sec-fetch-mode': _sfm, ...headers } = req.headers as Record<string, string>;
      seen.push({ method: req.method!, url: req.url!, headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(answer.status, { 'content-type': 'application/graphql-response+json' }).end(answer.body);
    });
  });
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const both = async <T>(run: (c: ReturnType<typeof createFlashSaleClient>) => Promise<T>) => {
    const out: { request: Seen; result: unknown }[] = [];
    for (const f of [globalThis.fetch, leanFetch()]) {
      seen.length = 0;
      const c = createFlashSaleClient({ url, getToken: () => 'tok-123', retries: 0, fetch: f });
      const result = await run(c).then(
        (v) => ({ ok: v }),
        (e: FlashSaleError) => ({ error: e.message, code: e.code, retryable: e.retryable }),
      );
      expect(seen).toHaveLength(1);
      out.push({ request: seen[0], result });
    }
    return out;
  };

  it('sends the same method, path, headers and body as fetch, and the SDK reads the same answer', async () => {
    answer = { status: 200, body: JSON.stringify({ data: { reserve: { __typename: 'SoldOut', code: 'SOLD_OUT', message: 'gone', productId: 'p1' } } }) };
    const [viaFetch, viaLean] = await both((c) => c.reserve({ productId: 'p1', quantity: 1, idempotencyKey: 'k-1' }));
    expect(viaLean).toEqual(viaFetch);
    expect(viaLean.request.headers).toMatchObject({ authorization: 'Bearer tok-123', 'content-type': 'application/json' });
    expect(JSON.parse(viaLean.request.body).variables).toEqual({ input: { productId: 'p1', quantity: 1, idempotencyKey: 'k-1' } });
  });

  it('reports a body-less 503 the same way', async () => {
    answer = { status: 503, body: 'busy' };
    const [viaFetch, viaLean] = await both((c) => c.inventory('p1'));
    expect(viaLean).toEqual(viaFetch);
    expect(viaLean.result).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
  });

  it('rejects when nothing listens, as fetch does', async () => {
    const dead = createFlashSaleClient({ url: 'http://127.0.0.1:1/graphql', retries: 0, fetch: leanFetch() });
    await expect(dead.inventory('p1')).rejects.toMatchObject({ code: 'NETWORK' });
  });
});
