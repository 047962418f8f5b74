// Fan-out: shared stock streams, slow consumers dropped, many idle sockets, bad input answered clearly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildApp, type App } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { collect, COUNTDOWN, ORDER, sse, STOCK, wsClient } from './support/live.js';

describe('fan-out and bad input (embedded)', () => {
  let h: Harness;
  let app: App;
  let port: number;
  beforeAll(async () => {
    h = await harness('embedded');
    // A small backlog bound, so a slow consumer is easy to produce.
    app = buildApp(h.backend.runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }), wsMaxBufferedBytes: 64 * 1024 });
    port = await app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await h?.close();
  });
  const url = () => `http://127.0.0.1:${port}/graphql`;

  it('runs one shared stream per distinct operation and variables, and every socket gets the same values', async () => {
    const { id } = await h.product({ totalQuantity: 3 });
    const clients = Array.from({ length: 20 }, () => wsClient(port));
    const subs = clients.map((c) => collect<{ stockChanged: { availableQuantity: number } }>(c, STOCK, { id }));
    const other = collect<{ stockChanged: { soldOut: boolean } }>(clients[0], `subscription($id: ID!) { stockChanged(productId: $id) { soldOut } }`, { id });
    await Promise.all([...subs, other].map((s) => s.until(() => true)));
    const stats = app.live();
    expect(stats.sharedGroups).toBe(2);
    expect(stats.sharedSubscribers).toBe(21);
    for (let i = 0; i < 3; i++) await h.gql(RESERVE, { input: { productId: id } }, await h.token(`fan-${i}`));
    await Promise.all(subs.map((s) => s.until((v) => v.stockChanged.availableQuantity === 0)));
    await other.until((v) => v.stockChanged.soldOut);
    const first = subs[0].values.map((v) => v.stockChanged.availableQuantity);
    for (const s of subs) expect(s.values.map((v) => v.stockChanged.availableQuantity)).toEqual(first);
    // Leaving a shared stream ends it once nobody runs it.
    for (const c of clients) await c.dispose();
    await new Promise((r) => setTimeout(r, 100));
    expect(app.live().sharedGroups).toBe(0);
  });

  it('drops a client that stops reading once its backlog passes the bound; others keep receiving', async () => {
    for (let i = 0; i < 30; i++) await h.product({ name: `Bulky product ${i} `.padEnd(190, 'x') });
    const { id } = await h.product({ totalQuantity: 2 });
    const healthy = wsClient(port);
    const live = collect<{ stockChanged: { availableQuantity: number } }>(healthy, STOCK, { id });
    await live.until(() => true);

    const slow = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
    await new Promise((r) => slow.once('open', r));
    slow.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((r) => slow.once('message', r));
    const closed = new Promise<number>((r) => slow.once('close', (code) => r(code)));
    // Stop reading, then ask for far more than the bound (each answer is tens of kB).
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const q = `{ products { id name price { amount currency } sale { startsAt perUserLimit state } inventory { availableQuantity totalQuantity soldOut updatedAt } } }`;
    for (let i = 0; i < 1500 && app.live().droppedSlow === 0; i++) {
      slow.send(JSON.stringify({ id: `q${i}`, type: 'subscribe', payload: { query: q } }));
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 50));
    }
    await expect.poll(() => app.live().droppedSlow, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1006);
    // The healthy subscriber still gets every change.
    await h.gql(RESERVE, { input: { productId: id } }, await h.token('after-slow'));
    await live.until((v) => v.stockChanged.availableQuantity === 1);
    await healthy.dispose();
  });

  it('drops a socket that stops reading its shared stock stream; the stream goes on for the others', async () => {
    const { id } = await h.product({ totalQuantity: 200 });
    const healthy = wsClient(port);
    const live = collect<{ stockChanged: { availableQuantity: number } }>(healthy, STOCK, { id });
    await live.until(() => true);

    // 3,000 subscriptions of the same shared stream on one socket: every update is ~400 kB for it.
    const slow = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
    await new Promise((r) => slow.once('open', r));
    slow.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((r) => slow.once('message', r));
    const closed = new Promise<number>((r) => slow.once('close', (code) => r(code)));
    for (let i = 0; i < 3000; i++) slow.send(JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: STOCK, variables: { id } } }));
    await expect.poll(() => app.live().sharedSubscribers, { timeout: 30_000 }).toBeGreaterThanOrEqual(3001);
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();

    const droppedBefore = app.live().droppedSlow;
    let reserved = 0;
    for (let i = 0; i < 150 && app.live().droppedSlow === droppedBefore; i++) {
      expect((await h.gql(RESERVE, { input: { productId: id } }, await h.token(`slow-shared-${i}`))).data.reserve.__typename).toBe('ReserveSuccess');
      reserved++;
      // Let the ticker push each change (it coalesces changes closer than ~100 ms).
      await new Promise((r) => setTimeout(r, 120));
    }
    expect(app.live().droppedSlow).toBe(droppedBefore + 1);
    // The dropped socket left the stream; the healthy one is still on it.
    expect(app.live().sharedSubscribers).toBe(1);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(1006);
    await h.gql(RESERVE, { input: { productId: id } }, await h.token('slow-shared-after'));
    await live.until((v) => v.stockChanged.availableQuantity === 200 - reserved - 1);
    await healthy.dispose();
  });

  it('answers bad subscription input with a clear error over WebSocket and SSE, never a hung stream', async () => {
    const owner = await h.token('owner');
    const nosy = await h.token('nosy');
    const { id } = await h.product({ totalQuantity: 5 });
    const r = (await h.gql(RESERVE, { input: { productId: id } }, owner)).data.reserve.reservation;
    const order = (await h.gql(CHECKOUT, { input: { cartId: r.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, owner)).data.checkout.order;
    const cases: [string, Record<string, unknown>, string | undefined, RegExp][] = [
      [STOCK, { id: 'no-such-product' }, undefined, /No product with id .{1,2}no-such-product/],
      [STOCK, { id: 'bad id!' }, undefined, /not a valid product id/],
      [COUNTDOWN, { id: '00000000-0000-4000-8000-000000000000' }, owner, /No reservation/],
      [COUNTDOWN, { id: 'not-a-uuid' }, owner, /not a valid id/],
      [COUNTDOWN, { id: r.id }, nosy, /No reservation/],
      [COUNTDOWN, { id: r.id }, undefined, /Sign in/],
      [ORDER, { id: order.id }, nosy, /No order/],
      [ORDER, { id: '123' }, owner, /not a valid id/],
      [`subscription { stockChanged { availableQuantity } }`, {}, undefined, /argument .{1,2}productId/],
    ];
    for (const [query, variables, token, message] of cases) {
      const c = wsClient(port, token);
      const s = collect(c, query, variables);
      // An `error` message, or (for a refused scope) one result carrying the error then `complete`: never open.
      expect(['error', 'complete']).toContain(await s.done);
      expect(s.values.every((v) => Object.values(v as object).every((x) => x == null))).toBe(true);
      expect(JSON.stringify(s.errors)).toMatch(message);
      await c.dispose();
      const viaSse = await sse(url(), query, variables, token);
      expect(JSON.stringify(viaSse.data)).toMatch(message);
      expect(viaSse.data.every((d) => d.data == null || Object.values(d.data).every((v) => v == null))).toBe(true);
    }
    // The owner, by contrast, follows both.
    const c = wsClient(port, owner);
    const mine = collect<{ orderStatusChanged: { status: string } }>(c, ORDER, { id: order.id });
    expect((await mine.until(() => true)).orderStatusChanged.status).toBe('PENDING');
    await c.dispose();
  });
});

