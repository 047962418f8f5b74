// `tsx bench/write.ts`: the write path alone, for comparing variants back to back.
// Case 6 (reserve with stock left, 200 connections, 20,000 distinct shoppers, tokens rotated)
// and/or case 7 (the flash sale through clients/load's runFlashSale), set up as in bench/run.ts
// (ROLE=all, RATE_LIMIT=off, FAST_PATH default), each on a fresh api process, WRITE_ROUNDS times.
// Prints one JSON line per measurement with the load average, the share of the machine other
// processes took meanwhile (`otherWork`) and the server's CPU per request.
//
// WRITE_CASES=6,7 (default both)  WRITE_ROUNDS=3  WRITE_SECONDS=8  plus any server env to pass on
// through WRITE_ENV='{"RESERVE_BATCH_MAX":"1"}'; WRITE_FETCH=global: case 7's load generator on the global fetch;
// WRITE_NODE_ARGS='--perf-basic-prof' adds node flags to the api process (for `perf record`, docs/performance.md);
// WRITE_TIMELINE=500 prints case 7's requests per 500 ms of send time (see timedFetch), and case 6's answers likewise
// (count, p50, p99, max and those over 50 ms per slice: where in the run its p99 comes from);
// WRITE_PRECONNECT=1: case 7's load generator opens its 200 connections before the sale opens.
// WRITE_AUTOEXPLAIN=<ms>: the scratch database logs the plan (EXPLAIN ANALYZE, buffers) of every statement
// slower than that to the Postgres server log (auto_explain, loaded per session; /var/log/postgresql here).
// WRITE_VARIANTS='{"a":{},"b":{"SOME_ENV":"1"}}': case 6 once per variant per round (server env added to
// WRITE_ENV), alternating, each followed by 3 s of the raw node:http server, and reported as server CPU per
// reservation over raw's CPU per request measured beside it: on a VM whose speed drifts by ±20 % from one
// minute to the next, the ratio tells variants apart where microseconds per request do not.
// WRITE_WARM6=<seconds>: case 6 measured after that many seconds of reserves of another product by other
// shoppers (as bench/run.ts's warm measurement), so a variant's CPU per reservation is not its cold start's.
// WRITE_OUTPUT=1: case 6 prints the last few KB the api printed (with WRITE_NODE_ARGS='--trace-gc', its last collections).
// Case 6 also reports the api's garbage-collection time during the measurement by kind (`gcMs`, from its /metrics).
// WRITE_ANALYZE=1: ANALYZE the database after case 7's warm-up, so the sale is planned with statistics
// (a fresh scratch database has none until autovacuum's next pass, up to a minute later).
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { signToken } from '../src/auth.js';
import { cpuSeconds, createSaleProduct, hs256, type LoadSpec, load, otherWorkMeter, ROOT, SECRET, scratchDatabase, serverEnv, startProcess, unique } from './lib.js';
import { stockCase } from './scenario.js';
import { type LeanFetch, leanFetch } from '../clients/load/http.js';

const CASES = (process.env.WRITE_CASES ?? '6,7').split(',');
const ROUNDS = Number(process.env.WRITE_ROUNDS ?? 3);
const SECONDS = Number(process.env.WRITE_SECONDS ?? 8);
const EXTRA = JSON.parse(process.env.WRITE_ENV ?? '{}') as Record<string, string>;
const PROFILE_DIR = process.env.WRITE_PROFILE_DIR;
const nodeArgs = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : (process.env.WRITE_NODE_ARGS?.split(' ').filter(Boolean) ?? []);
/** Other processes' share of the machine (bench/lib.ts otherWorkMeter). */
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const la = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** The api's garbage-collection time so far by kind (major, minor, incremental, weakcb), from its /metrics. */
async function gcSeconds(base: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^flashsale_process_nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} ([\d.e+-]+)$/gm)) out[m[1] === 'sum' ? m[2] : `${m[2]}N`] = Number(m[3]) / (m[1] === 'sum' ? 1 : 1000);
  return out;
}

/**
 * WRITE_TIMELINE=<bucket ms>: every request of case 7 timed through the load generator's fetch, then a
 * table per bucket of send time: each operation's count, p50 and p99, and the reserves over 100 ms
 * (winners among them), to see where a tail comes from.
 */
