// A small flash-sale cluster for fault tests: our own Postgres and Redis, 2 api
// processes and 1 worker, each a real `node --import tsx src/index.ts`.
import { type ChildProcess, spawn } from 'node:child_process';
import postgres from 'postgres';
import { Redis } from 'ioredis';
import { signToken } from '../../src/auth.js';
import { freePort, type OwnPostgres, type OwnRedis } from '../support/servers.js';

// Never leave a server process behind, whatever happens to the test run.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export const SECRET = 'fault-secret-fault-secret-fault-secret-0123';

export interface Proc {
  role: 'api' | 'worker';
  port?: number;
  child?: ChildProcess;
  output: string[];
}

export interface Cluster {
  dbUrl: string;
  apis: Proc[];
  worker: Proc;
  start(p: Proc): Promise<void>;
  kill(p: Proc, signal?: NodeJS.Signals): Promise<void>;
  sql: postgres.Sql;
  redis: Redis;
  close(): Promise<void>;
}

const ROOT = new URL('../../', import.meta.url).pathname;

export async function cluster(pg: OwnPostgres, redis: OwnRedis, name: string, extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const dbUrl = pg.url.replace(/\/postgres$/, `/${name}`);
  const env = (p: Proc): NodeJS.ProcessEnv => ({
    ...process.env,
    NODE_ENV: 'test',
    ROLE: p.role,
    PORT: String(p.port ?? 0),
    HOST: '127.0.0.1',
    DATABASE_URL: dbUrl,
    REDIS_URL: redis.url,
    AUTH_JWT_SECRET: SECRET,
    // The worker logs at info so the test sees it start (and what it reconciles).
    LOG_LEVEL: p.role === 'worker' ? 'info' : (process.env.FAULT_LOG_LEVEL ?? 'warn'),
    SWEEP_INTERVAL_MS: '200',
    // Thousands of shoppers from one IP: rate limits have their own tests.
    RATE_LIMIT: 'off',
    GATE_RECONCILE_INTERVAL_MS: '1000',
    GATE_RECONCILE_SETTLE_MS: '5000',
    ...extraEnv,
  });
  const start = async (p: Proc) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], { cwd: ROOT, env: env(p), stdio: ['ignore', 'pipe', 'pipe'] });
    p.child = child;
    children.add(child);
    child.once('exit', () => children.delete(child));
    const keep = (b: Buffer) => {
      p.output.push(b.toString());
      if (p.output.length > 200) p.output.shift();
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const until = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${p.role} exited at start:\n${p.output.join('')}`);
      if (Date.now() > until) throw new Error(`${p.role} did not start:\n${p.output.join('')}`);
      if (p.role === 'api') {
        const ok = await fetch(`http://127.0.0.1:${p.port}/ready`).then((r) => r.ok, () => false);
        if (ok) return;
      } else if (p.output.join('').includes('worker running')) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const apis: Proc[] = [
    { role: 'api', port: await freePort(), output: [] },
    { role: 'api', port: await freePort(), output: [] },
  ];
  const worker: Proc = { role: 'worker', output: [] };
  // The first process applies the migrations; the others start once they are in.
  await start(apis[0]);
  await Promise.all([start(apis[1]), start(worker)]);
  const sql = postgres(dbUrl, { max: 2, onnotice: () => {}, connect_timeout: 5 });
  const r = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200, lazyConnect: false });
  r.on('error', () => {});
  return {
    dbUrl,
    apis,
    worker,
    start,
    async kill(p, signal = 'SIGKILL') {
      const c = p.child;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((res) => c.once('exit', res));
      c.kill(signal);
      await gone;
      p.child = undefined;
    },
    sql,
    redis: r,
    async close() {
      for (const p of [...apis, worker]) {
        if (p.child && p.child.exitCode === null) {
          const c = p.child;
          const gone = new Promise((res) => c.once('exit', res));
          c.kill('SIGTERM');
          await Promise.race([gone, new Promise((res) => setTimeout(res, 8000))]);
          if (c.exitCode === null) c.kill('SIGKILL');
        }
      }
      await sql.end({ timeout: 2 }).catch(() => {});
      r.disconnect();
    },
  };
}

export const token = (sub: string, roles: string[] = []) => signToken(SECRET, { sub, roles });
