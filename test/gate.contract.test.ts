// One contract suite, three gates: the in-process gate and the Redis Lua gate, on one Redis
// server and on a Redis Cluster, must
// implement the same decision table (src/domain/gate/port.ts `decide`).
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisGate } from '../src/adapters/redis/gate.js';
import { RedisGateInspector } from '../src/adapters/redis/resilient.js';
import { MemoryGate } from '../src/domain/gate/memory.js';
import type { GateSnapshot, StockGate } from '../src/domain/gate/port.js';
import { BACKENDS, REDIS_URL, uniqueName } from './support/backends.js';
import { lazyRedisCluster } from './support/servers.js';

const redis = new Redis(REDIS_URL, { lazyConnect: true });
const prefix = `${uniqueName('gatetest')}:`;

// A real Redis Cluster of our own (three primaries), started when its suite begins.
const cluster = lazyRedisCluster();

const gates: [string, () => StockGate | Promise<StockGate>][] = [
  ['memory', () => new MemoryGate()],
  // The Lua gate always runs on a real Redis; TEST_BACKENDS=embedded leaves Redis out entirely.
  ...(BACKENDS.includes('postgres+redis')
    ? ([
        ['redis', () => new RedisGate(redis, prefix)],
        // Each product's keys share a hash tag: every script runs on the one node that serves it.
        ['redis cluster', async () => new RedisGate(await cluster.client(), prefix)],
      ] as [string, () => Promise<StockGate>][])
    : []),
];

beforeAll(async () => {
  if (BACKENDS.includes('postgres+redis')) await redis.connect();
});
afterAll(async () => {
  if (!BACKENDS.includes('postgres+redis')) return;
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
  await cluster.stop();
});

const NOW = 1_800_000_000_000;
let n = 0;
const snapshot = (over: Partial<GateSnapshot> = {}): GateSnapshot => ({
  productId: `g${++n}-${randomUUID().slice(0, 8)}`,
  stock: 10,
  sequence: 0,
  startsAtMs: NOW - 1000,
  endsAtMs: -1,
  perUserLimit: 2,
  held: {},
  ...over,
});
const attempt = (productId: string, userId = 'u1', quantity = 1, extra: { nowMs?: number; idempotencyKey?: string } = {}) => ({
  productId,
  userId,
  quantity,
  nowMs: extra.nowMs ?? NOW,
  reservationId: randomUUID(),
  idempotencyKey: extra.idempotencyKey,
});

