// Fan-out benchmark: N graphql-ws subscribers of one product's stockChanged on a server in
// its own process, stock changes published on Redis at a fixed rate.
//
//   npx tsx bench/fanout.ts --subscribers 1000 [--rate 10] [--duration 10] [--database-url postgres://…] [--redis-url redis://…] [--per-client-process 2500] [--workers 2]
//
// --workers N runs the server with WORKERS=N (node:cluster api processes sharing the port; it
// needs --database-url). Memory and CPU are then summed over the supervisor and its api processes.
//
// STOCK_COALESCE_MS, when set, is passed on to the server (the ticker's window; default 100).
// FANOUT_SERVER_NODE_ARGS / FANOUT_CLIENT_NODE_ARGS add node options to the server / client
// processes, e.g. `FANOUT_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'` (the profile
// is written when the process exits at the end of the run).
//
// What it measures
// - connected: subscribers that received the current inventory (the first message).
// - delivered / expected: for every (subscriber, event) pair, whether the subscriber saw that
//   event's count or a later one (the ticker coalesces bursts to the latest count, at most
//   every ~100 ms, so a later count stands for the steps it skipped). expected = subscribers × events.
// - p50Ms / p99Ms: from the moment an event is published on Redis to the moment a subscriber
//   first shows that count or a later one (so it includes the coalescing delay).
// - serverRssPerSubscriberKB: the server process's resident memory growth from idle to
//   holding every subscriber, divided by the subscribers connected.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { RedisEventBus } from '../src/adapters/pubsub/redis.js';
import { signToken } from '../src/auth.js';

export interface FanoutOptions {
  subscribers: number;
  eventsPerSecond: number;
  durationSeconds: number;
  databaseUrl?: string;
  redisUrl?: string;
  /** Subscribers per client process (default 2,500). */
  perClientProcess?: number;
  /**
   * Server api processes (the server's `WORKERS`, node:cluster; default 1). With more than one,
   * memory and CPU are the sums over the supervisor and its api processes.
   */
  workers?: number;
}

export interface FanoutResult {
  subscribers: number;
  connected: number;
  delivered: number;
  expected: number;
  p50Ms: number;
  p99Ms: number;
  serverRssPerSubscriberKB: number;
  /** The server's CPU time (user, system) from the first publish to 1 s after the last, in % of one core. */
  serverCpuUserPct: number;
  serverCpuSysPct: number;
  /** The client processes' CPU time over the same span, summed, in % of one core. */
  clientCpuUserPct: number;
  clientCpuSysPct: number;
  /** Server api processes the subscribers were spread over. */
  workers: number;
  /** `next` messages the subscribers received while publishing (coalescing and skipped stale counts make it ≤ expected). */
  frames: number;
  /** Server CPU (user + sys) per received frame, in µs: the fan-out's cost whatever the contention does to latency. */
  serverCpuUsPerFrame: number;
  /**
   * How long the server's main threads (the event loops) were runnable but waiting for a core
   * (run-queue delay, /proc/<pid>/schedstat), in % of the same span, summed over api processes:
   * what CPU contention took from the fan-out.
   */
  serverRunQueueWaitPct: number;
  /**
   * Publish → arrival of the same stock events at a Redis subscriber in the bench process
   * itself (no server): p99 and max in ms. A stall here (Redis or the machine) is not the server's.
   */
  pubsubP99Ms: number;
  pubsubMaxMs: number;
  /** The same for the client processes. */
  clientCpuUsPerFrame: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PER_CLIENT_PROCESS = 2500;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Node with tsx, with the open-files limit raised to the hard limit (sockets are files). */
function node(args: string[], env: NodeJS.ProcessEnv, ipc = false, nodeArgs = ''): ChildProcess {
  const cmd = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "${process.execPath}" ${nodeArgs} --import tsx ${args.map((a) => `'${a}'`).join(' ')}`;
  return spawn('sh', ['-c', cmd], { cwd: ROOT, env, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
}

/**
 * `pid` and its descendant node processes (the api processes of a WORKERS > 1 server), from
 * /proc. Other descendants (tsx's esbuild service comes and goes) are left out.
 */
function processTree(pid: number): number[] {
  return descendants(pid).filter((p, i) => i === 0 || comm(p) === 'node');
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      // the process ended
    }
    for (const task of tasks) {
      try {
        const kids = readFileSync(`/proc/${out[i]}/task/${task}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      } catch {
        // the task ended
      }
    }
  }
  return out;
}