function timedFetch(inner: LeanFetch | typeof fetch) {
  const seen: { op: string; at: number; ms: number; won: boolean }[] = [];
  const t0 = performance.now();
  const fetch = (async (input: Parameters<typeof globalThis.fetch>[0], init?: RequestInit) => {
    const at = performance.now();
    const res = await inner(input, init);
    const text = await res.text();
    const op = /mutation (\w+)|query (\w+)/.exec(String(init?.body ?? ''));
    seen.push({ op: (op?.[1] ?? op?.[2] ?? '?').toLowerCase(), at: at - t0, ms: performance.now() - at, won: text.includes('ReserveSuccess') });
    return new Response(text, { status: res.status, headers: res.headers });
  }) as typeof globalThis.fetch;
  const preconnect = 'preconnect' in inner ? inner.preconnect : undefined;
  const report = (bucket: number) => {
    const q = (xs: number[], f: number) => (xs.length ? xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * f))].toFixed(0) : '-');
    const ops = [...new Set(seen.map((r) => r.op))].sort();
    const lines = [`bucket(ms) | ${ops.map((o) => `${o} n/p50/p99`).join(' | ')} | reserves >100ms (won)`];
    const end = Math.max(...seen.map((r) => r.at));
    for (let b = 0; b <= end; b += bucket) {
      const inB = seen.filter((r) => r.at >= b && r.at < b + bucket);
      if (!inB.length) continue;
      const slow = inB.filter((r) => r.op === 'reserve' && r.ms > 100);
      lines.push(`${String(b).padStart(6)} | ${ops.map((o) => { const xs = inB.filter((r) => r.op === o).map((r) => r.ms); return `${xs.length}/${q(xs, 0.5)}/${q(xs, 0.99)}`; }).join(' | ')} | ${slow.length} (${slow.filter((r) => r.won).length})`);
    }
    return lines.join('\n');
  };
  return { fetch: Object.assign(fetch, preconnect ? { preconnect } : {}), report };
}

/** Runs `fn` on a connection of its own to the scratch database, then closes it. */
async function once<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end();
  }
}

