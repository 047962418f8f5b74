// A child process of bench/fanout.ts: holds a share of the graphql-ws subscribers and records
// when each stock value reached each of them. Talks to its parent over IPC.
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

interface Start {
  type: 'start';
  wsUrl: string;
  productId: string;
  count: number;
  total: number;
}
interface Finish {
  type: 'finish';
  publishTimes: number[];
  maxSamples: number;
}

const now = () => performance.timeOrigin + performance.now();
const clients: Client[] = [];
/** Per subscriber: [event index k, receipt time] for every message after the first. */
const receipts: [number, number][][] = [];
let total = 0;

function send(m: unknown) {
  process.send!(m);
}

process.on('message', async (m: Start | Finish | { type: 'exit' }) => {
  if (m.type === 'start') {
    total = m.total;
    let connected = 0;
    const query = `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }`;
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const mine: [number, number][] = [];
        receipts[i] = mine;
        let first = true;
        const client = createClient({ url: m.wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, keepAlive: 0 });
        clients.push(client);
        const timer = setTimeout(resolve, 120_000);
        client.subscribe<{ stockChanged: { availableQuantity: number } }>(
          { query, variables: { id: m.productId } },
          {
            next: (msg) => {
              const t = now();
              const available = msg.data?.stockChanged.availableQuantity;
              if (available === undefined) return;
              if (first) {
                first = false;
                connected++;
                clearTimeout(timer);
                resolve();
                return;
              }
              mine.push([total - 1 - available, t]);
            },
            error: () => {
              clearTimeout(timer);
              resolve();
            },
            complete: () => {},
          },
        );
      });
    const base = receipts.length;
    for (let i = 0; i < m.count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, m.count - i) }, (_, j) => one(base + i + j)));
    }
    send({ type: 'connected', connected });
  } else if (m.type === 'finish') {
    const events = m.publishTimes.length;
    let delivered = 0;
    let expected = 0;
    const latencies: number[] = [];
    for (const mine of receipts) {
      if (!mine) continue;
      expected += events;
      // For each event k: the first message showing k or a later event.
      let j = 0;
      for (let k = 0; k < events; k++) {
        while (j < mine.length && mine[j][0] < k) j++;
        if (j < mine.length) {
          delivered++;
          latencies.push(mine[j][1] - m.publishTimes[k]);
        }
      }
    }
    // Keep the IPC message small: a uniform sample of the latencies.
    const step = Math.max(1, Math.ceil(latencies.length / m.maxSamples));
    const sample = step === 1 ? latencies : latencies.filter((_, i) => i % step === 0);
    send({ type: 'result', delivered, expected, latencies: sample });
  } else if (m.type === 'exit') {
    await Promise.all(clients.map((c) => c.dispose()));
    process.exit(0);
  }
});
send({ type: 'ready' });
