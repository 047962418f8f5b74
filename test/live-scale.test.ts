// A server holding 2,000 idle WebSocket subscribers stays responsive (no timing assertions: it answers, correctly).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Harness, harness, RESERVE } from './support/harness.js';

const N = 2000;

describe('2,000 idle WebSocket subscribers (embedded)', () => {
  let h: Harness;
  let port: number;
  const sockets: WebSocket[] = [];
  beforeAll(async () => {
    h = await harness('embedded');
    port = await h.app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    for (const s of sockets) s.terminate();
    await h?.close();
  });

  it('holds them all, still answers queries, and pushes a change to every one', async () => {
    const { id } = await h.product({ totalQuantity: 10 });
    const latest = new Map<WebSocket, number>();
    const subscribe = JSON.stringify({
      id: 's',
      type: 'subscribe',
      payload: { query: `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }`, variables: { id } },
    });
    // Plain ws clients speaking graphql-transport-ws: light enough for one test process.
    const open = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const s = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws', { perMessageDeflate: false });
        sockets.push(s);
        s.once('error', reject);
        s.once('open', () => s.send('{"type":"connection_init"}'));
        s.on('message', (raw) => {
          const m = JSON.parse(String(raw));
          if (m.type === 'connection_ack') s.send(subscribe);
          else if (m.type === 'next') {
            latest.set(s, m.payload.data.stockChanged.availableQuantity);
            resolve();
          }
        });
      });
    for (let i = 0; i < N; i += 100) await Promise.all(Array.from({ length: Math.min(100, N - i) }, open));
    expect(latest.size).toBe(N);
    expect(h.app.live().sockets).toBe(N);
    expect(h.app.live().sharedGroups).toBe(1);

    // The server still answers, correctly.
    const inv = await h.gql(`query($id: ID!) { inventory(productId: $id) { availableQuantity } product(id: $id) { name } }`, { id });
    expect(inv.data).toEqual({ inventory: { availableQuantity: 10 }, product: { name: 'Limited sneaker' } });
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);

    // And a change reaches every subscriber.
    expect((await h.gql(RESERVE, { input: { productId: id } }, await h.token('scale-1'))).data.reserve.__typename).toBe('ReserveSuccess');
    await expect.poll(() => [...latest.values()].filter((v) => v === 9).length, { timeout: 30_000 }).toBe(N);
  });
});
