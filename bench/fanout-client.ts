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
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
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
/** Closes a subscriber's socket. */
const sockets: (() => void)[] = [];
/** `ws` (FANOUT_CLIENT=ws): the `ws` library per subscriber, as before; default: `raw` (see rawWebSocket). */
const CLIENT = process.env.FANOUT_CLIENT === 'ws' ? 'ws' : 'raw';

/** One read buffer for every raw socket of the process: a read's bytes are parsed before the next read. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** A masked client text (opcode 1) or pong (opcode 10) frame. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const h = n < 126 ? 2 : 4;
  const out = Buffer.allocUnsafe(h + 4 + n);
  out[0] = 0x80 | opcode;
  if (n < 126) out[1] = 0x80 | n;
  else {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  }
  const mask = randomBytes(4);
  mask.copy(out, h);
  for (let i = 0; i < n; i++) out[h + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

/**
 * A minimal RFC 6455 client on a plain TCP socket read with `onread` (one static buffer, no
 * stream or per-message objects): the HTTP upgrade with the `graphql-transport-ws`
 * subprotocol (the 101 answer and its Sec-WebSocket-Accept are checked), then unmasked server
 * frames parsed in place; pings are answered, a close frame ends it. Each whole text message
 * goes to `onText` with the time the read that completed it was taken.
 */
function rawWebSocket(
  wsUrl: string,
  onText: (buf: Buffer, start: number, end: number, t: number, reply: (text: string) => void) => void,
  done: () => void,
): Socket {
  const url = new URL(wsUrl);
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  let open = false;
  /** Bytes of an incomplete frame (or of the HTTP answer) carried over to the next read. */
  let carry: Buffer | undefined;
  const reply = (text: string) => s.write(clientFrame(1, Buffer.from(text)));
  const fail = () => {
    s.destroy();
    done();
  };
  const parse = (buf: Buffer, end: number, t: number) => {
    let i = 0;
    if (!open) {
      const at = buf.indexOf('\r\n\r\n');
      if (at < 0 || at >= end) return end <= 16 * 1024 ? 0 : fail();
      const head = buf.toString('latin1', 0, at);
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept) || !/sec-websocket-protocol: *graphql-transport-ws/i.test(head)) return fail();
      open = true;
      i = at + 4;
      reply('{"type":"connection_init"}');
    }
    while (end - i >= 2) {
      const op = buf[i] & 0x0f;
      let len = buf[i + 1] & 0x7f;
      let h = 2;
      if (len === 126) {
        if (end - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        h = 4;
      } else if (len === 127) {
        if (end - i < 10) break;
        len = Number(buf.readBigUInt64BE(i + 2));
        h = 10;
      }
      if (end - i < h + len) break;
      const p = i + h;
      if (op === 1) onText(buf, p, p + len, t, reply);
      else if (op === 9) s.write(clientFrame(10, buf.subarray(p, p + len)));
      else if (op === 8) return fail();
      i = p + len;
    }
    return i;
  };
  const s = connect({
    host: url.hostname,
    port: Number(url.port),
    onread: {
      buffer: READ_BUFFER,
      callback: (nread: number, buf: Uint8Array) => {
        const t = now();
        let b = buf as Buffer;
        let n = nread;
        if (carry) {
          b = Buffer.concat([carry, b.subarray(0, n)]);
          n = b.length;
          carry = undefined;
        }
        const used = parse(b, n, t);
        if (used !== undefined && used < n) carry = Buffer.from(b.subarray(used, n));
        return true;
      },
    },
  });
  s.setNoDelay(true);
  s.once('connect', () =>
    s.write(
      `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
    ),
  );
  s.once('error', done);
  s.once('close', done);
  return s;
}

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

/** The `availableQuantity` of a `next` message (bytes buf[start, end)) for subscription "1", or -1 when it is anything else. */
function countOf(buf: Buffer, start: number, end: number): number {
  if (end - start < NEXT.length || buf.compare(NEXT, 0, NEXT.length, start, start + NEXT.length) !== 0) return -1;
  const at = buf.indexOf(FIELD, start + NEXT.length);
  if (at < 0 || at >= end) return -1;
  let i = at + FIELD.length;
  let v = 0;
  let digits = 0;
  for (; i < end; i++, digits++) {
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
        /** A whole text message (payload bytes buf[start, end)); `send` writes a text message back. */
        const onText = (buf: Buffer, start: number, end: number, t: number, reply: (text: string) => void) => {
          const available = countOf(buf, start, end);
          if (available < 0) {
            const text = buf.toString('utf8', start, end);
            if (text.includes('"connection_ack"')) reply(subscribe);
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
        };
        if (CLIENT === 'ws') {
          const s = new WebSocket(m.wsUrl, 'graphql-transport-ws', { perMessageDeflate: false, skipUTF8Validation: true });
          sockets.push(() => s.terminate());
          s.once('open', () => s.send('{"type":"connection_init"}'));
          s.once('error', done);
          s.once('close', done);
          const reply = (text: string) => s.send(text);
          s.on('message', (data: Buffer) => onText(data, 0, data.length, now(), reply));
        } else {
          const s = rawWebSocket(m.wsUrl, onText, done);
          sockets.push(() => s.destroy());
        }
      });
    const base = receipts.length;
    for (let i = 0; i < m.count; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, m.count - i) }, (_, j) => one(base + i + j)));
    }
    send({ type: 'connected', connected });
  } else if (m.type === 'finish') {
    const events = m.publishTimes.length;
    let delivered = 0;
    let frames = 0;
    let expected = 0;
    const latencies: number[] = [];
    for (const mine of receipts) {
      if (!mine) continue;
      expected += events;
      frames += mine.n;
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
    // Per event: this process's p50 / p99 / max (for FANOUT_DEBUG).
    const perEvent: number[][] = [];
    if (process.env.FANOUT_DEBUG) {
      for (let k = 0; k < events; k++) {
        const l: number[] = [];
        for (const mine of receipts) {
          if (!mine) continue;
          let j = 0;
          while (j < mine.n && mine.counts[j] < k) j++;
          if (j < mine.n) l.push(mine.times[j] - m.publishTimes[k]);
        }
        l.sort((a, b) => a - b);
        perEvent.push([l[Math.floor(l.length / 2)], l[Math.floor(l.length * 0.99)], l[l.length - 1]]);
      }
    }
    // Keep the IPC message small: a uniform sample of the latencies.
    const step = Math.max(1, Math.ceil(latencies.length / m.maxSamples));
    const sample = step === 1 ? latencies : latencies.filter((_, i) => i % step === 0);
    send({ type: 'result', delivered, expected, frames, latencies: sample, perEvent });
  } else if (m.type === 'exit') {
    for (const close of sockets) close();
    process.exit(0);
  }
});
send({ type: 'ready' });