/** Resident memory of a process and its descendants, in KB. */
function rssKB(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    if (!m) throw new Error('cannot read the server RSS (Linux /proc needed)');
    sum += Number(m[1]);
  }
  return sum;
}

/** RSS once it stops moving (two samples 500 ms apart within 1%, at most ~15 s). */
async function settledRssKB(pid: number): Promise<number> {
  let prev = rssKB(pid);
  for (let i = 0; i < 30; i++) {
    await sleep(500);
    const cur = rssKB(pid);
    if (Math.abs(cur - prev) <= prev * 0.01) return cur;
    prev = cur;
  }
  return prev;
}

/** utime and stime of a process, in ms (Linux /proc). */
function cpuMs(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from after the command name; clock ticks of 10 ms.
  return { user: Number(f[11]) * 10, sys: Number(f[12]) * 10 };
}

/** Run-queue delay (runnable, not running) of each process's main thread, summed, in ms. */
function runDelayMs(pids: number[]): number {
  let ns = 0;
  for (const p of pids) ns += Number(readFileSync(`/proc/${p}/schedstat`, 'utf8').split(' ')[1]);
  return ns / 1e6;
}

/** utime and stime summed over processes, in ms. */
function cpuOf(pids: number[]): { user: number; sys: number } {
  const t = { user: 0, sys: 0 };
  for (const p of pids) {
    const c = cpuMs(p);
    t.user += c.user;
    t.sys += c.sys;
  }
  return t;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function once<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`client process did not report "${type}" in ${timeoutMs} ms`)), timeoutMs);
    const on = (m: { type: string }) => {
      if (m.type === type) {
        clearTimeout(t);
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
  });
}

