import type { Result } from 'ioredis';
import { pingAll, type RedisClient } from './client.js';
import type { Logger } from 'pino';
import type { Db } from '../db/client.js';
import type { GateSnapshot } from '../../domain/gate/port.js';
import { fallbackSequence, PostgresAdmission, SYNC_GAP } from '../../domain/gate/postgres.js';
import { type GateRebuilder, rebuildGate } from '../../domain/gate/reconcile.js';
import { type GateInspector, ResilientGate } from '../../domain/gate/resilient.js';
import { gateKeys, lua, RedisGate, stageUsers } from './gate.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fsReconcileV3(gate: string, users: string, staged: string, ...args: (string | number)[]): Result<number, Context>;
  }
}

const REDIS_ABOVE_FALLBACK = 1_000_000;

const RECONCILE = { numberOfKeys: 3, lua: lua('users') + lua('reconcile-3') };

/** Looks at and corrects one product's Redis gate (compare-and-set, see reconcile-3.lua). */
export class RedisGateInspector implements GateInspector {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    const name: string = 'fsReconcileV3';
    if (!(name in redis)) redis.defineCommand(name, RECONCILE);
  }

  async peek(productId: string) {
    const [stock, seq] = await this.redis.hmget(gateKeys(this.prefix, productId).gate, 'stock', 'seq');
    if (stock === null || seq === null) return undefined;
    return { stock: Number(stock), sequence: Number(seq) };
  }

  async correct(productId: string, expect: { stock: number; sequence: number }, stock: number, held?: Record<string, number>) {
    const k = gateKeys(this.prefix, productId);
    const users = held ? await stageUsers(this.redis, this.prefix, productId, held) : { staged: `${k.users}:staged:none`, mode: 'keep' as const, pairs: [] };
    const r = await this.redis.fsReconcileV3(k.gate, k.users, users.staged, expect.sequence, expect.stock, stock, users.mode, ...users.pairs);
    return r === 1 ? 'DONE' : r === 0 ? 'MOVED' : 'MISSING';
  }
}

export interface ResilientRedisGateOptions {
  redis: RedisClient;
  prefix: string;
  db: Db;
  log: Logger;
  fallback: 'postgres' | 'error';
  now?: () => Date;
}

/**
 * The lowest sequence the Redis gate may hand out next for a product. Once the fallback has handed
 * out sequences, the Redis gate starts far above them, so a process still admitting through
 * Postgres (it has not noticed Redis is back yet) can never hand out a number the Redis gate also
 * hands out. Sequences are unique and increasing, not dense.
 */
export const sequenceFloor = (db: Db) => async (productId: string) => {
  const last = await fallbackSequence(db, productId);
  return last > 0 ? last + REDIS_ABOVE_FALLBACK : 0;
};

/**
 * A rebuild's writes into the Redis gate, with each product's sequence raised to its floor. A gate
 * lost with Redis's state is loaded `SYNC_GAP` above the stored sequences, as the fallback starts:
 * above the admissions the lost gate handed out and Postgres never stored, so their hand-backs,
 * given after the rebuild, find them counted by the load (healedStock / healedHeld) and change nothing.
 */
export function redisRebuilder(primary: RedisGate, floor: (productId: string) => Promise<number>): GateRebuilder {
  const above = async (s: GateSnapshot, gap = 0) => ({ ...s, sequence: Math.max(s.sequence + gap, await floor(s.productId)) });
  return {
    load: async (s) => primary.load(await above(s, SYNC_GAP), false),
    merge: async (s) => primary.merge(await above(s)),
  };
}

/** The Redis Lua gate wrapped with its Postgres fallback, probe and rebuild (see domain/gate/resilient.ts). */
export function createResilientRedisGate(o: ResilientRedisGateOptions): ResilientGate {
  const primary = new RedisGate(o.redis, o.prefix);
  const floor = sequenceFloor(o.db);
  return new ResilientGate({
    primary,
    inspector: new RedisGateInspector(o.redis, o.prefix),
    fallback: o.fallback,
    postgres: new PostgresAdmission(o.db),
    connected: () => o.redis.status === 'ready',
    probe: async () => {
      if (o.redis.status !== 'ready') return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 500)));
      try {
        // Every primary of a Cluster: the gate is back when all its products' keys are.
        return await Promise.race([pingAll(o.redis), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    sequenceFloor: floor,
    rebuild: async () => {
      await rebuildGate({ db: o.db, now: o.now ?? (() => new Date()) }, redisRebuilder(primary, floor));
    },
    log: o.log,
  });
}
