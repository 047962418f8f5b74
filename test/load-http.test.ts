// The load generator's lean HTTP client (clients/load/http.ts) sends what the global fetch sends
// for the SDK's requests, and gives the SDK the same answers.
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
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

// The raw-socket client under leanFetch for http: URLs, against a server that writes its answers
// byte for byte: framing (length, chunked, until close), answers split anywhere, keep-alive reuse
// and its limits, and aborts.
describe('leanFetch over raw sockets', () => {
  let connections = 0;
  let requests = 0;
  /** What the server writes for the next request, in pieces written separately. */
  let script: (n: number) => (string | Buffer)[] = () => ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}'];
  let closeAfter = false;
  const sockets = new Set<import('node:net').Socket>();
  const server = createNetServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', async (d) => {
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        buf = buf.slice(end + 4 + len);
        const pieces = script(++requests);
        for (const p of pieces) {
          s.write(p);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (closeAfter) s.end();
      }
    });
  });
  let url: string;
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql?x=1`;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  const reset = () => {
    connections = 0;
    requests = 0;
    closeAfter = false;
  };

  it('reads length-framed answers split anywhere, and reuses one connection for sequential requests', async () => {
    reset();
    const body = JSON.stringify({ data: { ok: 'é'.repeat(50) } });
    const raw = `HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Twice: a\r\nX-Twice: b\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const bytes = Buffer.from(raw);
    // Split inside the status line, the head's end, and a two-byte UTF-8 character.
    const cut = [5, raw.indexOf('\r\n\r\n') + 2, bytes.length - 7];
    script = () => [bytes.subarray(0, cut[0]), bytes.subarray(cut[0], cut[1]), bytes.subarray(cut[1], cut[2]), bytes.subarray(cut[2])];
    const f = leanFetch();
    for (let i = 0; i < 3; i++) {
      const r = await f(url, { method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(201);
      expect(r.ok).toBe(true);
      expect(r.headers.get('Content-Type')).toBe('application/json');
      expect(r.headers.get('x-twice')).toBe('a, b');
      expect(r.headers.get('absent')).toBeNull();
      expect(await r.json()).toEqual(JSON.parse(body));
    }
    expect(requests).toBe(3);
    expect(connections).toBe(1);
  });

  it('decodes chunked answers and answers without a body', async () => {
    reset();
    script = (n) =>
      n === 1
        ? ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', '6;ext=1\r\n world\r\n', '0\r\n', 'X-Trailer: t\r\n\r\n']
        : ['HTTP/1.1 204 No Content\r\n\r\n'];
    const f = leanFetch();
    const a = await f(url, { method: 'GET' });
    expect(await a.text()).toBe('hello world');
    const b = await f(url, { method: 'GET' });
    expect(b.status).toBe(204);
    expect(await b.text()).toBe('');
    expect(connections).toBe(1);
  });

  it('reads an answer framed by the connection closing, and opens a new connection after `connection: close`', async () => {
    reset();
    closeAfter = true;
    script = () => ['HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\n\r\nbusy', ' now'];
    const f = leanFetch();
    const a = await f(url, { method: 'GET' });
    expect(a.status).toBe(503);
    expect(a.ok).toBe(false);
    expect(a.headers.get('retry-after')).toBe('1');
    expect(await a.text()).toBe('busy now');
    closeAfter = false;
    script = () => ['HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n1'];
    expect(await (await f(url, { method: 'GET' })).text()).toBe('1');
    expect(await (await f(url, { method: 'GET' })).text()).toBe('1');
    expect(connections).toBe(3);
  });

  it('does not reuse a connection past the keep-alive timeout the server announced', async () => {
    reset();
    script = () => ['HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 1\r\n\r\nk'];
    const f = leanFetch();
    await f(url, { method: 'GET' });
    await f(url, { method: 'GET' });
    expect(connections).toBe(1);
    await new Promise((r) => setTimeout(r, 600)); // 1 s announced, given up 0.5 s early
    await f(url, { method: 'GET' });
    expect(connections).toBe(2);
  });

  it('keeps at most maxSockets connections, queueing the rest', async () => {
    reset();
    script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n', 'x'];
    const f = leanFetch({ maxSockets: 3 });
    const all = await Promise.all(Array.from({ length: 12 }, () => f(url, { method: 'GET' }).then((r) => r.text())));
    expect(all).toEqual(Array(12).fill('x'));
    expect(requests).toBe(12);
    expect(connections).toBe(3);
  });

  it('preconnect opens connections ahead (never past maxSockets) that the requests then use', async () => {
    reset();
    script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n', 'p'];
    const f = leanFetch({ maxSockets: 4 });
    expect(await f.preconnect(url, 10)).toBe(4);
    await new Promise((r) => setTimeout(r, 50));
    expect([connections, requests]).toEqual([4, 0]);
    // Already open: asking again opens nothing more.
    expect(await f.preconnect(url, 4)).toBe(4);
    const all = await Promise.all(Array.from({ length: 8 }, () => f(url, { method: 'GET' }).then((r) => r.text())));
    expect(all).toEqual(Array(8).fill('p'));
    expect([connections, requests]).toEqual([4, 8]);
    // https goes through node:https's agent: nothing to open ahead.
    expect(await f.preconnect('https://127.0.0.1:1/', 2)).toBe(0);
  });

  it('rejects on an abort, on a malformed answer and on a connection that closes mid-answer', async () => {
    reset();
    script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n', '12'];
    const f = leanFetch();
    const ctl = new AbortController();
    const p = f(url, { method: 'GET', signal: ctl.signal });
    setTimeout(() => ctl.abort(), 30);
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await expect(f(url, { method: 'GET', signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    script = () => ['SPDY/9 nonsense\r\n\r\n'];
    await expect(f(url, { method: 'GET' })).rejects.toThrow(/Malformed HTTP status line/);
    closeAfter = true;
    script = () => ['HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12'];
    await expect(f(url, { method: 'GET' })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});
