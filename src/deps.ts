import pino, { type Logger } from 'pino';
import { openDatabase, type Database } from './adapters/db/client.js';
import { MemoryEventBus } from './adapters/pubsub/memory.js';
import { RedisEventBus } from './adapters/pubsub/redis.js';
import { DegradingEventBus } from './adapters/pubsub/degrading.js';
import { createResilientRedisGate } from './adapters/redis/resilient.js';
import { SandboxGateway } from './adapters/payments/sandbox.js';
import { createPaymentGateway } from './adapters/payments/index.js';
import { createNotifier } from './adapters/notify/index.js';
import { type Config, DEFAULT_POOL_SIZE, DEFAULT_RESERVE_CONNECTIONS, defaultNotificationConfig, type NotificationConfig } from './config.js';
import type { Notifier } from './domain/notifications/port.js';
import type { Deps } from './domain/context.js';
import type { EventBus } from './domain/events.js';
import { MemoryGate } from './domain/gate/memory.js';
import type { StockGate } from './domain/gate/port.js';
import { InventoryCache } from './domain/inventory/cache.js';
import { refreshInventory } from './domain/inventory/products.js';
import { applyBlocksEvent, blocksMaybeMissed } from './domain/blocks.js';
import type { PaymentGateway } from './domain/payments/port.js';
import { keyringFromSecret, parseKeyring } from './domain/privacy/crypto.js';
import { DegradingRateLimitStore, RedisRateLimitStore } from './adapters/redis/ratelimit.js';
import { Cluster } from 'ioredis';
import { createClusterSubscriber, createRedisClient, misconfiguration } from './adapters/redis/client.js';
import { devDataSecret } from './security/devsecret.js';
import { MemoryRateLimitStore, type RateLimitStore } from './security/ratelimit.js';
import type { RuntimeOps } from './ops/index.js';
import { DEFAULT_POSTGRES_TIMEOUT_MS, DEFAULT_REDIS_TIMEOUT_MS } from './ops/config.js';

export interface Runtime {
  deps: Deps;
  database: Database;
  /** What the operations layer needs (issue 7): src/ops/index.ts. */
  ops: RuntimeOps;
  close(): Promise<void>;
}

export interface RuntimeOptions {
  log?: Logger;
  /** Key prefix for every Redis key and channel (tests give each file its own). */
  redisPrefix?: string;
  payments?: PaymentGateway;
  now?: () => Date;
  /** Stock tickers push at most one update per product per this many ms (default 100). */
  stockCoalesceMs?: number;
  /** Reservations of one product committed together at most (default 250; 1 = each alone). */
  reserveBatchMax?: number;
  /** Payment settlements committed together at most (default 100; 1 = each alone). */
  settleBatchMax?: number;
  /** Overrides of the notification settings (tests: fast retries, their own SMTP server). */
  notifications?: Partial<NotificationConfig>;
  /** Replaces senders per channel (tests). */
  notifier?: Partial<Notifier>;
}

