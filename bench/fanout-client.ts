// A child process of bench/fanout.ts: holds a share of the subscribers and records when each
// stock value reached each of them. Talks to its parent over IPC.
//
// Each subscriber is a plain `ws` socket speaking graphql-transport-ws itself (connection_init,
// connection_ack, one subscribe with id "1", then `next` messages), not a graphql-ws client:
// the clients share the server's 2 cores in this benchmark, and graphql-ws's per-message work
// (JSON.parse, message validation, sink dispatch, promise ticks) cost more CPU than the
// server's own send. A `next` message is recognised by its exact prefix and only its
// `availableQuantity` number is read (no JSON.parse). What is measured is unchanged: the time a
// subscriber's message handler first sees an event's count or a later one.
import { performance } from 'node:perf_hooks';
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
const sockets: WebSocket[] = [];

/** Per subscriber: the event index (k) each message after the first showed, and when, in arrival order. */
class Receipts {
  n = 0;
  counts = new Int32Array(16);
  times = new Float64Array(16);
  add(count: number, t: number) {
    if (this.n === this.counts.length) {
      const c = new Int32Array(this.n * 2);
      c.set(this.counts);
      this.counts = c;
      const ts = new Float64Array(this.n * 2);
      ts.set(this.times);
      this.times = ts;
    }
    this.counts[this.n] = count;
    this.times[this.n++] = t;
  }
}
const receipts: Receipts[] = [];
let total = 0;

const NEXT = Buffer.from('{"id":"1","type":"next","payload":');
const FIELD = Buffer.from('"availableQuantity":');

/** The `availableQuantity` of a `next` message for subscription "1", or -1 when it is anything else. */
function countOf(buf: Buffer): number {
  if (buf.length < NEXT.length || buf.compare(NEXT, 0, NEXT.length, 0, NEXT.length) !== 0) return -1;
  const at = buf.indexOf(FIELD, NEXT.length);
  if (at < 0) return -1;
  let i = at + FIELD.length;
  let v = 0;
  let digits = 0;
  for (; i < buf.length; i++, digits++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
  }
  return digits ? v : -1;
}

function send(m: unknown) {
  process.send!(m);
}

process.on('message', async (m: Start | Finish | { type: 'exit' }) => {
  if (m.type === 'start') {
    total = m.total;
    let connected = 0;
    const subscribe = JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: { query: `subscription($id: ID!) { stockChanged(productId: $id) { availableQuantity } }`, variables: { id: m.productId } },
    });
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const mine = new Receipts();
        receipts[i] = mine;
        let first = true;
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(done, 120_000);
        const s = new WebSocket(m.wsUrl, 'graphql-transport-ws', { perMessageDeflate: false, skipUTF8Validation: true });
        sockets.push(s);
        s.once('open', () => s.send('{"type":"connection_init"}'));
        s.once('error', done);
        s.once('close', done);
        s.on('message', (data: Buffer) => {
          const t = now();
          const available = countOf(data);
          if (available < 0) {
            const text = String(data);
            if (text.includes('"connection_ack"')) s.send(subscribe);
            else if (text.includes('"error"') || text.includes('"complete"')) done();
            return;
          }
          if (first) {
            first = false;
            connected++;
            done();
            return;
          }
          mine.add(total - 1 - available, t);
        });
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
        while (j < mine.n && mine.counts[j] < k) j++;
        if (j < mine.n) {
          delivered++;
          latencies.push(mine.times[j] - m.publishTimes[k]);
        }
      }
    }
    // Keep the IPC message small: a uniform sample of the latencies.
    const step = Math.max(1, Math.ceil(latencies.length / m.maxSamples));
    const sample = step === 1 ? latencies : latencies.filter((_, i) => i % step === 0);
    send({ type: 'result', delivered, expected, latencies: sample });
  } else if (m.type === 'exit') {
    for (const s of sockets) s.terminate();
    process.exit(0);
  }
});
send({ type: 'ready' });