describe('WebSocket keep-alive (embedded)', () => {
  let h: Harness;
  let app: App;
  let port: number;
  const KEEPALIVE = 1000;
  beforeAll(async () => {
    h = await harness('embedded');
    app = buildApp(h.backend.runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }), wsKeepAliveMs: KEEPALIVE });
    port = await app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await h?.close();
  });

  it('pings each socket once per interval, spread over it rather than all at once, and drops a socket that stops answering', async () => {
    const open = (autoPong: boolean) =>
      new Promise<{ ws: WebSocket; pings: number[]; closed: Promise<void> }>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { autoPong });
        const pings: number[] = [];
        ws.on('ping', () => pings.push(performance.now()));
        const closed = new Promise<void>((r) => ws.once('close', () => r()));
        // Initialised, as a client is (graphql-ws closes a socket that never sends connection_init).
        ws.once('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
        ws.once('message', () => resolve({ ws, pings, closed }));
        ws.once('error', reject);
      });
    const live = await Promise.all(Array.from({ length: 40 }, () => open(true)));
    const silent = await open(false);
    const t0 = performance.now();
    // Three intervals: every answering socket is pinged about once per interval, and stays.
    await new Promise((r) => setTimeout(r, 3 * KEEPALIVE + 300));
    for (const c of live) {
      expect(c.ws.readyState).toBe(WebSocket.OPEN);
      expect(c.pings.length).toBeGreaterThanOrEqual(2);
      expect(c.pings.length).toBeLessThanOrEqual(4);
    }
    // The silent one was pinged, did not answer, and was dropped at its next turn.
    await silent.closed;
    expect(silent.pings.length).toBeGreaterThanOrEqual(1);
    // Spread: within one interval the 40 sockets' pings came at many different moments, not in
    // one burst (one sweep over every socket wrote them all within a millisecond or two).
    const firsts = live.map((c) => c.pings.find((t) => t > t0 + KEEPALIVE)!).sort((a, b) => a - b);
    expect(firsts[firsts.length - 1] - firsts[0]).toBeGreaterThan(KEEPALIVE / 4);
    for (const c of live) c.ws.close();
  }, 20_000);
});

