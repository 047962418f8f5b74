// CORS_ORIGINS: which web origins' pages may read the API's answers. Checked at the HTTP level
// through a real port (the fast path and Yoga), and in a real browser, where CORS is enforced:
// a page on a listed origin reads the API, a page on any other origin is blocked. Browsers do not
// apply CORS to WebSockets, so the server checks an upgrade's Origin itself: real WebSocket
// clients, and the same two pages in the browser.
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import NodeWebSocket from 'ws';
import { type App, buildApp } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { loadSecurityConfig, SecurityConfigError } from '../src/security/config.js';
import { type Harness, harness, TEST_SECRET } from './support/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const INVENTORY = `query($id: ID!) { inventory(productId: $id) { availableQuantity } }`;

describe('CORS_ORIGINS', () => {
  let h: Harness;
  const apps: App[] = [];
  let productId: string;
  beforeAll(async () => {
    h = await harness('embedded');
    productId = (await h.product({ totalQuantity: 7 })).id;
  }, 180_000);
  afterAll(async () => {
    for (const a of apps) await a.stop().catch(() => {});
    await h?.close();
  });

  /** An app with CORS_ORIGINS=`origins` on a real port. */
  async function serve(origins?: string, env: Record<string, string> = {}): Promise<string> {
    const app = buildApp(h.backend.runtime.deps, {
      verifier: createVerifier({ secret: TEST_SECRET }),
      security: loadSecurityConfig({ RATE_LIMIT: 'off', ...env, ...(origins === undefined ? {} : { CORS_ORIGINS: origins }) }, true),
      production: true,
    });
    apps.push(app);
    last = app;
    return `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
  }
  let last: App | undefined;

  /**
   * Opens a graphql-ws socket with `origin` (none when undefined) and follows the product's stock:
   * its first `availableQuantity`, or the HTTP status that refused the upgrade.
   */
  const ticker = (base: string, origin?: string, headers: Record<string, string> = {}) =>
    new Promise<{ stock: number } | { refused: number; body: string }>((resolve, reject) => {
      const ws = new NodeWebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { headers, ...(origin === undefined ? {} : { origin }) });
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ refused: res.statusCode ?? 0, body }));
      });
      ws.on('error', reject);
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data));
        if (m.type === 'connection_ack') {
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }', variables: { id: productId } } }));
        } else if (m.type === 'next') {
          resolve({ stock: m.payload.data.stockChanged.availableQuantity });
          ws.close();
        } else reject(new Error(`unexpected message ${String(data)}`));
      });
    });
  const post = (base: string, origin?: string) =>
    fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(origin ? { origin } : {}) },
      body: JSON.stringify({ query: INVENTORY, variables: { id: productId } }),
    });
  const preflight = (base: string, origin: string) =>
    fetch(`${base}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  it('refuses a value that is not an origin at start-up, naming the variable', () => {
    for (const bad of ['https://shop.example.com/', 'shop.example.com', 'ftp://shop.example.com', 'https://shop.example.com/path', 'https://a.example,nonsense']) {
      expect(() => loadSecurityConfig({ CORS_ORIGINS: bad }, true)).toThrow(SecurityConfigError);
      expect(() => loadSecurityConfig({ CORS_ORIGINS: bad }, true)).toThrow(/CORS_ORIGINS/);
    }
    expect(loadSecurityConfig({}, true).corsOrigins).toBe('*');
    expect(loadSecurityConfig({ CORS_ORIGINS: 'OFF' }, true).corsOrigins).toBe('off');
    expect(loadSecurityConfig({ CORS_ORIGINS: ' https://a.example , http://localhost:5173 ' }, true).corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
  });

  it('with a list, answers listed origins (preflight and request) and no other, and every answer varies by Origin', async () => {
    const base = await serve('https://shop.example.com,https://m.example.com');
    const pre = await preflight(base, 'https://m.example.com');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://m.example.com');
    expect(pre.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);

    const ok = await post(base, 'https://shop.example.com');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
    expect(ok.headers.get('vary')).toMatch(/Origin/);
    expect((await ok.json()).data.inventory.availableQuantity).toBe(7);

    const other = await post(base, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const otherPre = await preflight(base, 'https://evil.example');
    expect(otherPre.headers.get('access-control-allow-origin')).toBeNull();
    // Not a sandboxed page's "null" either.
    expect((await post(base, 'null')).headers.get('access-control-allow-origin')).toBeNull();

    // Answers without an Origin (the fast path's, a CDN may cache them) say they vary by it too.
    const rest = await fetch(`${base}/inventory/${productId}`);
    expect(rest.headers.get('vary')).toMatch(/Origin/);
    const gql = await post(base);
    expect(gql.headers.get('vary')).toMatch(/Origin/);
    const restCors = await fetch(`${base}/inventory/${productId}`, { headers: { origin: 'https://shop.example.com' } });
    expect(restCors.headers.get('access-control-allow-origin')).toBe('https://shop.example.com');
  });

  it('by default answers any origin (as before); off answers none', async () => {
    const any = await serve();
    expect((await post(any, 'https://anyone.example')).headers.get('access-control-allow-origin')).toBe('https://anyone.example');
    const off = await serve('off');
    const r = await post(off, 'https://anyone.example');
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('WebSockets: with a list, a listed origin, the API\'s own and none open a socket; any other origin is refused 403', async () => {
    const base = await serve('https://shop.example.com,https://m.example.com');
    expect(await ticker(base, 'https://shop.example.com')).toEqual({ stock: 7 });
    expect(await ticker(base)).toEqual({ stock: 7 }); // native apps, servers
    expect(await ticker(base, base)).toEqual({ stock: 7 }); // the API's own pages (the storefront)
    for (const origin of ['https://evil.example', 'null', 'https://shop.example.com.evil.example', 'http://shop.example.com']) {
      expect(await ticker(base, origin)).toEqual({ refused: 403, body: expect.stringMatching(/CORS_ORIGINS/) });
    }
    expect(last!.live().refusedOrigin).toBe(4);
    expect(last!.live().sockets).toBeLessThanOrEqual(3);
    // Operators see them (a storefront on an origin missing from the list shows here).
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^flashsale_ws_refused_total\{reason="origin"\} 4$/m);
  });

  it('WebSockets: by default any origin opens a socket; with off only the API\'s own pages and clients without an origin', async () => {
    const any = await serve();
    expect(await ticker(any, 'https://anyone.example')).toEqual({ stock: 7 });
    expect(last!.live().refusedOrigin).toBe(0);
    const off = await serve('off');
    expect(await ticker(off, 'https://anyone.example')).toMatchObject({ refused: 403 });
    expect(await ticker(off, off)).toEqual({ stock: 7 });
    expect(await ticker(off)).toEqual({ stock: 7 });
  });

  it("WebSockets behind a trusted proxy: the API's own origin is the proxy's X-Forwarded-Host, only when TRUST_PROXY says so", async () => {
    const proxied = await serve('off', { TRUST_PROXY: '1' });
    const viaProxy = { 'x-forwarded-host': 'shop.example.com', 'x-forwarded-for': '203.0.113.7' };
    expect(await ticker(proxied, 'https://shop.example.com', viaProxy)).toEqual({ stock: 7 });
    // Host names compare without case.
    expect(await ticker(proxied, 'https://shop.example.com', { ...viaProxy, 'x-forwarded-host': 'Shop.Example.com' })).toEqual({ stock: 7 });
    expect(await ticker(proxied, 'https://evil.example', viaProxy)).toMatchObject({ refused: 403 });
    const direct = await serve('off');
    expect(await ticker(direct, 'https://shop.example.com', viaProxy)).toMatchObject({ refused: 403 });
  });

  it.skipIf(!existsSync(CHROMIUM))('in a real browser: a page on a listed origin reads the API, a page on another origin is blocked', async () => {
    // Two pages on two origins (different ports of 127.0.0.1); only the first is listed.
    const page = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>shop</title>'));
    const stranger = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>stranger</title>'));
    const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as { port: number }).port}`)));
    const [shopOrigin, strangerOrigin] = await Promise.all([listen(page), listen(stranger)]);
    const api = await serve(shopOrigin);
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'flashsale-cors-')), {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
      const tab = await context.newPage();
      const call = (pageUrl: string) =>
        tab.goto(pageUrl).then(() =>
          tab.evaluate(
            async ([url, query, id]) => {
              try {
                // A shopper's call as the SDK makes it: JSON and a bearer token (a preflight first).
                const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x.y.z' }, body: JSON.stringify({ query, variables: { id } }) });
                return { status: r.status, body: await r.text() };
              } catch (err) {
                return { error: String(err) };
              }
            },
            [`${api}/graphql`, INVENTORY, productId] as const,
          ),
        );
      const listed = await call(shopOrigin);
      expect('status' in listed && listed.status).toBe(200);
      expect(JSON.parse((listed as { body: string }).body).data.inventory.availableQuantity).toBe(7);
      const blocked = await call(strangerOrigin);
      expect(blocked).toEqual({ error: expect.stringMatching(/Failed to fetch/) });

      // The stock ticker over a WebSocket, as the storefront opens it: the browser sends the page's
      // origin with the upgrade, and only the listed page's socket opens.
      const follow = (pageUrl: string) =>
        tab.goto(pageUrl).then(() =>
          tab.evaluate(
            ([url, id]) =>
              new Promise<{ stock: number } | { closed: number }>((resolve) => {
                const ws = new WebSocket(url, 'graphql-transport-ws');
                ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init' }));
                ws.onmessage = (e) => {
                  const m = JSON.parse(String(e.data));
                  if (m.type === 'connection_ack') {
                    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }', variables: { id } } }));
                  } else if (m.type === 'next') {
                    resolve({ stock: m.payload.data.stockChanged.availableQuantity });
                    ws.close();
                  }
                };
                ws.onclose = (e) => resolve({ closed: e.code });
              }),
            [`${api.replace('http', 'ws')}/graphql`, productId] as const,
          ),
        );
      expect(await follow(shopOrigin)).toEqual({ stock: 7 });
      expect(await follow(strangerOrigin)).toEqual({ closed: 1006 });
    } finally {
      await context?.close();
      page.close();
      stranger.close();
    }
  }, 60_000);
});
