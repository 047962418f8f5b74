// REDIS_CLUSTER=on: two real api processes on a real Redis Cluster of our own (three primaries,
// no replicas) and one Postgres. Products are picked so that each of the three nodes serves one:
// the gate, the rate limits, pub/sub, the attempt counts and the readiness check all work across
// nodes, and a node's loss falls back to Postgres and comes back without overselling.
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createRedisClient, misconfiguration, pingAll } from '../src/adapters/redis/client.js';
import { BACKENDS, REDIS_URL, scratchDatabase, uniqueName } from './support/backends.js';
import { RESERVE, TEST_SECRET } from './support/harness.js';
import { collect, createSaleProduct as createProduct, httpGql, type ServerProcess, startServer, STOCK, wsClient } from './support/live.js';
import { ownRedisCluster, type OwnRedisCluster, waitFor } from './support/servers.js';

const token = (sub: string, roles: string[] = []) => signToken(TEST_SECRET, { sub, roles });


async function reserve(url: string, shopper: string, productId: string): Promise<string> {
  const res = await httpGql(url, RESERVE, { input: { productId } }, await token(shopper));
  return res.data?.reserve.__typename ?? `error ${res.errors?.[0]?.extensions?.code}`;
}

const inventory = async (url: string, id: string) =>
  (await httpGql(url, `query($id: ID!) { inventory(productId: $id) { availableQuantity reservedQuantity soldOut } }`, { id })).data.inventory;