describe('WebSockets per client IP (WS_MAX_PER_IP)', () => {
  let h: Harness;
  const apps: App[] = [];
  beforeAll(async () => {
    h = await harness('embedded');
  }, 180_000);
  afterAll(async () => {
    for (const a of apps) await a.stop().catch(() => {});
    await h?.close();
  });
  const serve = async (env: Record<string, string>) => {
    const app = buildApp(h.backend.runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }), security: loadSecurityConfig({ TRUST_PROXY: '1', ...env }, false) });
    apps.push(app);
    return { app, port: await app.start(0, '127.0.0.1') };
  };
  /** Opens a socket as `ip` (behind one trusted proxy): the socket, or the HTTP status that refused it. */
  const open = (port: number, ip: string) =>
    new Promise<WebSocket | number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { headers: { 'x-forwarded-for': ip } });
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.once('error', reject);
    });

  it('refuses an address its next socket past the limit with 429, counts each address apart, and frees a place when a socket closes', async () => {
    const { app, port } = await serve({ WS_MAX_PER_IP: '3', RATE_LIMIT: 'on' });
    const mine = await Promise.all([1, 2, 3].map(() => open(port, '203.0.113.5')));
    expect(mine.every((s) => s instanceof WebSocket)).toBe(true);
    expect(await open(port, '203.0.113.5')).toBe(429);
    const other = await open(port, '198.51.100.7');
    expect(other).toBeInstanceOf(WebSocket);
    const closed = new Promise((r) => (mine[0] as WebSocket).once('close', r));
    (mine[0] as WebSocket).close();
    await closed;
    // The server sees the close a moment after the client does.
    let again: WebSocket | number = 429;
    for (let i = 0; i < 50 && again === 429; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await open(port, '203.0.113.5');
    }
    expect(again).toBeInstanceOf(WebSocket);
    expect(app.live().refusedPerIp).toBeGreaterThanOrEqual(1);
    for (const s of [...mine, other, again]) if (s instanceof WebSocket) s.close();
  });

  it('is off with RATE_LIMIT=off (a load test from one address)', async () => {
    const { port } = await serve({ WS_MAX_PER_IP: '2', RATE_LIMIT: 'off' });
    const socks = await Promise.all([1, 2, 3, 4].map(() => open(port, '203.0.113.9')));
    expect(socks.every((s) => s instanceof WebSocket)).toBe(true);
    for (const s of socks) (s as WebSocket).close();
  });
});