async function main() {
  const db = await scratchDatabase();
  if (process.env.WRITE_AUTOEXPLAIN) {
    const name = new URL(db.url).pathname.slice(1);
    await once(db.url, async (a) => {
      await a.unsafe(`alter database "${name}" set session_preload_libraries = 'auto_explain'`);
      await a.unsafe(`alter database "${name}" set auto_explain.log_min_duration = '${Number(process.env.WRITE_AUTOEXPLAIN)}'`);
      await a.unsafe(`alter database "${name}" set auto_explain.log_analyze = on`);
      await a.unsafe(`alter database "${name}" set auto_explain.log_buffers = on`);
      await a.unsafe(`alter database "${name}" set auto_explain.log_nested_statements = on`);
    });
  }
  const prefix = `${unique('fsw')}:`;
  const env = serverEnv(db.url, prefix, EXTRA);
  const admin = await signToken(SECRET, { sub: 'bench-admin', roles: ['admin'], expiresIn: '2h' });
  const variants = Object.entries(JSON.parse(process.env.WRITE_VARIANTS ?? '{"":{}}') as Record<string, Record<string, string>>);
  const raw = variants.length > 1 ? await startProcess('bench/raw-server.ts', {}) : undefined;
  const ratios: Record<string, number[]> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      if (CASES.includes('6')) for (const [variant, vEnv] of variants) {
        const p = await startProcess('src/index.ts', { ...env, ...vEnv }, { ready: '/health', nodeArgs });
        try {
          const base = `http://127.0.0.1:${p.port}`;
          const id = `w6-${round}${variant}-${Date.now().toString(36)}`;
          await createSaleProduct(base, admin, id, 50_000_000, 1000);
          const tokens = Array.from({ length: 20_000 }, (_, i) => hs256(SECRET, { sub: `w-${round}-${variant}-${i}` }));
          if (Number(process.env.WRITE_WARM6) > 0) {
            const warmId = await createSaleProduct(base, admin, `${id}-warm`, 50_000_000, 1000);
            const crowd = Array.from({ length: 5_000 }, (_, i) => hs256(SECRET, { sub: `w-warm-${round}-${variant}-${i}` }));
            await load({ ...stockCase(base, warmId, crowd), connections: 200, durationSeconds: Number(process.env.WRITE_WARM6), warmupSeconds: 0 });
          }
          const before = la();
          const other = otherWorkMeter(cpus().length);
          const gc0 = await gcSeconds(base);
          const r = await load({
            ...stockCase(base, id, tokens),
            connections: 200,
            durationSeconds: SECONDS,
            warmupSeconds: 0,
            pid: p.child.pid,
            // A variant may name its generator; otherwise load() takes BENCH_GENERATOR's.
            generator: vEnv.BENCH_GENERATOR as LoadSpec['generator'],
            timelineMs: Number(process.env.WRITE_TIMELINE) || undefined,
          });
          const gc1 = await gcSeconds(base);
          const gcMs = Object.fromEntries(Object.entries(gc1).map(([k, v]) => [k, Math.round(1000 * (v - (gc0[k] ?? 0)))]));
          const r0 = raw && (await load({ url: `http://127.0.0.1:${raw.port}/`, pid: raw.child.pid!, expect: '"hello":"world"', connections: 50, durationSeconds: 3 }));
          const ratio = r0 ? (r.cpuUsPerReq ?? 0) / (r0.cpuUsPerReq ?? 1) : undefined;
          if (ratio !== undefined) (ratios[variant] ??= []).push(ratio);
          console.log(JSON.stringify({ case: 6, ...(raw ? { variant, cpuRatio: ratio!.toFixed(1), rawCpuUs: r0!.cpuUsPerReq!.toFixed(1) } : {}), round, load: before, otherWork: pct(other().share), rps: Math.round(r.rps), committed: r.matched, p50: r.p50, p99: r.p99, cpuUsPerReq: Math.round(r.cpuUsPerReq ?? 0), gcMs, bad: r.non2xx + r.errors }));
          for (const slice of r.timeline ?? []) console.error(JSON.stringify({ case: 6, variant, round, ...slice }));
          if (process.env.WRITE_OUTPUT) console.error(p.output());
        } finally {
          await p.stop();
        }
      }
      if (CASES.includes('7')) {
        const p = await startProcess('src/index.ts', env, { ready: '/health', nodeArgs });
        try {
          const base = `http://127.0.0.1:${p.port}`;
          const id = `w7-${round}-${Date.now().toString(36)}`;
          await createSaleProduct(base, admin, id, 1000, 1);
          // As in bench/run.ts, where case 7 runs on the server that has just served case 6: warm it
          // up with a few seconds of reserves of another product first.
          const warm = `w7warm-${round}-${Date.now().toString(36)}`;
          await createSaleProduct(base, admin, warm, 50_000_000, 1000);
          await load({
            ...stockCase(base, warm, Array.from({ length: 5000 }, (_, i) => hs256(SECRET, { sub: `warm-${round}-${i}` }))),
            connections: 200,
            durationSeconds: Number(process.env.WRITE_WARM_SECONDS ?? 4),
            warmupSeconds: 0,
          });
          if (process.env.WRITE_ANALYZE) await once(db.url, (a) => a.unsafe('analyze'));
          const { runFlashSale } = (await import(pathToFileURL(join(ROOT, 'clients/load/flash-sale.ts')).href)) as typeof import('../clients/load/flash-sale.js');
          const before = la();
          const other = otherWorkMeter(cpus().length);
          const cpu0 = cpuSeconds(p.child.pid!);
          const self0 = process.cpuUsage();
          const timeline = process.env.WRITE_TIMELINE ? timedFetch(process.env.WRITE_FETCH === 'global' ? globalThis.fetch : leanFetch({ maxSockets: 200 })) : undefined;
          const fetch = timeline?.fetch ?? (process.env.WRITE_FETCH === 'global' ? globalThis.fetch : undefined);
          const s = await runFlashSale({ url: `${base}/graphql`, productId: id, shoppers: 20_000, stock: 1000, concurrency: 200, secret: SECRET, preconnect: !!process.env.WRITE_PRECONNECT, ...(process.env.WRITE_CHECKOUT_RATE ? { checkoutRate: Number(process.env.WRITE_CHECKOUT_RATE) } : {}), onProgress: process.env.WRITE_PROGRESS ? (l: string) => console.error(l) : undefined, ...(fetch ? { fetch } : {}) });
          if (timeline) console.error(timeline.report(Number(process.env.WRITE_TIMELINE) || 500));
          const cpu = cpuSeconds(p.child.pid!) - cpu0;
          const self = process.cpuUsage(self0);
          const [held] = await once(db.url, (sql) => sql<{ n: number }[]>`select coalesce(sum(quantity), 0)::int as n from reservations where product_id = ${id} and status in ('ACTIVE','CHECKED_OUT','PURCHASED')`);
          const l = s.latencyMs;
          console.log(JSON.stringify({
            case: 7, round, load: before, otherWork: pct(other().share), seconds: s.durationMs / 1000, requests: s.requests, oversold: Math.max(0, Number(held.n) - 1000, s.oversold), failed: s.failures,
            reserve: l.reserve, checkout: l.checkout, pay: l.pay, serverCpuS: cpu.toFixed(1), loadGenCpuS: ((self.user + self.system) / 1e6).toFixed(1), loadGenLagMs: s.loadGeneratorLagMs, outcomes: s.reserveOutcomes,
          }));
        } finally {
          await p.stop();
        }
      }
    }
    if (raw) {
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      console.log(JSON.stringify({ case: 6, cpuRatioMedian: Object.fromEntries(Object.entries(ratios).map(([k, xs]) => [k, med(xs).toFixed(1)])) }));
    }
  } finally {
    await raw?.stop();
    await db.drop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
