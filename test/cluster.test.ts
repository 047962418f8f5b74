// WORKERS=2: the started process supervises two api processes on one port (node:cluster),
// replaces one that dies, and stops them all on SIGTERM. Real Postgres and Redis.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth.js';
import { REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { RESERVE, TEST_SECRET } from './support/harness.js';

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** One request on a fresh connection, so node:cluster may hand it to either process. */
function post(port: number, body: unknown, token?: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });

const until = async (what: () => boolean | Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await what()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
};

describe('WORKERS=2 (node:cluster)', () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let primary: ChildProcess;
  let port: number;
  let exited: Promise<number | null>;

  beforeAll(async () => {
    db = await scratchDatabase();
    port = await freePort();
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
      env: {
        ...process.env,
        WORKERS: '2',
        ROLE: 'all',
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        REDIS_URL,
        REDIS_PREFIX: `${uniqueName('fsc')}:`,
        AUTH_JWT_SECRET: TEST_SECRET,
        NODE_ENV: 'production',
        DATA_ENCRYPTION_KEY: `test:${Buffer.alloc(32, 3).toString('base64')}`,
        RATE_LIMIT: 'off',
        LOG_LEVEL: 'error',
      },
      stdio: 'ignore',
    });
    exited = new Promise((resolve) => primary.once('exit', (code) => resolve(code)));
    const up = await until(async () => childrenOf(primary.pid!).length === 2 && (await post(port, { query: '{ products { id } }' }).then(() => true, () => false)), 110_000);
    expect(up).toBe(true);
  }, 120_000); // generous: on a machine shared with other builds, start-up alone can take half a minute

  afterAll(async () => {
    if (primary && primary.exitCode === null) primary.kill('SIGKILL');
    await db?.drop();
  });

  it('serves from both processes, shares the gate, replaces a process that dies and stops on SIGTERM', async () => {
    const admin = await signToken(TEST_SECRET, { sub: 'ops', roles: ['admin'] });
    const created = await post(
      port,
      {
        query: `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        variables: { input: { id: 'cluster-1', name: 'One', priceAmount: 100, currency: 'USD', totalQuantity: 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1, reservationTtlSeconds: 60 } } },
      },
      admin,
    );
    expect(created.data.createProduct.id).toBe('cluster-1');
    // 20 shoppers on fresh connections, spread over both processes: exactly one wins the unit.
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => signToken(TEST_SECRET, { sub: `c-${i}` })));
    const results = await Promise.all(tokens.map((t) => post(port, { query: RESERVE, variables: { input: { productId: 'cluster-1' } } }, t)));
    const kinds = results.map((r) => r.data?.reserve.__typename);
    expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'SoldOut')).toHaveLength(19);

    const [victim] = childrenOf(primary.pid!);
    process.kill(victim, 'SIGKILL');
    expect(await until(() => { const c = childrenOf(primary.pid!); return c.length === 2 && !c.includes(victim); }, 30_000)).toBe(true);
    expect(await until(async () => (await post(port, { query: '{ inventory(productId: "cluster-1") { soldOut } }' }).catch(() => null))?.data?.inventory.soldOut === true, 30_000)).toBe(true);

    const children = childrenOf(primary.pid!);
    primary.kill('SIGTERM');
    await exited;
    expect(await until(() => children.every((c) => !readdirSync('/proc').includes(String(c))), 15_000)).toBe(true);
  }, 90_000);
});
