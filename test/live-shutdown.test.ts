// Graceful shutdown of a real server process on SIGTERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signToken } from '../src/auth.js';
import { TEST_SECRET } from './support/harness.js';
import { collect, httpGql, type ServerProcess, sse, startServer, STOCK, wsClient } from './support/live.js';

describe('shutdown', () => {
  let s: ServerProcess;
  beforeAll(async () => {
    s = await startServer({ DATA_DIR: 'memory://', ROLE: 'all' });
  }, 180_000);
  afterAll(() => s?.kill());

  it('on SIGTERM stops accepting, closes WebSockets with a 1001 close frame, completes SSE streams and exits within a few seconds', async () => {
    const admin = await signToken(TEST_SECRET, { sub: 'operator', roles: ['admin'] });
    const created = await httpGql(
      s.url,
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id: 'shut-1', name: 'X', priceAmount: 100, currency: 'USD', totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } } },
      admin,
    );
    expect(created.errors).toBeUndefined();

    // A graphql-ws subscriber (shared stock stream) and a raw socket, to see the close frame itself.
    const client = wsClient(s.port);
    const sub = collect(client, STOCK, { id: 'shut-1' });
    await sub.until(() => true);
    const raw = new WebSocket(`ws://127.0.0.1:${s.port}/graphql`, 'graphql-transport-ws');
    const messages: string[] = [];
    const rawClosed = new Promise<{ code: number; reason: string; messages: string[] }>((resolve) => {
      raw.on('message', (m) => messages.push(String(m)));
      raw.on('close', (code, reason) => resolve({ code, reason: String(reason), messages }));
    });
    await new Promise((r) => raw.once('open', r));
    raw.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise((r) => raw.once('message', r));
    raw.send(JSON.stringify({ id: 'c1', type: 'subscribe', payload: { query: `subscription { stockChanged(productId: "shut-1") { availableQuantity } }` } }));
    // An SSE subscriber.
    let sseSeen = 0;
    const sseDone = sse(s.url, STOCK, { id: 'shut-1' }, undefined, () => sseSeen++);
    while (sseSeen === 0 || !messages.some((m) => JSON.parse(m).type === 'next')) await new Promise((r) => setTimeout(r, 20));

    const { code } = await s.term();
    // 0 means the graceful path finished: the watchdog in src/index.ts forces exit code 1 after 10 s.
    expect(code).toBe(0);
    const closed = await rawClosed;
    expect(closed.code).toBe(1001);
    // No `complete`: a graphql-ws client takes 1001 as "reconnect and resubscribe" (a rolling deploy).
    expect(closed.messages.some((m) => JSON.parse(m).type === 'complete')).toBe(false);
    expect(await sub.done).toBe('error');
    const streamed = await sseDone;
    expect(streamed.data[0].data.stockChanged.availableQuantity).toBe(3);
    expect(streamed.completed).toBe(true);
    // Nothing listens any more.
    await expect(fetch(`http://127.0.0.1:${s.port}/health`)).rejects.toThrow();
  });
});
