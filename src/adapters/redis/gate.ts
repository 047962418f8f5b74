import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Result } from 'ioredis';
import type { RedisClient } from './client.js';
import {
  type AdmitAttempt,
  type GateDecision,
  type GateSnapshot,
  IDEMPOTENCY_TTL_SECONDS,
  type StockGate,
} from '../../domain/gate/port.js';
import { TurnBatches } from '../../domain/batches.js';

export const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');

/** Scripts are registered under versioned names so two deployed versions never run each other's. */
const SCRIPTS = {
  // Its number of keys varies with the batch (its keyed attempts): given as the first argument.
  fsReserveManyV1: { lua: lua('reserve-many') },
  fsReleaseV2: { numberOfKeys: 2, lua: lua('release-2') },
  fsLoadV3: { numberOfKeys: 3, lua: lua('users') + lua('load-3') },
  fsMergeV2: { numberOfKeys: 2, lua: lua('merge-2') },
  fsTakeOverV1: { numberOfKeys: 3, lua: lua('takeover-3') },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    fsReserveManyV1(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Result<(number | string)[], Context>;
    fsReleaseV2(gate: string, users: string, userId: string, quantity: number, restore: '0' | '1', ...admitted: number[]): Result<number, Context>;
    fsLoadV3(gate: string, users: string, staged: string, ...args: (string | number)[]): Result<number, Context>;
    fsMergeV2(gate: string, users: string, ...args: (string | number)[]): Result<number, Context>;
    fsTakeOverV1(idem: string, gate: string, users: string, reservationPrefix: string, userId: string, quantity: number): Result<number, Context>;
  }
}

export function defineGateScripts(redis: RedisClient): void {
  for (const [name, def] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, def);
  }
  // The gate gathers a turn's attempts (and key lookups, MGET) into one call itself; auto-pipelined,
  // each call would wait for another turn of the event loop before it is written.
  const ignored = redis.options.autoPipeliningIgnoredCommands;
  if (redis.options.enableAutoPipelining && ignored) for (const c of ['fsReserveManyV1', 'mget']) if (!ignored.includes(c)) ignored.push(c);
}

/** At most this many attempts per script call (a longer turn's attempts go in several, in order). */
export const ADMITS_PER_CALL = 500;

interface Pending {
  a: AdmitAttempt;
  resolve(d: GateDecision): void;
  reject(err: unknown): void;
}

interface Lookup {
  key: string;
  resolve(seen: boolean): void;
  reject(err: unknown): void;
}

/** Every key of a product shares one hash tag, so its scripts run on one Redis Cluster shard. */
const tagOf = (prefix: string, productId: string) => `${prefix}{${productId}}`;

export function gateKeys(prefix: string, productId: string) {
  const tag = tagOf(prefix, productId);
  return { gate: `${tag}:gate`, users: `${tag}:users` };
}

/** Holders written per Redis command when a gate's users are loaded (a sale can have a million). */
export const USERS_PER_COMMAND = 1000;
/** A staged users hash left by a process that died while writing it goes away by itself. */
const STAGED_TTL_SECONDS = 600;

/**
 * A product's holders made ready for a load or reconcile script: up to USERS_PER_COMMAND pairs go
 * inline in the script's arguments; more are written first, in chunks, to a staged hash (same hash
 * tag) that the script renames over the users hash, so the gate and its users still change in one
 * script. (All the pairs in one command would be one JavaScript call with two arguments per holder,
 * which fails past ~100,000 of them, and one Redis command that blocks the server while it runs.)
 */
export async function stageUsers(
  redis: RedisClient,
  prefix: string,
  productId: string,
  held: Record<string, number>,
): Promise<{ staged: string; mode: 'inline' | 'staged'; pairs: (string | number)[] }> {
  const staged = `${tagOf(prefix, productId)}:users:staged:${randomUUID()}`;
  const entries = Object.entries(held);
  if (entries.length <= USERS_PER_COMMAND) return { staged, mode: 'inline', pairs: entries.flat() };
  await redis.hset(staged, Object.fromEntries(entries.slice(0, USERS_PER_COMMAND)));
  await redis.expire(staged, STAGED_TTL_SECONDS);
  await perChunk(entries.slice(USERS_PER_COMMAND), (chunk) => redis.hset(staged, Object.fromEntries(chunk)));
  return { staged, mode: 'staged', pairs: [] };
}

/**
 * `call` for each USERS_PER_COMMAND holders in turn, a few calls in flight at a time (one write to
 * Redis each round, with auto-pipelining); their answers in order.
 */
async function perChunk<R>(entries: [string, number][], call: (chunk: [string, number][]) => Promise<R>): Promise<R[]> {
  const starts: number[] = [];
  for (let i = 0; i < entries.length; i += USERS_PER_COMMAND) starts.push(i);
  const out: R[] = [];
  for (let w = 0; w < starts.length; w += 16) out.push(...(await Promise.all(starts.slice(w, w + 16).map((i) => call(entries.slice(i, i + USERS_PER_COMMAND))))));
  return out;
}

