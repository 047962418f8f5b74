// `npx tsx bench/accept.ts`: how fast a busy Node server accepts new connections. A node:http
// server (its own process) spends WORK ms of CPU per request while BUSY keep-alive clients keep it
// saturated; then NEW clients connect at once and each sends one request. Since libuv 1.45
// (libuv/libuv#3696, in Node 20) a server accepts one connection per event-loop turn, and a busy
// turn is long, so the new clients wait on accept(), not on their share of the server. With
// CHUNK=n the server runs at most n requests' work per turn (the rest on the next), which makes
// turns, and so accepts, more frequent. Prints the new clients' time to their answer.
//
// CLUSTER=1 runs the server as the one worker of a node:cluster primary, which then accepts the
// connections and hands them over (docs/performance.md: no faster).
//
// WORK=1  BUSY=100  NEW=200  CHUNK=0 (off)  CLUSTER=0
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { connect } from 'node:net';

const WORK = Number(process.env.WORK ?? 1);
const BUSY = Number(process.env.BUSY ?? 100);
const NEW = Number(process.env.NEW ?? 200);
const CHUNK = Number(process.env.CHUNK ?? 0);

if (process.env.ACCEPT_SERVER && process.env.CLUSTER === '1' && cluster.isPrimary) {
  cluster.fork().on('message', (port) => process.send!(port));
} else if (process.env.ACCEPT_SERVER) {
  const queue: (() => void)[] = [];
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    for (let i = 0; i < CHUNK && queue.length; i++) queue.shift()!();
    if (queue.length) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  const run = (fn: () => void) => {
    if (!CHUNK) return fn();
    queue.push(fn);
    if (!scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      run(() => {
        const end = performance.now() + WORK;
        while (performance.now() < end);
        res.end('ok');
      }),
    );
  });
  server.listen(0, '127.0.0.1', () => process.send!((server.address() as { port: number }).port));
} else {
  const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname], {
    env: { ...process.env, ACCEPT_SERVER: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((r) => child.once('message', (m) => r(Number(m))));
  const request = 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi';
  let stop = false;
  const busy = Array.from({ length: BUSY }, () => {
    const s = connect(port, '127.0.0.1');
    const send = () => !stop && s.write(request);
    s.on('connect', send);
    s.on('data', send);
    s.on('error', () => {});
    return s;
  });
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = performance.now();
  const ms = await Promise.all(
    Array.from({ length: NEW }, () =>
      new Promise<number>((resolve) => {
        const a = performance.now();
        const s = connect(port, '127.0.0.1');
        s.on('connect', () => s.write(request));
        s.once('data', () => {
          resolve(performance.now() - a);
          s.destroy();
        });
      }),
    ),
  );
  ms.sort((a, b) => a - b);
  const q = (f: number) => Math.round(ms[Math.min(ms.length - 1, Math.floor(ms.length * f))]);
  console.log(JSON.stringify({ work: WORK, busy: BUSY, new: NEW, chunk: CHUNK, cluster: process.env.CLUSTER === '1', allAnsweredMs: Math.round(performance.now() - t0), p50: q(0.5), p99: q(0.99), max: q(1) }));
  stop = true;
  for (const s of busy) s.destroy();
  child.kill();
}