describe.each(gates)('%s gate', (_name, make) => {
  let gate: StockGate;
  beforeAll(async () => {
    gate = await make();
  });

  it('answers UNKNOWN_PRODUCT for a product it has not loaded', async () => {
    expect(await gate.admit(attempt('never-loaded'))).toEqual({ outcome: 'UNKNOWN_PRODUCT' });
  });

  it('admits in arrival order with increasing sequence numbers, continuing from the loaded sequence', async () => {
    const s = snapshot({ sequence: 41, perUserLimit: 5 });
    await gate.load(s, true);
    const a = await gate.admit(attempt(s.productId, 'a'));
    const b = await gate.admit(attempt(s.productId, 'b'));
    expect(a).toEqual({ outcome: 'ADMITTED', sequence: 42 });
    expect(b).toEqual({ outcome: 'ADMITTED', sequence: 43 });
  });

  it('refuses before the sale starts and at or after it ends', async () => {
    const s = snapshot({ startsAtMs: NOW + 1, endsAtMs: NOW + 10 });
    await gate.load(s, true);
    expect(await gate.admit(attempt(s.productId, 'u', 1, { nowMs: NOW }))).toEqual({ outcome: 'NOT_STARTED' });
    expect((await gate.admit(attempt(s.productId, 'u', 1, { nowMs: NOW + 1 }))).outcome).toBe('ADMITTED');
    expect(await gate.admit(attempt(s.productId, 'v', 1, { nowMs: NOW + 10 }))).toEqual({ outcome: 'ENDED' });
  });

  it("setWindow moves a loaded product's window and nothing else; a product it does not hold stays unknown", async () => {
    const s = snapshot({ stock: 5, sequence: 7 });
    await gate.load(s, true);
    expect(await gate.admit(attempt(s.productId, 'a'))).toEqual({ outcome: 'ADMITTED', sequence: 8 });
    // An operator ends the sale: from its end on, refused as ended; stock, sequence and holders unchanged.
    await gate.setWindow(s.productId, s.startsAtMs, NOW);
    expect(await gate.admit(attempt(s.productId, 'b'))).toEqual({ outcome: 'ENDED' });
    await gate.setWindow(s.productId, s.startsAtMs, -1);
    expect(await gate.admit(attempt(s.productId, 'b'))).toEqual({ outcome: 'ADMITTED', sequence: 9 });
    expect(await gate.admit(attempt(s.productId, 'a', 2))).toEqual({ outcome: 'LIMIT_EXCEEDED', limit: 2 });
    // Not loaded: nothing is written (no half-made gate), the product is still loaded from Postgres.
    await gate.setWindow('never-loaded-window', NOW - 1, NOW);
    expect(await gate.admit(attempt('never-loaded-window'))).toEqual({ outcome: 'UNKNOWN_PRODUCT' });
  });

  it("adjustStock moves a loaded product's stock by the difference, never below 0, and nothing else; a product it does not hold stays unknown", async () => {
    const s = snapshot({ stock: 1, sequence: 3, perUserLimit: 1 });
    await gate.load(s, true);
    expect(await gate.admit(attempt(s.productId, 'a'))).toEqual({ outcome: 'ADMITTED', sequence: 4 });
    expect(await gate.admit(attempt(s.productId, 'b'))).toEqual({ outcome: 'SOLD_OUT', left: 0 });
    // Restocked by 2: exactly two more, in sequence; holders' counts unchanged.
    await gate.adjustStock(s.productId, 2);
    expect(await gate.admit(attempt(s.productId, 'a'))).toEqual({ outcome: 'LIMIT_EXCEEDED', limit: 1 });
    expect(await gate.admit(attempt(s.productId, 'b'))).toEqual({ outcome: 'ADMITTED', sequence: 5 });
    // Withdrawn by more than is left (an admission in flight took one): empty, not negative.
    await gate.adjustStock(s.productId, -3);
    expect(await gate.admit(attempt(s.productId, 'c'))).toEqual({ outcome: 'SOLD_OUT', left: 0 });
    await gate.adjustStock(s.productId, 1);
    expect(await gate.admit(attempt(s.productId, 'c'))).toEqual({ outcome: 'ADMITTED', sequence: 6 });
    // Not loaded: nothing is written (no half-made gate), the product is still loaded from Postgres.
    await gate.adjustStock('never-loaded-stock', 5);
    expect(await gate.admit(attempt('never-loaded-stock'))).toEqual({ outcome: 'UNKNOWN_PRODUCT' });
  });

  it('checks the sale window before the limit, and the limit before the stock', async () => {
    const s = snapshot({ stock: 0, perUserLimit: 1, held: { u: 1 }, startsAtMs: NOW + 5 });
    await gate.load(s, true);
    expect((await gate.admit(attempt(s.productId, 'u'))).outcome).toBe('NOT_STARTED');
    expect((await gate.admit(attempt(s.productId, 'u', 1, { nowMs: NOW + 5 }))).outcome).toBe('LIMIT_EXCEEDED');
    expect((await gate.admit(attempt(s.productId, 'w', 1, { nowMs: NOW + 5 }))).outcome).toBe('SOLD_OUT');
  });

  it('enforces the per-user limit across attempts and counts units held from Postgres', async () => {
    const s = snapshot({ perUserLimit: 3, held: { u: 1 } });
    await gate.load(s, true);
    expect((await gate.admit(attempt(s.productId, 'u', 2))).outcome).toBe('ADMITTED');
    expect(await gate.admit(attempt(s.productId, 'u', 1))).toEqual({ outcome: 'LIMIT_EXCEEDED', limit: 3 });
    expect((await gate.admit(attempt(s.productId, 'other', 3))).outcome).toBe('ADMITTED');
  });

  it('never admits more than its stock, and says how much is left', async () => {
    const s = snapshot({ stock: 3, perUserLimit: 10 });
    await gate.load(s, true);
    expect(await gate.admit(attempt(s.productId, 'a', 4))).toEqual({ outcome: 'SOLD_OUT', left: 3 });
    expect((await gate.admit(attempt(s.productId, 'a', 3))).outcome).toBe('ADMITTED');
    expect(await gate.admit(attempt(s.productId, 'b', 1))).toEqual({ outcome: 'SOLD_OUT', left: 0 });
    expect(gate.knownSoldOut(s.productId)).toBe(true);
  });

  it('remembers an admitted idempotency key per shopper and never admits it twice', async () => {
    const s = snapshot({ perUserLimit: 10 });
    await gate.load(s, true);
    const first = attempt(s.productId, 'u', 1, { idempotencyKey: 'k1' });
    expect(await gate.mayRepeat(s.productId, 'u', 'k1', NOW)).toBe(false);
    const admitted = await gate.admit(first);
    expect(admitted.outcome).toBe('ADMITTED');
    // A plain read of the key: admitted for this shopper and product only.
    expect(await gate.mayRepeat(s.productId, 'u', 'k1', NOW)).toBe(true);
    expect(await gate.mayRepeat(s.productId, 'v', 'k1', NOW)).toBe(false);
    expect(await gate.mayRepeat(s.productId, 'u', 'k2', NOW)).toBe(false);
    expect(await gate.mayRepeat(`${s.productId}-other`, 'u', 'k1', NOW)).toBe(false);
    const again = await gate.admit(attempt(s.productId, 'u', 1, { idempotencyKey: 'k1' }));
    expect(again).toEqual({ outcome: 'REPEATED', reservationId: first.reservationId, sequence: (admitted as { sequence: number }).sequence });
    // The same key from another shopper is another attempt.
    expect((await gate.admit(attempt(s.productId, 'v', 1, { idempotencyKey: 'k1' }))).outcome).toBe('ADMITTED');
    // Forgotten (Postgres did not keep it): the key admits again.
    await gate.forget(s.productId, 'u', 'k1');
    expect(await gate.mayRepeat(s.productId, 'u', 'k1', NOW)).toBe(false);
    expect((await gate.admit(attempt(s.productId, 'u', 1, { idempotencyKey: 'k1' }))).outcome).toBe('ADMITTED');
  });

  /** Who of `users` (one unit each, in order) the gate admits now, without keys. */
  const admitsNow = async (productId: string, users: string[]) => {
    const out: string[] = [];
    for (const u of users) out.push(`${u}:${(await gate.admit(attempt(productId, u))).outcome}`);
    return out;
  };

  it('takes over a key only while it still names the given admission, giving its units back', async () => {
    const s = snapshot({ stock: 2, perUserLimit: 1 });
    await gate.load(s, true);
    const first = attempt(s.productId, 'u', 1, { idempotencyKey: 'kk' });
    expect((await gate.admit(first)).outcome).toBe('ADMITTED');
    expect(await gate.takeOver(s.productId, 'u', 'kk', 'another-reservation', 1)).toBe(false);
    expect(await gate.takeOver(s.productId, 'v', 'kk', first.reservationId, 1)).toBe(false);
    expect(await gate.mayRepeat(s.productId, 'u', 'kk', NOW)).toBe(true);
    expect(await gate.takeOver(s.productId, 'u', 'kk', first.reservationId, 1)).toBe(true);
    expect(await gate.takeOver(s.productId, 'u', 'kk', first.reservationId, 1)).toBe(false);
    expect(await gate.mayRepeat(s.productId, 'u', 'kk', NOW)).toBe(false);
    // Its unit is back in stock and off u's count (limit 1): u and v get the two units, once each.
    expect(await admitsNow(s.productId, ['u', 'v', 'w'])).toEqual(['u:ADMITTED', 'v:ADMITTED', 'w:SOLD_OUT']);
    // A reservation id that is a prefix of the stored one is another admission.
    const t = snapshot({ perUserLimit: 10 });
    await gate.load(t, true);
    const second = attempt(t.productId, 'u', 1, { idempotencyKey: 'kk' });
    expect((await gate.admit(second)).outcome).toBe('ADMITTED');
    expect(await gate.takeOver(t.productId, 'u', 'kk', second.reservationId.slice(0, 8), 1)).toBe(false);
    expect(await gate.admit(attempt(t.productId, 'u', 1, { idempotencyKey: 'kk' }))).toMatchObject({ outcome: 'REPEATED', reservationId: second.reservationId });
  });

  it("a take-over gives nothing back once the gate was loaded from Postgres's numbers since the admission", async () => {
    const s = snapshot({ stock: 2, perUserLimit: 1 });
    await gate.load(s, true);
    const ghost = attempt(s.productId, 'u', 1, { idempotencyKey: 'kk' });
    expect((await gate.admit(ghost)).outcome).toBe('ADMITTED');
    // Loaded again from Postgres, which never stored the ghost: its unit is in that stock already.
    await gate.load({ ...s, sequence: 0 }, true);
    expect(await gate.takeOver(s.productId, 'u', 'kk', ghost.reservationId, 1)).toBe(true);
    expect(await admitsNow(s.productId, ['u', 'v', 'w'])).toEqual(['u:ADMITTED', 'v:ADMITTED', 'w:SOLD_OUT']);
    // An admission after that load is given back as before.
    const t = snapshot({ stock: 1, perUserLimit: 1 });
    await gate.load(t, true);
    await gate.load({ ...t, stock: 1 }, true);
    const later = attempt(t.productId, 'u', 1, { idempotencyKey: 'k2' });
    expect((await gate.admit(later)).outcome).toBe('ADMITTED');
    expect(await gate.takeOver(t.productId, 'u', 'k2', later.reservationId, 1)).toBe(true);
    expect(await admitsNow(t.productId, ['u', 'v'])).toEqual(['u:ADMITTED', 'v:SOLD_OUT']);
  });

  it("a hand-back of an admission never stored changes nothing once the gate was loaded from Postgres's numbers since", async () => {
    const s = snapshot({ stock: 2, perUserLimit: 1 });
    await gate.load(s, true);
    const d = await gate.admit(attempt(s.productId, 'u'));
    expect(d.outcome).toBe('ADMITTED');
    const seq = (d as { sequence: number }).sequence;
    await gate.load({ ...s, sequence: 0 }, true);
    await gate.release(s.productId, 'u', 1, true, seq);
    expect(await admitsNow(s.productId, ['u', 'v', 'w'])).toEqual(['u:ADMITTED', 'v:ADMITTED', 'w:SOLD_OUT']);
    // One admitted after the load is handed back in full (the stock and the shopper's count).
    const t = snapshot({ stock: 1, perUserLimit: 1 });
    await gate.load(t, true);
    const later = await gate.admit(attempt(t.productId, 'u'));
    await gate.release(t.productId, 'u', 1, true, (later as { sequence: number }).sequence);
    expect(await admitsNow(t.productId, ['u', 'v'])).toEqual(['u:ADMITTED', 'v:SOLD_OUT']);
  });

  it('release gives the units back to stock and to the shopper, and clears sold out', async () => {
    const s = snapshot({ stock: 1, perUserLimit: 1 });
    await gate.load(s, true);
    expect((await gate.admit(attempt(s.productId, 'u'))).outcome).toBe('ADMITTED');
    expect((await gate.admit(attempt(s.productId, 'v'))).outcome).toBe('SOLD_OUT');
    await gate.release(s.productId, 'u', 1, true);
    expect(gate.knownSoldOut(s.productId)).toBe(false);
    expect((await gate.admit(attempt(s.productId, 'u'))).outcome).toBe('ADMITTED');
  });

  it('release without restoring stock lowers only the shopper count', async () => {
    const s = snapshot({ stock: 1, perUserLimit: 1 });
    await gate.load(s, true);
    expect((await gate.admit(attempt(s.productId, 'u'))).outcome).toBe('ADMITTED');
    await gate.release(s.productId, 'u', 1, false);
    expect((await gate.admit(attempt(s.productId, 'u'))).outcome).toBe('SOLD_OUT');
  });

  it('load writes only when empty unless forced, and never moves the sequence backwards', async () => {
    const s = snapshot({ stock: 5, sequence: 10 });
    expect(await gate.load(s, false)).toBe(true);
    expect(await gate.load({ ...s, stock: 0 }, false)).toBe(false);
    expect((await gate.admit(attempt(s.productId, 'a'))).outcome).toBe('ADMITTED');
    expect(await gate.load({ ...s, stock: 1, sequence: 3 }, true)).toBe(true);
    expect(await gate.admit(attempt(s.productId, 'b'))).toEqual({ outcome: 'ADMITTED', sequence: 12 });
    expect(await gate.admit(attempt(s.productId, 'c'))).toEqual({ outcome: 'SOLD_OUT', left: 0 });
  });

  it('decides attempts issued together in arrival order, each seeing those before it', async () => {
    // All in one turn of the event loop (the Redis gate sends them in one script call): a shopper
    // reaching the limit, a key repeated, a quantity over what is left, the last unit, then sold out.
    const s = snapshot({ stock: 5, sequence: 40, perUserLimit: 2, held: { old: 2 } });
    await gate.load(s, true);
    const key = attempt(s.productId, 'k', 1, { idempotencyKey: 'same' });
    const tries = [
      attempt(s.productId, 'a'),
      attempt(s.productId, 'old'),
      attempt(s.productId, 'a'),
      key,
      attempt(s.productId, 'a'),
      { ...attempt(s.productId, 'k', 1, { idempotencyKey: 'same' }) },
      attempt(s.productId, 'b', 2),
      attempt(s.productId, 'c', 2),
      attempt(s.productId, 'c', 1),
      attempt(s.productId, 'd', 1),
      attempt(s.productId, 'early', 1, { nowMs: NOW - 5000 }),
    ];
    const out = await Promise.all(tries.map((t) => gate.admit(t)));
    expect(out).toEqual([
      { outcome: 'ADMITTED', sequence: 41 },
      { outcome: 'LIMIT_EXCEEDED', limit: 2 },
      { outcome: 'ADMITTED', sequence: 42 },
      { outcome: 'ADMITTED', sequence: 43 },
      { outcome: 'LIMIT_EXCEEDED', limit: 2 },
      { outcome: 'REPEATED', reservationId: key.reservationId, sequence: 43 },
      { outcome: 'ADMITTED', sequence: 44 },
      { outcome: 'SOLD_OUT', left: 0 },
      { outcome: 'SOLD_OUT', left: 0 },
      { outcome: 'SOLD_OUT', left: 0 },
      { outcome: 'NOT_STARTED' },
    ]);
    expect(gate.knownSoldOut(s.productId)).toBe(true);
    // What the batch left is what the next attempts see.
    await gate.release(s.productId, 'a', 1, true);
    expect(await gate.admit(attempt(s.productId, 'a'))).toEqual({ outcome: 'ADMITTED', sequence: 45 });
    expect(await gate.admit(attempt(s.productId, 'a'))).toEqual({ outcome: 'LIMIT_EXCEEDED', limit: 2 });
  });

  it('admits exactly the stock under 1,000 concurrent attempts', async () => {
    const s = snapshot({ stock: 37, perUserLimit: 1 });
    await gate.load(s, true);
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => gate.admit(attempt(s.productId, `user${i}`))));
    const admitted = results.filter((r) => r.outcome === 'ADMITTED') as { sequence: number }[];
    expect(admitted).toHaveLength(37);
    expect(admitted.map((r) => r.sequence).sort((a, b) => a - b)).toEqual(Array.from({ length: 37 }, (_, i) => i + 1));
  });
});

