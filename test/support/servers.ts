// Our own Redis and Postgres servers on random loopback ports, for tests that kill
// or restart them (never the shared ones).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisClient, type RedisClient } from '../../src/adapters/redis/client.js';
import { freePort } from './scratch.js';

export { freePort };

/** Polls `check` every 100 ms until it holds (a throw counts as not yet); fails after `ms` naming `what`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 30_000, everyMs = 100) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** What `redis-cli -p port ...args` printed, or '' when it failed (the server not up yet). */
function redisCli(port: number, ...args: string[]): string {
  try {
    return execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export interface OwnRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGKILL: the server vanishes with every key (it saves nothing). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server stops answering, its connections open and its keys kept (a hung server, a partition). */
  pause(): void;
  resume(): void;
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const ping = () => redisCli(port, 'ping') === 'PONG';
  const r: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
        stdio: 'ignore',
      });
      await waitFor(ping, `redis on ${port}`);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async kill() {
      if (!child) return;
      const c = child;
      child = undefined;
      const gone = new Promise((res) => c.once('exit', res));
      c.kill('SIGKILL');
      await gone;
    },
  };
  await r.start();
  return r;
}

/** A free port whose Redis Cluster bus port (+10,000) is free too. */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port + 10_000, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (bus) return port;
  }
}

export interface OwnRedisCluster {
  /** Each node's URL (primaries only, no replicas), in slot order: node 0 serves slots 0-5460 of three. */
  urls: string[];
  ports: number[];
  /** SIGKILL one node: its slots are served by nobody (the others answer CLUSTERDOWN once they notice). */
  kill(i: number): Promise<void>;
  /** Starts a killed node again, with its cluster configuration (same id and slots) and no keys. */
  start(i: number): Promise<void>;
  /** Kills every node and removes their folder. */
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `size` primaries on random loopback ports (redis-server --cluster-enabled,
 * `redis-cli --cluster create`), in a scratch folder; resolves once every node says cluster_state:ok.
 * Nodes take a peer for dead after `nodeTimeoutMs` without an answer (cluster-node-timeout): short for
 * a test that kills one, long enough otherwise that a busy machine never makes them think so.
 */
export async function ownRedisCluster(size = 3, nodeTimeoutMs = 5000): Promise<OwnRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'fs-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < size; i++) ports.push(await freeClusterPort());
  const children: (ChildProcess | undefined)[] = [];
  const killAll = () => children.forEach((c) => c?.kill('SIGKILL'));
  process.once('exit', killAll);
  const start = async (i: number) => {
    const port = ports[i];
    children[i] = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', String(nodeTimeoutMs), '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor(() => redisCli(port, 'ping') === 'PONG', `redis cluster node on ${port}`);
  };
  const healthy = () => ports.every((p) => /cluster_state:ok/.test(redisCli(p, 'cluster', 'info')));
  for (let i = 0; i < size; i++) await start(i);
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  await waitFor(healthy, 'redis cluster state ok');
  const kill = async (i: number) => {
    const c = children[i];
    children[i] = undefined;
    if (!c) return;
    const gone = new Promise((res) => c.once('exit', res));
    c.kill('SIGKILL');
    await gone;
  };
  return {
    urls: ports.map((p) => `redis://127.0.0.1:${p}`),
    ports,
    kill,
    async start(i) {
      await start(i);
      await waitFor(healthy, 'redis cluster state ok again');
    },
    async stop() {
      await Promise.all(children.map((_, i) => kill(i)));
      process.removeListener('exit', killAll);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Redis Cluster of our own started on first use, with a client made as the server makes it
 * (src/adapters/redis/client.ts, REDIS_CLUSTER=on), ready; `stop` ends both if they were started.
 */
export function lazyRedisCluster(): { client(): Promise<RedisClient>; stop(): Promise<void> } {
  let cluster: OwnRedisCluster | undefined;
  let client: RedisClient | undefined;
  return {
    async client() {
      cluster ??= await ownRedisCluster();
      if (!client) {
        client = createRedisClient(cluster.urls, true, { autoPipeline: true, maxRetriesPerRequest: 2 });
        await new Promise((resolve) => client!.once('ready', resolve));
      }
      return client;
    },
    async stop() {
      client?.disconnect();
      await cluster?.stop();
    },
  };
}

/**
 * A TCP proxy to `port` on loopback. `cutSilently()` stops forwarding on every connection open
 * now, in both directions, without closing any (a partition, or a peer gone without a reset:
 * nothing ever arrives again on them); connections made after it are forwarded as before.
 */
export async function silentCutProxy(port: number): Promise<{ port: number; url: string; cutSilently(): void; close(): Promise<void> }> {
  const open = new Set<{ client: Socket; server: Socket }>();
  const proxy = createServer((client) => {
    const server = connect(port, '127.0.0.1');
    const pair = { client, server };
    open.add(pair);
    client.pipe(server);
    server.pipe(client);
    const drop = () => {
      open.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('error', drop).on('close', drop);
    server.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
  const own = (proxy.address() as { port: number }).port;
  const cut: Socket[] = [];
  return {
    port: own,
    url: `redis://127.0.0.1:${own}`,
    cutSilently() {
      for (const { client, server } of open) {
        client.unpipe(server);
        server.unpipe(client);
        // Read and drop whatever comes, so neither side is ever told anything.
        client.removeAllListeners('data').on('data', () => {});
        server.removeAllListeners('data').on('data', () => {});
        cut.push(client, server);
      }
      open.clear();
    },
    async close() {
      for (const s of cut) s.destroy();
      await new Promise((r) => proxy.close(r));
    },
  };
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface OwnPostgres {
  url: string;
  port: number;
  start(): Promise<void>;
  /** Fast shutdown: every connection is cut, in-flight transactions roll back. */
  stop(): Promise<void>;
  /**
   * SIGSTOP / SIGCONT to the postmaster and every process of the cluster: it answers nothing, its
   * connections stay open (the kernel still accepts new ones), and it carries on where it was
   * (a hung server, a partition that sends no reset).
   */
  pause(): void;
  resume(): void;
  destroy(): Promise<void>;
}

/** A fresh cluster in a scratch folder, run as the postgres user (we are root). */
export async function ownPostgres(): Promise<OwnPostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fs-pg-'));
  chmodSync(dir, 0o777);
  const data = join(dir, 'data');
  const asPg = (cmd: string, args: string[]) =>
    execFileSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, cmd), ...args], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  asPg('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  const postmaster = () => readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
  const pg: OwnPostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      asPg('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-o', opts, '-w', 'start']);
    },
    async stop() {
      asPg('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    pause() {
      // The postmaster first, so it forks nothing new; then what it has forked.
      const pid = postmaster();
      execFileSync('kill', ['-STOP', pid]);
      execFileSync('pkill', ['-STOP', '-P', pid]);
    },
    resume() {
      const pid = postmaster();
      execFileSync('pkill', ['-CONT', '-P', pid]);
      execFileSync('kill', ['-CONT', pid]);
    },
    async destroy() {
      try {
        asPg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}