/** Builds every client from the config. Nothing is created at import time. */
export async function createRuntime(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'redisUrl' | 'redisClusterNodes' | 'logLevel'> &
    Partial<Pick<Config, 'redisPrefix' | 'payments' | 'dataEncryptionKey' | 'notifications' | 'reserveConnections' | 'poolSize'>> & {
      ops?: Pick<Config['ops'], 'gateFallback'> & Partial<Pick<Config['ops'], 'redisTimeoutMs' | 'postgresTimeoutMs' | 'postgresStartupWaitMs'>>;
    },
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const log = opts.log ?? pino({ level: config.logLevel });
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    maxConnections: config.poolSize ?? DEFAULT_POOL_SIZE,
    reserveConnections: config.reserveConnections ?? DEFAULT_RESERVE_CONNECTIONS,
    unresponsiveAfterMs: config.ops?.postgresTimeoutMs ?? DEFAULT_POSTGRES_TIMEOUT_MS,
    startupWaitMs: config.ops?.postgresStartupWaitMs ?? 0,
    log,
  });
  const closers: (() => Promise<unknown>)[] = [];
  const ops: RuntimeOps = {};
  let gate: StockGate;
  let events: EventBus;
  let limiter: RateLimitStore;
  if (config.redisUrl) {
    const prefix = opts.redisPrefix ?? config.redisPrefix ?? 'fs:';
    // Commands issued in the same tick go out in one write (one syscall and one Redis read for
    // dozens of concurrent reserves' gate and rate-limit scripts, or a batch's stock and
    // reservation events); each script still runs atomically, and order is kept.
    // A command not answered in REDIS_TIMEOUT_MS fails, and a connection that answers nothing for as
    // long while commands wait on it (a hung Redis, a partition that sends no reset) is destroyed and
    // reconnected: the gate falls back instead of every reserve waiting for the kernel to give up on
    // the socket (many minutes). Either alone is not enough: a timed-out socket's commands are resent
    // on the next connection, which a hung server accepts (its kernel does) and never answers.
    const timeoutMs = config.ops?.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    const timeouts = timeoutMs > 0 ? { socketTimeout: timeoutMs, commandTimeout: timeoutMs } : {};
    // A Redis Cluster (REDIS_CLUSTER=on) takes the same settings per node, and every command below
    // keeps to the keys of one slot (src/adapters/redis/client.ts).
    const nodes = config.redisClusterNodes ?? [config.redisUrl];
    const client = (autoPipeline: boolean, maxRetriesPerRequest: number | null, limits: { socketTimeout?: number; commandTimeout?: number }) =>
      createRedisClient(nodes, !!config.redisClusterNodes, { autoPipeline, maxRetriesPerRequest, ...limits });
    const gateClient = client(true, 2, timeouts);
    gateClient.on('error', (err) => log.warn({ err: err.message }, 'redis (gate) error'));
    // A plain client on a Cluster node would have most products' commands refused (MOVED): said
    // once connected, and by /ready for as long as it lasts.
    gateClient.once('ready', () => {
      misconfiguration(gateClient).then(
        (problem) => problem && log.error({ redis: config.redisUrl }, problem),
        () => {},
      );
    });
    const pub = client(true, 2, timeouts);
    // Subscriptions wait for the connection instead of failing: a process that starts while
    // Redis is unreachable subscribes once it is back (the gate and publishes fail fast instead),
    // so no command timeout here. A subscriber sends nothing of its own, so a dead connection (a
    // partition with no reset) would never be noticed and this process would stop hearing the
    // others' events for good: a PING every REDIS_TIMEOUT_MS gives its socket timeout an answer
    // to wait for; past it the connection is replaced, re-subscribed, and the caches re-read.
    // On a Redis Cluster the subscriber is one plain connection to one node (a Cluster's messages
    // reach every node), moved to another known node whenever it reconnects: its 'ready' (re-
    // subscribed, caches re-read) and this heartbeat then work as on one server, where ioredis's
    // own Cluster subscriber moves between nodes without a word.
    const subOptions = { autoPipeline: false, maxRetriesPerRequest: null, ...(timeoutMs > 0 ? { socketTimeout: timeoutMs } : {}) };
    const sub = pub instanceof Cluster ? createClusterSubscriber(pub, nodes, subOptions) : client(false, null, subOptions);
    const heartbeat =
      timeoutMs > 0
        ? setInterval(() => {
            if (sub.status === 'ready') sub.ping().catch(() => {});
          }, timeoutMs)
        : undefined;
    heartbeat?.unref();
    closers.push(async () => clearInterval(heartbeat));
    pub.on('error', () => {});
    sub.on('error', () => {});
    // While Redis cannot answer, each process limits alone (in process) instead of refusing.
    limiter = new DegradingRateLimitStore(gateClient, new RedisRateLimitStore(gateClient, prefix), new MemoryRateLimitStore());
    gate = createResilientRedisGate({ redis: gateClient, prefix, db: database.db, log, fallback: config.ops?.gateFallback ?? 'postgres', now: opts.now });
    const bus = new RedisEventBus(pub, sub, prefix);
    events = new DegradingEventBus(bus, pub);
    ops.redis = { client: gateClient, prefix };
    closers.push(() => gate.close());
    closers.push(() => bus.close(), () => gateClient.quit().catch(() => gateClient.disconnect()));
  } else {
    gate = new MemoryGate();
    limiter = new MemoryRateLimitStore();
    events = new MemoryEventBus();
    closers.push(() => events.close());
  }
  const inventory = new InventoryCache(opts.stockCoalesceMs ?? 100);
  const notifySettings = { ...(config.notifications ?? defaultNotificationConfig()), ...opts.notifications };
  const notifier = { ...(await createNotifier(notifySettings, config.dataDir, log)), ...opts.notifier };
  closers.push(async () => {
    for (const s of new Set(Object.values(notifier))) await s.close?.();
  });
  const deps: Deps = {
    db: database.db,
    reserveDb: database.reserveDb,
    postgres: database.watchdog,
    gate,
    events,
    inventory,
    payments: opts.payments ?? (config.payments ? await createPaymentGateway(config.payments, log) : new SandboxGateway()),
    log,
    now: opts.now ?? (() => new Date()),
    notifications: { notifier, settings: notifySettings },
    keyring: config.dataEncryptionKey ? parseKeyring(config.dataEncryptionKey) : keyringFromSecret(devDataSecret(config.dataDir)),
    limiter,
    reserveBatchMax: opts.reserveBatchMax,
    settleBatchMax: opts.settleBatchMax,
  };
  // Every process keeps its stock copy and sold-out flags fresh from every process's changes.
  // The flag is re-derived from the newest copy on every event, not only on a newer one: a
  // product re-announced unchanged (its gate raised by reconciliation) must clear it too.
  // Other processes' blocks and unblocks too (domain/blocks.ts). Subscribed together: with Redis
  // down at start-up each waits for it a while.
  const [stopListening, stopBlocks] = await Promise.all([
    events.listen('stock', (s) => {
      inventory.offer(s);
      gate.noteStock(s.productId, inventory.get(s.productId)!.availableQuantity);
    }),
    events.listen('blocks', (e) => applyBlocksEvent(deps, e)),
  ]);
  // Events missed while pub/sub was down must not leave this process stale: re-read on reconnect.
  // The bus calls this once its re-subscription is acknowledged, so nothing published after
  // the re-read can be missed.
  const stopResync = events.onResync?.(() => {
    void refreshInventory(deps);
    blocksMaybeMissed(deps);
  });
  return {
    deps,
    database,
    ops,
    async close() {
      stopResync?.();
      await stopListening();
      await stopBlocks();
      for (const c of closers) await c().catch(() => {});
      await database.close();
    },
  };
}