export async function runFanout(opts: FanoutOptions): Promise<FanoutResult> {
  const redisUrl = opts.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `fsbench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}:`;
  const secret = randomBytes(32).toString('hex');
  const events = Math.max(1, Math.round(opts.eventsPerSecond * opts.durationSeconds));
  const total = 1_000_000;
  const workers = Math.max(1, opts.workers ?? 1);

  // 1. The server, alone in its process.
  const server = node(['src/index.ts'], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: '0',
    HOST: '127.0.0.1',
    ROLE: 'api',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
    DATA_ENCRYPTION_KEY: `bench:${Buffer.alloc(32, 7).toString('base64')}`,
    RATE_LIMIT: 'off',
    WORKERS: String(workers),
    AUTH_JWT_SECRET: secret,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    ...(process.env.STOCK_COALESCE_MS ? { STOCK_COALESCE_MS: process.env.STOCK_COALESCE_MS } : {}),
    ...(opts.databaseUrl ? { DATABASE_URL: opts.databaseUrl } : { DATA_DIR: 'memory://' }),
  }, false, process.env.FANOUT_SERVER_NODE_ARGS ?? '');
  let out = '';
  server.stdout!.on('data', (d) => (out += d));
  server.stderr!.on('data', (d) => (out += d));
  const children: ChildProcess[] = [];
  const pub = new Redis(redisUrl);
  const sub = new Redis(redisUrl);
  const bus = new RedisEventBus(pub, sub, prefix);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 120_000);
      server.stdout!.on('data', () => {
        // Every api process reports its url once it listens (they share one port).
        const up = [...out.matchAll(/"url":"http:\/\/localhost:(\d+)\/graphql"/g)];
        if (up.length >= workers) {
          clearTimeout(t);
          resolve(Number(up[0][1]));
        }
      });
      server.once('exit', (code) => reject(new Error(`server exited (${code}):\n${out}`)));
    });
    // `sh -c exec` keeps the pid: the server's own.
    const serverPid = server.pid!;
    const url = `http://127.0.0.1:${port}/graphql`;
    const productId = `bench-${randomBytes(4).toString('hex')}`;
    const admin = await signToken(secret, { sub: 'bench-admin', roles: ['admin'] });
    const created = (await (
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
        body: JSON.stringify({
          query: `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
          variables: { input: { id: productId, name: 'Bench', priceAmount: 100, currency: 'USD', totalQuantity: total, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } } },
        }),
      })
    ).json()) as { errors?: unknown };
    if (created.errors) throw new Error(`createProduct failed: ${JSON.stringify(created.errors)}`);

    // 2. Client processes; the first warms the server's code paths with one subscriber.
    const procs = Math.max(1, Math.ceil(opts.subscribers / (opts.perClientProcess ?? PER_CLIENT_PROCESS)));
    for (let i = 0; i < procs; i++) {
      const c = node(['bench/fanout-client.ts'], { PATH: process.env.PATH, HOME: process.env.HOME, FANOUT_DEBUG: process.env.FANOUT_DEBUG, FANOUT_CLIENT: process.env.FANOUT_CLIENT }, true, process.env.FANOUT_CLIENT_NODE_ARGS ?? '');
      children.push(c);
      await once(c, 'ready', 60_000);
    }
    const wsUrl = `ws://127.0.0.1:${port}/graphql`;
    children[0].send({ type: 'start', wsUrl, productId, count: 1, total });
    await once(children[0], 'connected', 60_000);
    const baseRss = await settledRssKB(serverPid);

    const shares = children.map((_, i) => Math.floor(opts.subscribers / procs) + (i < opts.subscribers % procs ? 1 : 0));
    shares[0] -= 1; // the warm-up subscriber counts
    const connectedReports = await Promise.all(
      children.map((c, i) => {
        const p = once<{ connected: number }>(c, 'connected', 600_000);
        c.send({ type: 'start', wsUrl, productId, count: shares[i], total });
        return p;
      }),
    );
    // The warm-up subscriber was reported in the first `connected` message already consumed.
    const connected = 1 + connectedReports.reduce((a, r) => a + r.connected, 0);
    const fullRss = await settledRssKB(serverPid);

    // 3. Publish stock changes at the given rate, as another process's reserves would.
    const publishTimes: number[] = [];
    const pubsubArrivals: number[] = [];
    const stopListening = await bus.listen('stock', (p) => {
      if (p.productId === productId) pubsubArrivals[p.version - 1_000_000_000] = now();
    });
    const serverPids = processTree(serverPid);
    const clientPids = children.map((c) => c.pid!);
    const cpu0 = cpuOf(serverPids);
    // The supervisor of a WORKERS > 1 server only forwards connections: its wait is left out.
    const loopPids = workers > 1 ? serverPids.slice(1) : [serverPid];
    const wait0 = runDelayMs(loopPids);
    const clientCpu0 = cpuOf(clientPids);
    const start = now();
    for (let k = 0; k < events; k++) {
      const due = start + (k * 1000) / opts.eventsPerSecond;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      publishTimes[k] = now();
      await bus.publish('stock', productId, {
        productId,
        totalQuantity: total,
        availableQuantity: total - 1 - k,
        reservedQuantity: k + 1,
        soldQuantity: 0,
        version: 1_000_000_000 + k,
        updatedAt: new Date().toISOString(),
      });
    }
    await sleep(1000);
    const cpu1 = cpuOf(serverPids);
    await stopListening();
    const pubsubLatencies = publishTimes.map((t, k) => (pubsubArrivals[k] ?? Infinity) - t).sort((a, b) => a - b);
    const wait1 = runDelayMs(loopPids);
    const clientCpu1 = cpuOf(clientPids);
    const cpuWall = now() - start;
    await sleep(4000);

    // 4. Collect.
    const results = await Promise.all(
      children.map((c) => {
        const p = once<{ delivered: number; expected: number; frames: number; latencies: number[] }>(c, 'result', 120_000);
        c.send({ type: 'finish', publishTimes, maxSamples: 200_000 });
        return p;
      }),
    );
    const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const frames = results.reduce((a, r) => a + r.frames, 0);
    if (process.env.FANOUT_DEBUG) {
      // Per event, per client process: p50 / p99 / max in ms.
      for (let k = 0; k < events; k++) {
        const row = (results as unknown as { perEvent: number[][] }[]).map((r) => r.perEvent[k].map((x) => Math.round(x)).join('/'));
        console.error(`event ${k}: ${row.join('  ')}`);
      }
    }
    return {
      subscribers: opts.subscribers,
      connected,
      delivered: results.reduce((a, r) => a + r.delivered, 0),
      expected: opts.subscribers * events,
      p50Ms: Math.round(percentile(latencies, 50) * 10) / 10,
      p99Ms: Math.round(percentile(latencies, 99) * 10) / 10,
      serverRssPerSubscriberKB: Math.round(((fullRss - baseRss) / Math.max(1, connected - 1)) * 10) / 10,
      serverCpuUserPct: Math.round((100 * (cpu1.user - cpu0.user)) / cpuWall),
      serverCpuSysPct: Math.round((100 * (cpu1.sys - cpu0.sys)) / cpuWall),
      serverRunQueueWaitPct: Math.round((100 * (wait1 - wait0)) / cpuWall),
      pubsubP99Ms: Math.round(percentile(pubsubLatencies, 99) * 10) / 10,
      pubsubMaxMs: Math.round(pubsubLatencies[pubsubLatencies.length - 1] * 10) / 10,
      clientCpuUserPct: Math.round((100 * (clientCpu1.user - clientCpu0.user)) / cpuWall),
      clientCpuSysPct: Math.round((100 * (clientCpu1.sys - clientCpu0.sys)) / cpuWall),
      workers,
      frames,
      serverCpuUsPerFrame: Math.round((10 * 1000 * (cpu1.user - cpu0.user + cpu1.sys - cpu0.sys)) / Math.max(1, frames)) / 10,
      clientCpuUsPerFrame: Math.round((10 * 1000 * (clientCpu1.user - clientCpu0.user + clientCpu1.sys - clientCpu0.sys)) / Math.max(1, frames)) / 10,
    };
  } finally {
    for (const c of children) {
      if (c.connected) c.send({ type: 'exit' });
    }
    await sleep(500);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (server.exitCode === null) server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(8000)]);
    if (server.exitCode === null) server.kill('SIGKILL');
    // Leave the shared Redis as it was: remove this run's keys.
    try {
      let cursor = '0';
      do {
        const [next, keys] = await pub.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await pub.del(...keys);
      } while (cursor !== '0');
    } catch {
      // best effort
    }
    await bus.close().catch(() => {});
    pub.disconnect();
    sub.disconnect();
  }
}

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opts: FanoutOptions = {
    subscribers: Number(arg('subscribers', '1000')),
    eventsPerSecond: Number(arg('rate', arg('events-per-second', '10'))),
    durationSeconds: Number(arg('duration', '10')),
    databaseUrl: arg('database-url', process.env.DATABASE_URL),
    redisUrl: arg('redis-url', process.env.REDIS_URL),
    perClientProcess: arg('per-client-process') ? Number(arg('per-client-process')) : undefined,
    workers: arg('workers') ? Number(arg('workers')) : undefined,
  };
  runFanout(opts).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