/**
 * A shopper's idempotency key's record, in the product's hash tag. A plain function, not a
 * closure made per call: every reserve and every keyed sold-out answer names one.
 */
export const idemKey = (prefix: string, productId: string, userId: string, key: string) => `${tagOf(prefix, productId)}:idem:${userId}:${key}`;

/** The one place Lua's integer codes become typed decisions. */
export function toDecision([code, n, text]: [number, number, string]): GateDecision {
  switch (code) {
    case 1:
      return { outcome: 'ADMITTED', sequence: n };
    case 2: {
      const at = text.lastIndexOf(':');
      return { outcome: 'REPEATED', reservationId: text.slice(0, at), sequence: Number(text.slice(at + 1)) };
    }
    case 0:
      return { outcome: 'UNKNOWN_PRODUCT' };
    case -1:
      return { outcome: 'NOT_STARTED' };
    case -2:
      return { outcome: 'ENDED' };
    case -3:
      return { outcome: 'LIMIT_EXCEEDED', limit: n };
    case -4:
      return { outcome: 'SOLD_OUT', left: n };
    default:
      throw new Error(`stock gate returned unknown code ${code}`);
  }
}

/** KEYS[1] the gate hash; ARGV[1] startsAt ms, ARGV[2] endsAt ms (-1: none). A rare operator action: sent as EVAL. */
const SET_WINDOW = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'startsAt', ARGV[1], 'endsAt', ARGV[2]) return 1 end return 0`;
/**
 * KEYS[1] the gate hash; ARGV[1] how long the mark holds (ms). Marks a stock change under way
 * (setStock, from before its commit until its adjustStock): reconcile-3 leaves the product alone
 * while one is (else a pass between the commit and the adjustment counts the change twice). A mark
 * whose process died runs out. Nothing on a gate that is not loaded.
 */
const BEGIN_ADJUST = `if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], 'adjusting', 1)
redis.call('HSET', KEYS[1], 'adjustUntil', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1]))
return 1`;
/**
 * The stock moved by ARGV[1], never below 0, on a gate that is loaded (else nothing: it loads from
 * Postgres), and one stock change fewer under way (BEGIN_ADJUST).
 */
const ADJUST_STOCK = `if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local s = tonumber(redis.call('HGET', KEYS[1], 'stock')) + tonumber(ARGV[1])
if s < 0 then s = 0 end
redis.call('HSET', KEYS[1], 'stock', s)
if redis.call('HINCRBY', KEYS[1], 'adjusting', -1) <= 0 then redis.call('HDEL', KEYS[1], 'adjusting', 'adjustUntil') end
return s`;

/** How long a stock change's mark holds if its process never finishes it (ms). */
export const ADJUST_MARK_MS = 10_000;

export class RedisGate implements StockGate {
  readonly kind = 'redis' as const;
  private soldOut = new Set<string>();
  /** Attempts of this event-loop turn not yet sent, per product, in arrival order. */
  private readonly pending = new TurnBatches<Pending>(ADMITS_PER_CALL, (productId, batch) => void this.send(productId, batch));
  /** Idempotency keys of this turn to look up (keyed sold-out reserves), per product. */
  private readonly lookups = new TurnBatches<Lookup>(ADMITS_PER_CALL, (_, q) => void this.lookUp(q));
  /** Script calls made and attempts they carried (tests, the batching's effect). */
  readonly stats = { calls: 0, attempts: 0, lookupCalls: 0, lookups: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = 'fs:',
  ) {
    defineGateScripts(redis);
  }

  /**
   * Admits or refuses in arrival order. The attempts that arrive in one turn of the event loop
   * (the requests of one read from the sockets) go to Redis as one script call per product, at
   * the turn's end, as auto-pipelining sent them in one write before: one call instead of one per
   * attempt, which was most of this process's Redis client CPU per reservation. Each attempt is
   * decided exactly as alone (reserve-many.lua); a failed call fails each of its attempts.
   */
  admit(a: AdmitAttempt): Promise<GateDecision> {
    return new Promise((resolve, reject) => this.pending.add(a.productId, { a, resolve, reject }));
  }

  /** One MGET for a product's keys of this turn (one hash tag: one slot, in a Cluster too). */
  private async lookUp(q: Lookup[]): Promise<void> {
    let found: (string | null)[];
    try {
      this.stats.lookupCalls++;
      this.stats.lookups += q.length;
      found = await this.redis.mget(q.map((l) => l.key));
    } catch (err) {
      for (const l of q) l.reject(err);
      return;
    }
    q.forEach((l, i) => l.resolve(found[i] !== null));
  }

  private async send(productId: string, batch: Pending[]): Promise<void> {
    const k = gateKeys(this.prefix, productId);
    const keys: string[] = [k.gate, k.users];
    const args: (string | number)[] = [];
    for (const { a } of batch) {
      const keyed = a.idempotencyKey !== undefined;
      if (keyed) keys.push(idemKey(this.prefix, productId, a.userId, a.idempotencyKey!));
      args.push(a.userId, a.quantity, a.nowMs, a.reservationId, keyed ? IDEMPOTENCY_TTL_SECONDS : 0, keyed ? keys.length : 0);
    }
    let raw: (number | string)[];
    try {
      this.stats.calls++;
      this.stats.attempts += batch.length;
      raw = await this.redis.fsReserveManyV1(keys.length, ...keys, ...args);
    } catch (err) {
      for (const p of batch) p.reject(err);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      let d: GateDecision;
      try {
        d = toDecision([raw[3 * i] as number, raw[3 * i + 1] as number, raw[3 * i + 2] as string]);
      } catch (err) {
        batch[i].reject(err);
        continue;
      }
      if (d.outcome === 'SOLD_OUT' && d.left === 0) this.soldOut.add(productId);
      batch[i].resolve(d);
    }
  }

  async release(productId: string, userId: string, quantity: number, restoreStock: boolean, admitted?: number): Promise<void> {
    const k = gateKeys(this.prefix, productId);
    const stock = await this.redis.fsReleaseV2(k.gate, k.users, userId, quantity, restoreStock ? '1' : '0', ...(admitted === undefined ? [] : [admitted]));
    if (stock > 0) this.soldOut.delete(productId);
  }

  /**
   * Whether the shopper's key was admitted (keyed sold-out reserves, most of a sale's requests from
   * the SDK). The lookups of one turn go with the admits, one MGET per product.
   */
  mayRepeat(productId: string, userId: string, key: string, _nowMs?: number): Promise<boolean> {
    return new Promise((resolve, reject) => this.lookups.add(productId, { key: idemKey(this.prefix, productId, userId, key), resolve, reject }));
  }

  async forget(productId: string, userId: string, idempotencyKey: string): Promise<void> {
    await this.redis.del(idemKey(this.prefix, productId, userId, idempotencyKey));
  }

  async takeOver(productId: string, userId: string, idempotencyKey: string, reservationId: string, quantity: number): Promise<boolean> {
    const k = gateKeys(this.prefix, productId);
    return (await this.redis.fsTakeOverV1(idemKey(this.prefix, productId, userId, idempotencyKey), k.gate, k.users, `${reservationId}:`, userId, quantity)) === 1;
  }

  async load(s: GateSnapshot, force: boolean): Promise<boolean> {
    const k = gateKeys(this.prefix, s.productId);
    const users = await stageUsers(this.redis, this.prefix, s.productId, s.held);
    const wrote = await this.redis.fsLoadV3(
      k.gate,
      k.users,
      users.staged,
      force ? '1' : '0',
      s.stock,
      s.sequence,
      s.startsAtMs,
      s.endsAtMs,
      s.perUserLimit,
      users.mode,
      ...users.pairs,
    );
    // The sold-out flag is left alone: the snapshot was read before this write, and the flag
    // follows the newest stock this process has seen (its stock events, versioned).
    return wrote === 1;
  }

  /**
   * Folds a snapshot into a gate that already holds the product (merge-2.lua): the lower stock,
   * the higher sequence and shoppers' counts, the earlier window. A rebuild's snapshot is read
   * before it is written, and never holds the admissions not yet stored: overwriting a live gate
   * with it would hand out again what others had just admitted. False (nothing written) when
   * the gate does not hold the product. A sale's many holders go in several calls, the gate's
   * fields with the last; a count merged early only ever refuses more, never admits more.
   */
  async merge(s: GateSnapshot): Promise<boolean> {
    const k = gateKeys(this.prefix, s.productId);
    const fields = [s.stock, s.sequence, s.startsAtMs, s.endsAtMs, s.perUserLimit];
    const entries = Object.entries(s.held);
    const last = Math.max(0, entries.length - USERS_PER_COMMAND);
    const early = await perChunk(entries.slice(0, last), (chunk) => this.redis.fsMergeV2(k.gate, k.users, '0', ...fields, ...chunk.flat()));
    if (early.includes(-1)) return false;
    return (await this.redis.fsMergeV2(k.gate, k.users, '1', ...fields, ...entries.slice(last).flat())) >= 0;
  }

  async setWindow(productId: string, startsAtMs: number, endsAtMs: number): Promise<void> {
    // Only a gate that is loaded: fields written into a missing hash would make a gate without stock.
    await this.redis.eval(SET_WINDOW, 1, gateKeys(this.prefix, productId).gate, startsAtMs, endsAtMs);
  }

  async beginAdjust(productId: string, markMs = ADJUST_MARK_MS): Promise<void> {
    await this.redis.eval(BEGIN_ADJUST, 1, gateKeys(this.prefix, productId).gate, markMs);
  }

  async adjustStock(productId: string, delta: number): Promise<void> {
    await this.redis.eval(ADJUST_STOCK, 1, gateKeys(this.prefix, productId).gate, delta);
  }

  knownSoldOut(productId: string): boolean {
    return this.soldOut.has(productId);
  }

  noteStock(productId: string, available: number): void {
    if (available > 0) this.soldOut.delete(productId);
    else this.soldOut.add(productId);
  }

  async close(): Promise<void> {}
}
