// Live updates over a real port: graphql-ws (WebSocket) and SSE.
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Harness, harness, RESERVE } from './support/harness.js';

describe('live updates (embedded)', () => {
  let h: Harness;
  let port: number;
  const clients: Client[] = [];
  beforeAll(async () => {
    h = await harness('embedded');
    port = await h.app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await h?.close();
  });

  const client = (token?: string) => {
    const c = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
    });
    clients.push(c);
    return c;
  };

  it('pushes stockChanged over WebSocket: the current inventory, then every change', async () => {
    const { id } = await h.product({ totalQuantity: 3 });
    const seen: number[] = [];
    const c = client();
    const done = new Promise<void>((resolve, reject) => {
      c.subscribe<{ stockChanged: { availableQuantity: number } }>(
        { query: `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity soldOut } }`, variables: { id } },
        {
          next: (m) => {
            seen.push(m.data!.stockChanged.availableQuantity);
            if (seen.at(-1) === 0) resolve();
          },
          error: reject,
          complete: () => {},
        },
      );
    });
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 3; i++) {
      const t = await h.token(`live-${i}`);
      expect((await h.gql(RESERVE, { input: { productId: id } }, t)).data.reserve.__typename).toBe('ReserveSuccess');
    }
    await done;
    // Bursts are coalesced (at most one push per ~100 ms), so steps may be skipped, never reordered.
    expect(seen[0]).toBe(3);
    expect(seen.at(-1)).toBe(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThan(seen[i - 1]);
  });

  it('refuses a subscription to another shopper\u2019s order with a clear error', async () => {
    const c = client(await h.token('nosy'));
    const err = await new Promise<unknown>((resolve) => {
      c.subscribe(
        { query: `subscription { orderStatusChanged(orderId: "00000000-0000-4000-8000-000000000000") { id } }` },
        { next: () => {}, error: resolve, complete: () => resolve('completed') },
      );
    });
    expect(JSON.stringify(err)).toMatch(/No order/);
  });

  it('serves subscriptions over SSE too', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    const ctrl = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }`, variables: { id } }),
      signal: ctrl.signal,
    });
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    ctrl.abort();
    expect(first).toContain('"availableQuantity":2');
  });
});