describe.skipIf(!BACKENDS.includes('postgres+redis'))('a Redis Cluster (REDIS_CLUSTER=on), two api processes', () => {
  let rc: OwnRedisCluster;
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let sql: postgres.Sql;
  let a: ServerProcess;
  let b: ServerProcess;
  /** One plain connection per node, to see where keys are. */
  let nodes: Redis[];
  const prefix = `${uniqueName('fscluster')}:`;
  let env: Record<string, string>;

  /** `count` product ids (under `stem`) for each node of the cluster, in node order: their hash tags' slots are that node's. */
  async function idsPerNode(stem: string, count = 1): Promise<string[][]> {
    const out: string[][] = nodes.map(() => []);
    const slots = (await nodes[0].cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    for (let i = 0; out.some((ids) => ids.length < count); i++) {
      const id = `${stem}-${i}`;
      const slot = Number(await nodes[0].cluster('KEYSLOT', id));
      const port = slots.find(([from, to]) => slot >= from && slot <= to)![2][1];
      const at = rc.ports.indexOf(port);
      if (out[at].length < count) out[at].push(id);
    }
    return out;
  }

  beforeAll(async () => {
    // A lost node is noticed by the others after 1 s (the node-loss test).
    rc = await ownRedisCluster(3, 1000);
    nodes = rc.ports.map((port) => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 }));
    for (const n of nodes) n.on('error', () => {});
    db = await scratchDatabase();
    await (await openDatabase({ databaseUrl: db.url })).close();
    sql = postgres(db.url, { max: 2, onnotice: () => {} });
    env = {
      DATABASE_URL: db.url,
      REDIS_CLUSTER: 'on',
      REDIS_PREFIX: prefix,
      LOAD_SHEDDING: 'off',
      // Production's rate limits, with the per-IP and read budgets raised for one test process.
      RATE_LIMIT: 'on',
      RATE_LIMIT_RESERVE_SHOPPER: '2/60s',
      RATE_LIMIT_RESERVE_IP: '1000000/10s',
      RATE_LIMIT_READ_IP: '1000000/10s',
      RATE_LIMIT_READ_SHOPPER: '1000000/10s',
      REDIS_TIMEOUT_MS: '1000',
    };
    // A knows one node; B two others (a comma-separated list of seeds). Each learns the rest.
    [a, b] = await Promise.all([
      startServer({ ...env, REDIS_URL: rc.urls[0], ROLE: 'api' }),
      startServer({ ...env, REDIS_URL: rc.urls.slice(1).join(','), ROLE: 'all', SWEEP_INTERVAL_MS: '200' }),
    ]);
  }, 180_000);
  afterAll(async () => {
    for (const p of [a, b]) p?.kill();
    for (const n of nodes ?? []) n.disconnect();
    await rc?.stop();
    await sql?.end();
    await db?.drop();
  });

  it('both processes are ready, and a plain REDIS_URL on a Cluster node is not (REDIS_CLUSTER=on is missing)', async () => {
    for (const p of [a, b]) {
      const res = await fetch(`http://127.0.0.1:${p.port}/ready`);
      expect(res.status).toBe(200);
      expect((await res.json()).checks.redis).toBe('ok');
    }
    const plain = await startServer({ ...env, REDIS_CLUSTER: 'off', REDIS_URL: rc.urls[0], ROLE: 'api' });
    try {
      let body: any;
      await waitFor(async () => {
        const res = await fetch(`http://127.0.0.1:${plain.port}/ready`);
        body = await res.json();
        return res.status === 503 && body.checks.redis !== undefined && body.checks.redis !== 'ok' && !/unreachable/.test(body.checks.redis);
      }, 'the plain process to say why it is not ready');
      expect(body.checks.redis).toBe('REDIS_URL is a Redis Cluster node: set REDIS_CLUSTER=on');
      await waitFor(() => /REDIS_URL is a Redis Cluster node/.test(plain.output()), 'the plain process to log it');
    } finally {
      plain.kill();
    }
  });

  it('the readiness checks: every primary must answer, and a plain client on a Cluster node is told apart from one on a plain server', async () => {
    const cluster = createRedisClient(rc.urls, true, { autoPipeline: false, maxRetriesPerRequest: 0, commandTimeout: 500 });
    const onNode = new Redis(rc.urls[0], { maxRetriesPerRequest: 0 });
    const shared = new Redis(REDIS_URL, { maxRetriesPerRequest: 0 });
    try {
      await Promise.all([cluster, onNode, shared].map((c) => (c.status === 'ready' ? undefined : new Promise((r) => c.once('ready', r)))));
      expect(await pingAll(cluster)).toBe(true);
      expect(await pingAll(shared)).toBe(true);
      expect(await misconfiguration(cluster)).toBeUndefined();
      expect(await misconfiguration(onNode)).toBe('REDIS_URL is a Redis Cluster node: set REDIS_CLUSTER=on');
      expect(await misconfiguration(shared)).toBeUndefined();
    } finally {
      for (const c of [cluster, onNode, shared]) c.disconnect();
    }
  });

  it('300 shoppers through both processes on products served by three different nodes: exactly the stock sold on each', async () => {
    const ids = (await idsPerNode(uniqueName('spread').replace(/_/g, '-'))).map(([id]) => id);
    for (const id of ids) await createProduct(a.url, id, 40);
    const outcomes = await Promise.all(
      ids.flatMap((id, p) => Array.from({ length: 100 }, (_, i) => reserve(i % 2 ? a.url : b.url, `spread-${p}-${i}`, id).then((kind) => ({ id, kind })))),
    );
    for (const id of ids) {
      const kinds = outcomes.filter((o) => o.id === id).map((o) => o.kind);
      expect(kinds.filter((k) => k === 'ReserveSuccess')).toHaveLength(40);
      expect(kinds.filter((k) => k === 'SoldOut')).toHaveLength(60);
      for (const p of [a, b]) expect(await inventory(p.url, id)).toEqual({ availableQuantity: 0, reservedQuantity: 40, soldOut: true });
    }
    // Each product's gate is on its own node, and only there.
    for (const [n, id] of ids.entries()) {
      for (const [m, node] of nodes.entries()) {
        const held = await node.exists(`${prefix}{${id}}:gate`).catch(() => 0);
        expect(held, `product ${n}'s gate on node ${m}`).toBe(n === m ? 1 : 0);
      }
      expect(await nodes[n].hget(`${prefix}{${id}}:gate`, 'stock')).toBe('0');
    }
    const [stored] = await sql<{ n: number }[]>`select count(*)::int as n from reservations where product_id = any(${ids})`;
    expect(stored.n).toBe(120);
  });

  it("a shopper's reserve limit holds across nodes and processes (the shopper's, the IP's and the product's buckets are on different nodes)", async () => {
    const ids = (await idsPerNode(uniqueName('limits').replace(/_/g, '-'))).map(([id]) => id);
    for (const id of ids) await createProduct(a.url, id, 10);
    expect(await reserve(a.url, 'greedy', ids[0])).toBe('ReserveSuccess');
    expect(await reserve(b.url, 'greedy', ids[1])).toBe('ReserveSuccess');
    expect(await reserve(a.url, 'greedy', ids[2])).toBe('RateLimited');
    expect(await reserve(b.url, 'patient', ids[2])).toBe('ReserveSuccess');
  });

  it('a stock change on A reaches a subscriber on B (pub/sub through the cluster), and saleStats on B counts A\'s attempts', async () => {
    const [id] = (await idsPerNode(uniqueName('live').replace(/_/g, '-')))[2];
    await createProduct(a.url, id, 5);
    const client = wsClient(b.port);
    try {
      const sub = collect<{ stockChanged: { availableQuantity: number } }>(client, STOCK, { id });
      await sub.until(() => true);
      for (let i = 0; i < 3; i++) expect(await reserve(a.url, `live-${i}`, id)).toBe('ReserveSuccess');
      await sub.until((v) => v.stockChanged.availableQuantity === 2);
      const admin = await token('operator', ['admin']);
      await waitFor(async () => {
        const s = await httpGql(b.url, `query($id: ID!) { saleStats(productId: $id) { reserveAttemptsPerSecond } }`, { id }, admin);
        return s.data?.saleStats?.reserveAttemptsPerSecond > 0;
      }, "B's saleStats to count A's attempts");
    } finally {
      await client.dispose();
    }
  });

  it("a process whose subscription was cut re-reads what it may have missed once it has subscribed again (on another node)", async () => {
    const [id] = (await idsPerNode(uniqueName('resub').replace(/_/g, '-')))[0];
    await createProduct(a.url, id, 10);
    await waitFor(async () => (await inventory(b.url, id))?.availableQuantity === 10, 'B to know the product');
    // A change no event tells of (as one published while B's subscription was down).
    await sql`update products set available_quantity = 7, total_quantity = 7, version = version + 1 where id = ${id}`;
    expect((await inventory(b.url, id)).availableQuantity).toBe(10);
    // Every subscriber connection on every node cut (A's and B's): each reconnects, to the next node.
    for (const n of nodes) await n.client('KILL', 'TYPE', 'pubsub');
    await waitFor(async () => (await inventory(b.url, id)).availableQuantity === 7, 'B to re-read the stock after subscribing again');
    // And events flow again: a reserve on A reaches B.
    expect(await reserve(a.url, 'resub-1', id)).toBe('ReserveSuccess');
    await waitFor(async () => (await inventory(b.url, id)).availableQuantity === 6, "B to hear A's reserve");
  });

  it('a node lost: reserves fall back to Postgres and never oversell; back, the gate is rebuilt from Postgres and serves again', async () => {
    const ids = (await idsPerNode(uniqueName('fault').replace(/_/g, '-'))).map(([id]) => id);
    for (const id of ids) await createProduct(a.url, id, 30);
    // Some sold through the cluster first.
    for (let i = 0; i < 5; i++) for (const id of ids) expect(await reserve(i % 2 ? a.url : b.url, `before-${id}-${i}`, id)).toBe('ReserveSuccess');

    await rc.kill(1);
    // Every reserve is answered while the node is gone: admitted through Postgres, or sold out.
    const during = await Promise.all(ids.flatMap((id) => Array.from({ length: 20 }, (_, i) => reserve(i % 2 ? a.url : b.url, `during-${id}-${i}`, id))));
    expect(during.filter((k) => k !== 'ReserveSuccess')).toEqual([]);
    // The rate limits went on in process for the buckets on the lost node (a shopper's, the IP's or the product's).
    const metric = async (p: ServerProcess, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text())?.[1] ?? 0);
    expect((await metric(a, 'flashsale_ratelimit_local_total')) + (await metric(b, 'flashsale_ratelimit_local_total'))).toBeGreaterThan(0);
    await waitFor(async () => (await metric(a, 'flashsale_gate_up')) === 0, 'A to report its gate down');

    await rc.start(1);
    // The lost node comes back empty; the probe sees every primary answer and the gate is rebuilt.
    for (const p of [a, b]) await waitFor(async () => (await metric(p, 'flashsale_gate_up')) === 1, 'the gate up again', 60_000);
    const after = await Promise.all(ids.flatMap((id) => Array.from({ length: 10 }, (_, i) => reserve(i % 2 ? a.url : b.url, `after-${id}-${i}`, id))));
    // 30 each: 5 before, 20 during, 5 of these 10 after.
    expect(after.filter((k) => k === 'ReserveSuccess')).toHaveLength(15);
    expect(after.filter((k) => k === 'SoldOut')).toHaveLength(15);
    for (const id of ids) {
      const [row] = await sql<{ n: number }[]>`select coalesce(sum(quantity), 0)::int as n from reservations where product_id = ${id}`;
      expect(row.n, id).toBe(30);
      // Each process's stock copy follows (events, or a re-read where events were missed).
      for (const p of [a, b]) {
        await waitFor(async () => JSON.stringify(await inventory(p.url, id)) === JSON.stringify({ availableQuantity: 0, reservedQuantity: 30, soldOut: true }), `${id} sold out on ${p.port}`, 15_000);
      }
    }
    // The node that was lost holds its product's gate again, rebuilt from Postgres.
    await waitFor(async () => (await nodes[1].hget(`${prefix}{${ids[1]}}:gate`, 'stock')) === '0', "the lost node's gate rebuilt");
  });
});