/**
 * MONITOR on a plain socket: calls `seen(command, source)` for every command the server runs (the
 * command's name in lower case, the client's "host:port"), and resolves once the server has said +OK.
 * Not ioredis's monitor(): it marks the connection as monitoring only in a promise callback after the
 * +OK, so a monitored line that arrives in the same TCP chunk as the +OK is taken for the reply to a
 * command never sent ("Command queue state error", thrown as an uncaught error; ioredis#1981,
 * bullmq#2505). MONITOR replies are one-line simple strings, `+<time> [<db> <source>] "<cmd>" ...`.
 */
function monitor(url: string, seen: (command: string, source: string) => void): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port || 6379), hostname);
    let buffered = '';
    let ok = false;
    socket.setEncoding('utf8');
    socket.once('error', reject);
    socket.on('connect', () => socket.write('MONITOR\r\n'));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (!ok) {
          if (line !== '+OK') return reject(new Error(`MONITOR answered ${line}`));
          ok = true;
          resolve(socket);
          continue;
        }
        const m = /^\+\S+ \[\d+ (\S+)\] "([^"]*)"/.exec(line);
        if (m) seen(m[2].toLowerCase(), m[1]);
      }
    });
  });
}

describe.skipIf(!BACKENDS.includes('postgres+redis'))('the Redis gate, batching', () => {
  /** A Redis connection of its own, and the commands it sends as MONITOR sees them (names, lower case). */
  async function watched() {
    const own = new Redis(REDIS_URL);
    const seen: string[] = [];
    let addr = '';
    const watch = await monitor(REDIS_URL, (command, source) => {
      if (addr && source.endsWith(addr)) seen.push(command);
    });
    await own.ping();
    addr = `${own.stream.localAddress}:${own.stream.localPort}`;
    return {
      own,
      seen,
      /** Everything sent so far has been seen (a PING sent last has come back through MONITOR). */
      async settle() {
        await own.ping();
        const pings = seen.filter((c) => c === 'ping').length;
        for (let i = 0; i < 40 && seen.filter((c) => c === 'ping').length === pings; i++) await new Promise((r) => setTimeout(r, 25));
      },
      async stop() {
        watch.destroy();
        await own.quit();
      },
    };
  }

  it("sends a turn's attempts of a product as one script call, and each product's apart", async () => {
    const w = await watched();
    try {
      const gate = new RedisGate(w.own, prefix);
      const p1 = snapshot({ stock: 300, perUserLimit: 1 });
      const p2 = snapshot({ stock: 300, perUserLimit: 1 });
      await gate.load(p1, true);
      await gate.load(p2, true);
      await w.settle();
      w.seen.length = 0;
      const out = await Promise.all(Array.from({ length: 400 }, (_, i) => gate.admit(attempt(i % 2 ? p1.productId : p2.productId, `u${i}`))));
      expect(out.filter((d) => d.outcome === 'ADMITTED')).toHaveLength(400);
      await w.settle();
      // Two script calls, not 400 (ioredis sends a script's first call on a connection as EVAL).
      expect(w.seen.filter((c) => c.startsWith('eval'))).toHaveLength(2);
      expect(gate.stats).toMatchObject({ calls: 2, attempts: 400 });
      // Sequences in arrival order per product.
      const seqOf = (pid: string) => out.filter((_, i) => (i % 2 ? p1.productId : p2.productId) === pid).map((d) => (d as { sequence: number }).sequence);
      expect(seqOf(p1.productId)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      expect(seqOf(p2.productId)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      await w.stop();
    }
  });

  it("looks up a turn's idempotency keys of a product in one MGET, each answered for its own shopper", async () => {
    const w = await watched();
    try {
      const gate = new RedisGate(w.own, prefix);
      const s = snapshot({ stock: 100, perUserLimit: 5 });
      await gate.load(s, true);
      await Promise.all(Array.from({ length: 10 }, (_, i) => gate.admit(attempt(s.productId, `k${i}`, 1, { idempotencyKey: `key-${i}` }))));
      await w.settle();
      w.seen.length = 0;
      // 100 lookups in one turn: the ten admitted keys (their own shoppers only), and others.
      const asks = Array.from({ length: 100 }, (_, i) => ({ user: `k${i % 20}`, key: `key-${i % 20}` }));
      const out = await Promise.all(asks.map((a) => gate.mayRepeat(s.productId, a.user, a.key, NOW)));
      expect(out).toEqual(asks.map((a) => Number(a.user.slice(1)) < 10));
      expect(await gate.mayRepeat(s.productId, 'k11', 'key-1', NOW)).toBe(false);
      await w.settle();
      expect(w.seen.filter((c) => c === 'mget')).toHaveLength(2);
      expect(w.seen.filter((c) => c === 'exists' || c === 'get')).toHaveLength(0);
    } finally {
      await w.stop();
    }
  });

  it('a call Redis cannot take fails each of its attempts, and the gate is unchanged', async () => {
    const broken = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    broken.on('error', () => {});
    const gate = new RedisGate(broken, prefix);
    const s = snapshot({ stock: 3 });
    await new RedisGate(redis, prefix).load(s, true);
    const out = await Promise.allSettled([gate.admit(attempt(s.productId, 'x')), gate.admit(attempt(s.productId, 'y'))]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(await redis.hget(`${prefix}{${s.productId}}:gate`, 'stock')).toBe('3');
    broken.disconnect();
  });
});

// A big sale's gate after a Redis restart: its holders (one per unit, a million at most here) are
// loaded again from Postgres. More than USERS_PER_COMMAND go through a staged hash in chunks
// (one call with every holder failed past ~100,000: "Maximum call stack size exceeded").
describe.skipIf(!BACKENDS.includes('postgres+redis'))('the Redis gate with a big sale’s holders', () => {
  const holders = (n: number, from = 0) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`h${from + i}`, 1]));
  const leftovers = async () => (await redis.keys(`${prefix}*staged*`)).length;

  it('loads 250,000 holders: the per-user limit holds for every one of them, and nothing staged is left', async () => {
    const gate = new RedisGate(redis, prefix);
    const s = snapshot({ stock: 10, perUserLimit: 1, sequence: 250_000, held: holders(250_000) });
    expect(await gate.load(s, true)).toBe(true);
    expect(await redis.hlen(`${prefix}{${s.productId}}:users`)).toBe(250_000);
    for (const u of ['h0', 'h123456', 'h249999']) expect((await gate.admit(attempt(s.productId, u))).outcome).toBe('LIMIT_EXCEEDED');
    expect(await gate.admit(attempt(s.productId, 'newcomer'))).toEqual({ outcome: 'ADMITTED', sequence: 250_001 });
    // Not forced on a loaded gate: nothing changes, and the staged hash is dropped.
    expect(await gate.load({ ...s, stock: 999, held: holders(5000, 1_000_000) }, false)).toBe(false);
    expect(await redis.hlen(`${prefix}{${s.productId}}:users`)).toBe(250_001);
    expect(await leftovers()).toBe(0);
    // The users hash is not left with the staged hash's expiry.
    expect(await redis.ttl(`${prefix}{${s.productId}}:users`)).toBe(-1);
  }, 60_000);

  it('a rebuild merges 20,000 holders into a loaded gate: each shopper keeps the higher count, nothing is raised', async () => {
    const gate = new RedisGate(redis, prefix);
    // The live gate: 12,000 holders, two of them with 2 units (admitted since the snapshot was read).
    const s = snapshot({ stock: 30, sequence: 700, perUserLimit: 2, held: { ...holders(12_000), h5: 2, h11999: 2 } });
    await gate.load(s, true);
    // Postgres's older view: 20,000 holders (8,000 the gate has not seen: admitted through Postgres
    // alone during an outage), h5 with 1 unit, more stock, a lower sequence.
    const merged = { ...s, stock: 45, sequence: 500, held: { ...holders(20_000), h7: 2 } };
    expect(await gate.merge(merged)).toBe(true);
    const users = await redis.hgetall(`${prefix}{${s.productId}}:users`);
    expect(Object.keys(users)).toHaveLength(20_000);
    expect([users.h5, users.h7, users.h11999, users.h19999, users.h0]).toEqual(['2', '2', '2', '1', '1']);
    expect(await redis.hmget(`${prefix}{${s.productId}}:gate`, 'stock', 'seq')).toEqual(['30', '700']);
    expect((await gate.admit(attempt(s.productId, 'h7', 1))).outcome).toBe('LIMIT_EXCEEDED');
    expect(await gate.admit(attempt(s.productId, 'h19999', 1))).toEqual({ outcome: 'ADMITTED', sequence: 701 });
    // Nothing to merge into: false, nothing written.
    expect(await gate.merge({ ...merged, productId: `${s.productId}-none` })).toBe(false);
    expect(await redis.exists(`${prefix}{${s.productId}-none}:gate`, `${prefix}{${s.productId}-none}:users`)).toBe(0);
  }, 60_000);

  it("a take-over gives back only what no correction from Postgres's numbers has counted since the admission", async () => {
    const gate = new RedisGate(redis, prefix);
    const inspector = new RedisGateInspector(redis, prefix);
    const gateOf = (id: string) => redis.hmget(`${prefix}{${id}}:gate`, 'stock', 'seq');
    const countOf = (id: string, u: string) => redis.hget(`${prefix}{${id}}:users`, u);
    const ghostIn = async (over: Partial<GateSnapshot>) => {
      const s = snapshot({ stock: 5, perUserLimit: 3, ...over });
      await gate.load(s, true);
      const a = attempt(s.productId, 'u', 2, { idempotencyKey: 'kk' });
      expect((await gate.admit(a)).outcome).toBe('ADMITTED');
      return { s, a, takeOver: () => gate.takeOver(s.productId, 'u', 'kk', a.reservationId, 2) };
    };

    // Raised with the shoppers' counts from Postgres (which never stored the ghost): nothing given back.
    const raised = await ghostIn({});
    expect(await inspector.correct(raised.s.productId, (await inspector.peek(raised.s.productId))!, 5, {})).toBe('DONE');
    expect(await raised.takeOver()).toBe(true);
    expect(await gateOf(raised.s.productId)).toEqual(['5', '1']);
    expect(await countOf(raised.s.productId, 'u')).toBeNull();

    // Lowered, the counts kept: the stock is Postgres's already (kept), the ghost's count is given back.
    const lowered = await ghostIn({});
    expect(await inspector.correct(lowered.s.productId, (await inspector.peek(lowered.s.productId))!, 2)).toBe('DONE');
    expect(await lowered.takeOver()).toBe(true);
    expect(await gateOf(lowered.s.productId)).toEqual(['2', '1']);
    expect(await countOf(lowered.s.productId, 'u')).toBeNull();

    // Merged with Postgres's lower stock: the stock is healed, the (higher) counts are not.
    const mergedLow = await ghostIn({});
    expect(await gate.merge({ ...mergedLow.s, stock: 1 })).toBe(true);
    expect(await mergedLow.takeOver()).toBe(true);
    expect(await gateOf(mergedLow.s.productId)).toEqual(['1', '1']);
    expect(await countOf(mergedLow.s.productId, 'u')).toBeNull();

    // Merged with a higher stock (the gate's is kept): everything is given back.
    const mergedHigh = await ghostIn({});
    expect(await gate.merge({ ...mergedHigh.s, stock: 5 })).toBe(true);
    expect(await gateOf(mergedHigh.s.productId)).toEqual(['3', '1']);
    expect(await mergedHigh.takeOver()).toBe(true);
    expect(await gateOf(mergedHigh.s.productId)).toEqual(['5', '1']);
    expect(await countOf(mergedHigh.s.productId, 'u')).toBeNull();

    // Corrected before a later admission of the same shopper: that one's units come back in full.
    const before = snapshot({ stock: 5, perUserLimit: 3 });
    await gate.load(before, true);
    expect(await inspector.correct(before.productId, (await inspector.peek(before.productId))!, 4, {})).toBe('DONE');
    const after = attempt(before.productId, 'u', 2, { idempotencyKey: 'kk' });
    expect((await gate.admit(after)).outcome).toBe('ADMITTED');
    expect(await gate.takeOver(before.productId, 'u', 'kk', after.reservationId, 2)).toBe(true);
    expect(await gateOf(before.productId)).toEqual(['4', '1']);
    expect(await countOf(before.productId, 'u')).toBeNull();

    // The gate gone (flushed): the key is still taken over, nothing is written.
    const gone = await ghostIn({});
    await redis.del(`${prefix}{${gone.s.productId}}:gate`, `${prefix}{${gone.s.productId}}:users`);
    expect(await gone.takeOver()).toBe(true);
    expect(await redis.exists(`${prefix}{${gone.s.productId}}:gate`, `${prefix}{${gone.s.productId}}:users`)).toBe(0);
  });

  it('reconcile replaces 200,000 holders at once (compare-and-set), and drops the staged hash when the gate moved', async () => {
    const gate = new RedisGate(redis, prefix);
    const inspector = new RedisGateInspector(redis, prefix);
    const s = snapshot({ stock: 50, perUserLimit: 1, held: holders(3) });
    await gate.load(s, true);
    const seen = (await inspector.peek(s.productId))!;
    expect(await inspector.correct(s.productId, seen, 40, holders(200_000, 10))).toBe('DONE');
    expect(await redis.hlen(`${prefix}{${s.productId}}:users`)).toBe(200_000);
    expect((await gate.admit(attempt(s.productId, 'h0'))).outcome).toBe('ADMITTED'); // no longer held
    expect((await gate.admit(attempt(s.productId, 'h100'))).outcome).toBe('LIMIT_EXCEEDED');
    // The gate moved since `seen`: nothing written.
    expect(await inspector.correct(s.productId, seen, 1, holders(2000))).toBe('MOVED');
    expect(await redis.hlen(`${prefix}{${s.productId}}:users`)).toBe(200_001);
    expect(await leftovers()).toBe(0);
  }, 60_000);
});
