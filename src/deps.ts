import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { openDatabase, type Database } from './adapters/db/client.js';
import { MemoryEventBus } from './adapters/pubsub/memory.js';
import { RedisEventBus } from './adapters/pubsub/redis.js';
import { DegradingEventBus } from './adapters/pubsub/degrading.js';
import { createResilientRedisGate } from './adapters/redis/resilient.js';
import { SandboxGateway } from './adapters/payments/sandbox.js';
import type { Config } from './config.js';
import type { Deps } from './domain/context.js';
import type { EventBus } from './domain/events.js';
import { MemoryGate } from './domain/gate/memory.js';
import type { StockGate } from './domain/gate/port.js';
import { InventoryCache } from './domain/inventory/cache.js';
import type { PaymentGateway } from './domain/payments/port.js';
import type { RuntimeOps } from './ops/index.js';

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
}

/** Builds every client from the config. Nothing is created at import time. */
export async function createRuntime(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'redisUrl' | 'logLevel'> & { ops?: Pick<Config['ops'], 'gateFallback'> },
  opts: RuntimeOptions = {},
): Promise<Runtime> {
  const log = opts.log ?? pino({ level: config.logLevel });
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const closers: (() => Promise<unknown>)[] = [];
  const ops: RuntimeOps = {};
  let gate: StockGate;
  let events: EventBus;
  if (config.redisUrl) {
    const prefix = opts.redisPrefix ?? 'fs:';
    const client = () =>
      new Redis(config.redisUrl!, {
        lazyConnect: false,
        maxRetriesPerRequest: 2,
        enableOfflineQueue: true,
        retryStrategy: (n) => Math.min(n * 200, 2000),
      });
    const gateClient = client();
    gateClient.on('error', (err) => log.warn({ err: err.message }, 'redis (gate) error'));
    const pub = client();
    const sub = client();
    pub.on('error', () => {});
    sub.on('error', () => {});
    gate = createResilientRedisGate({ redis: gateClient, prefix, db: database.db, log, fallback: config.ops?.gateFallback ?? 'postgres', now: opts.now });
    const bus = new RedisEventBus(pub, sub, prefix);
    events = new DegradingEventBus(bus, pub);
    ops.redis = { client: gateClient, prefix };
    closers.push(() => gate.close());
    closers.push(() => bus.close(), () => gateClient.quit().catch(() => gateClient.disconnect()));
  } else {
    gate = new MemoryGate();
    events = new MemoryEventBus();
    closers.push(() => events.close());
  }
  const inventory = new InventoryCache();
  const deps: Deps = {
    db: database.db,
    gate,
    events,
    inventory,
    payments: opts.payments ?? new SandboxGateway(),
    log,
    now: opts.now ?? (() => new Date()),
  };
  // Every process keeps its stock copy and sold-out flags fresh from every process's changes.
  const stopListening = await events.listen('stock', (s) => {
    if (inventory.offer(s)) gate.noteStock(s.productId, s.availableQuantity);
  });
  return {
    deps,
    database,
    ops,
    async close() {
      await stopListening();
      for (const c of closers) await c().catch(() => {});
      await database.close();
    },
  };
}
