import { Cluster, Redis, type RedisOptions } from 'ioredis';

/**
 * One Redis server (or a Sentinel-managed primary), or a Redis Cluster: ioredis gives both the
 * same commands. What runs on a Cluster must keep each command and script to the keys of one
 * slot: a product's gate keys share its hash tag (gate.ts), a rate-limit scope's buckets share one
 * (ratelimit.ts), the attempt counts share one (ops/attempts.ts).
 */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** Commands of one turn of the event loop go in one write (per node, on a Cluster). */
  autoPipeline: boolean;
  /** Times a command is sent again after its connection failed (null: until it succeeds). */
  maxRetriesPerRequest: number | null;
  socketTimeout?: number;
  commandTimeout?: number;
}

/** How long to wait between reconnection attempts: 200 ms more each time, at most 2 s. */
const backoff = (n: number) => Math.min(n * 200, 2000);

/**
 * A client for REDIS_URL: `urls` is one URL, or with `cluster` one or more seed nodes of a Redis
 * Cluster (the client learns the others from them). A Cluster's user, password and TLS come from
 * the first URL, as every node of one cluster shares them.
 */
export function createRedisClient(urls: readonly string[], cluster: boolean, o: RedisClientOptions): RedisClient {
  const common = connectionOptions(o);
  if (!cluster) {
    return new Redis(urls[0], { lazyConnect: false, enableOfflineQueue: true, enableAutoPipelining: o.autoPipeline, retryStrategy: backoff, ...common });
  }
  const { host: _h, port: _p, ...auth } = nodeOf(urls[0]);
  const redisOptions: RedisOptions = { ...common, ...auth };
  const nodes = urls.map((u) => {
    const { host, port } = nodeOf(u);
    return { host, port };
  });
  return new Cluster(nodes, {
    lazyConnect: false,
    enableOfflineQueue: true,
    enableAutoPipelining: o.autoPipeline,
    clusterRetryStrategy: backoff,
    // Writes and their reads go to the primaries: the gate's answers must never come from a lagging replica.
    scaleReads: 'master',
    redisOptions,
  });
}

/** What every connection takes of the options: retries and timeouts. */
const connectionOptions = (o: RedisClientOptions): RedisOptions => ({
  maxRetriesPerRequest: o.maxRetriesPerRequest,
  ...(o.socketTimeout !== undefined ? { socketTimeout: o.socketTimeout } : {}),
  ...(o.commandTimeout !== undefined ? { commandTimeout: o.commandTimeout } : {}),
});

/** What a node URL gives a connection: host, port, user, password, TLS. */
function nodeOf(u: string): RedisOptions & { host: string; port: number } {
  const parsed = new URL(u);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * The pub/sub subscriber for a Redis Cluster: one plain connection to one node (classic pub/sub
 * messages reach every node of a Cluster), which tries the next node the Cluster knows (else the
 * next seed) each time it reconnects, so a node lost for good is left behind. A plain connection,
 * not ioredis's Cluster subscriber: that one moves to another node silently, and whatever was
 * published meanwhile would be missed with nothing to say so; this one says 'ready' after every
 * reconnect, which is when the event bus re-reads what it may have missed.
 */
export function createClusterSubscriber(cluster: Cluster, seeds: readonly string[], o: RedisClientOptions): Redis {
  let turn = 0;
  const first = nodeOf(seeds[0]);
  const sub: Redis = new Redis({
    ...first,
    lazyConnect: false,
    enableOfflineQueue: true,
    ...connectionOptions(o),
    retryStrategy: (n) => {
      const known = cluster.nodes('all').map((r) => ({ host: r.options.host!, port: r.options.port! }));
      const candidates = known.length ? known : seeds.map(nodeOf);
      const next = candidates[++turn % candidates.length];
      // The connector reads these at each connection attempt.
      sub.options.host = next.host;
      sub.options.port = next.port;
      return backoff(n);
    },
  });
  return sub;
}

/**
 * Pings every server the client uses (every primary of a Cluster: a Cluster with one primary down
 * is not a working gate, though most of its nodes answer). Resolves true only when all answer.
 */
export async function pingAll(client: RedisClient): Promise<boolean> {
  if (client.status !== 'ready') return false;
  const servers = client instanceof Cluster ? client.nodes('master') : [client];
  if (servers.length === 0) return false;
  const answers = await Promise.all(servers.map((s) => s.ping().catch(() => undefined)));
  return answers.every((a) => a === 'PONG');
}

/**
 * Why this client is not fit to use, or undefined: a plain client whose server is a Redis Cluster
 * node (every command of a slot it does not serve would be refused with MOVED; REDIS_CLUSTER=on is
 * missing). The readiness check asks it each time (one INFO), and the process logs it once connected.
 */
export async function misconfiguration(client: RedisClient): Promise<string | undefined> {
  if (client instanceof Cluster) return undefined;
  const info = await client.info('cluster');
  return /cluster_enabled:1/.test(info) ? 'REDIS_URL is a Redis Cluster node: set REDIS_CLUSTER=on' : undefined;
}