describe('REDIS_URL and REDIS_CLUSTER (configuration)', () => {
  const base = { NODE_ENV: 'development' };
  it('one URL: one server; REDIS_CLUSTER=on: every node listed is a seed', () => {
    expect(loadConfig({ ...base, REDIS_URL: 'redis://10.0.0.1:6379/2' })).toMatchObject({ redisUrl: 'redis://10.0.0.1:6379/2', redisClusterNodes: undefined });
    expect(loadConfig({ ...base, REDIS_CLUSTER: 'on', REDIS_URL: 'redis://:pw@10.0.0.1:7000, redis://10.0.0.2:7000' })).toMatchObject({
      redisUrl: 'redis://:pw@10.0.0.1:7000',
      redisClusterNodes: ['redis://:pw@10.0.0.1:7000', 'redis://10.0.0.2:7000'],
    });
    // A comma inside a password is not a separator: the list is split only before a scheme.
    expect(loadConfig({ ...base, REDIS_URL: 'redis://:a,b@10.0.0.1:6379' })).toMatchObject({ redisUrl: 'redis://:a,b@10.0.0.1:6379', redisClusterNodes: undefined });
    expect(loadConfig({ ...base, REDIS_CLUSTER: 'on', REDIS_URL: 'rediss://:a,b@10.0.0.1:7000,rediss://:a,b@10.0.0.2:7000' })).toMatchObject({
      redisClusterNodes: ['rediss://:a,b@10.0.0.1:7000', 'rediss://:a,b@10.0.0.2:7000'],
    });
  });
  it('refuses what cannot work, saying why', () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig({ ...base, ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(refused({ REDIS_URL: 'redis://a:1,redis://b:2' })).toBe('REDIS_URL names several servers: set REDIS_CLUSTER=on for a Redis Cluster, or give one URL');
    expect(refused({ REDIS_CLUSTER: 'on' })).toBe('REDIS_CLUSTER=on needs REDIS_URL: a node of the cluster (or several, comma-separated)');
    expect(refused({ REDIS_CLUSTER: 'yes please', REDIS_URL: 'redis://a:1' })).toBe('REDIS_CLUSTER must be on or off, got "yes please"');
    expect(refused({ REDIS_CLUSTER: 'on', REDIS_URL: 'redis://a:1/3' })).toBe('REDIS_URL: a Redis Cluster has only database 0, got "redis://a:1/3"');
    expect(refused({ REDIS_CLUSTER: 'on', REDIS_URL: 'http://b:2' })).toBe('REDIS_URL must start with redis:// or rediss://');
  });
});
