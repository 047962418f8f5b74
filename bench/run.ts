// `npm run bench`: the whole benchmark suite in one command; writes BENCHMARKS.md.
//
// Starts what it needs on loopback (the api server against a scratch database on the
// local Postgres and a unique key prefix on the local Redis), runs every case for a
// fixed duration with autocannon, and reports requests/s, p50/p99 and the ratio to a
// raw node:http server measured in the same run. See docs/performance.md.
//
// BENCH_DURATION (s, default 8) per case; BENCH_STEP_DURATION (s, default 5) per
// optimisation step; BENCH_CONNECTIONS (default 50) for cases 1-5; BENCH_SKIP_FANOUT=1;
// BENCH_GENERATOR=wrk drives cases 1-6 with Debian's wrk instead of autocannon.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { signToken } from '../src/auth.js';
import { createSaleProduct, gql, hasWrk, hs256, type LoadResult, type LoadSpec, load, otherWorkMeter, paired, type Proc, REDIS_URL, ROOT, SECRET, scratchDatabase, serverEnv, startProcess, unique, wrkVersion } from './lib.js';
import { hotCases, RESERVE_MUTATION, runScenario, stockCase } from './scenario.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const STEP_DURATION = Number(process.env.BENCH_STEP_DURATION ?? 6);
/** Rounds of raw / case alternation per measurement. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SHOPPERS = Number(process.env.BENCH_SHOPPERS ?? 20_000);
const UNITS = Number(process.env.BENCH_UNITS ?? 1_000);

interface Row {
  case: string;
  result?: LoadResult;
  note?: string;
}

const log = (...a: unknown[]) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/**
 * Where case 6's p99 comes from: its answers by send time, the run's first 500 ms (200 new connections
 * accepted one per event-loop turn, the shoppers in step) against the rest.
 */
function openingOf6(runs: Record<string, LoadResult>): string {
  const parts = Object.entries(runs).flatMap(([name, r]) => {
    const [first, ...rest] = r.timeline ?? [];
    if (!first || !rest.length) return [];
    const over = rest.reduce((n, s) => n + s.over50, 0);
    const p99s = rest.map((s) => s.p99);
    return [
      `${name}: the first 500 ms ${fmt(first.n)} answers, p99 ${fmt(first.p99)} ms (max ${fmt(first.max)}), ${fmt(first.over50)} over 50 ms; ` +
        `the rest ${fmt(rest.reduce((n, s) => n + s.n, 0))} answers, each 500 ms at p99 ${fmt(Math.min(...p99s))}-${fmt(Math.max(...p99s))} ms, ${fmt(over)} over 50 ms`,
    ];
  });
  if (!parts.length) return '';
  return (
    "Where case 6's p99 comes from (answers grouped by send time, 500 ms at a time; the run's p99 is its slowest 1 %): " +
    `${parts.join('; ')}. The first 500 ms are the opening: 200 new connections, which a busy process accepts one per ` +
    'event-loop turn (docs/operations.md, "Connection bursts"), and shoppers answered in step.'
  );
}

async function main() {
  const started = Date.now();
  const machine = {
    cores: cpus().length,
    model: cpus()[0]?.model ?? 'unknown',
    memGiB: totalmem() / 2 ** 30,
    node: process.version,
    loadBefore: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
  log('machine', machine);
  // Other work on the machine during the run, measured rather than guessed from the load average.
  const otherWork = otherWorkMeter(machine.cores);
  const db = await scratchDatabase();
  const prefix = `${unique('fsb')}:`;
  const api = (extra: Record<string, string> = {}) => startProcess('src/index.ts', serverEnv(db.url, prefix, extra), { ready: '/health' });
  const procs: Proc[] = [];
  const stopAll = async () => {
    for (const p of procs.splice(0)) await p.stop();
  };
  process.on('SIGINT', () => void stopAll().then(() => db.drop()).then(() => process.exit(130)));

  try {
    // --- set-up: products and tokens --------------------------------------------------
    const admin = await signToken(SECRET, { sub: 'bench-admin', roles: ['admin'], expiresIn: '2h' });
    const tokens = Array.from({ length: SHOPPERS }, (_, i) => hs256(SECRET, { sub: `shopper-${i}` }));
    const crowd = Array.from({ length: SHOPPERS }, (_, i) => hs256(SECRET, { sub: `crowd-${i}` }));
    // Case 6's warm-up shoppers: nobody measured, so no measured token is cached or cart made by it.
    const warmCrowd = Array.from({ length: 5_000 }, (_, i) => hs256(SECRET, { sub: `warm-${i}` }));
    let server = await api();
    procs.push(server);
    let base = `http://127.0.0.1:${server.port}`;
    const create = (id: string, totalQuantity: number, perUserLimit: number) => createSaleProduct(base, admin, id, totalQuantity, perUserLimit);
    const readId = await create('bench-read', 1000, 1);
    const soldId = await create('bench-sold', 1, 1);
    const stockId = await create('bench-stock', 50_000_000, 1000);
    const saleId = await create('bench-sale', UNITS, 1);
    const first = await gql(base, RESERVE_MUTATION, { input: { productId: soldId } }, admin);
    if (first.data?.reserve.__typename !== 'ReserveSuccess') throw new Error(`could not sell out ${soldId}: ${JSON.stringify(first)}`);
    await stopAll();

    // --- cases 1 and 2 ------------------------------------------------------------------
    // The raw server stays up all run: every case is measured in rounds alternating with it.
    const rawProc = await startProcess('bench/raw-server.ts', {});
    // Its bodies are checked like every case's, so the load generator does the same work per answer.
    const rawTarget = { url: `http://127.0.0.1:${rawProc.port}/`, pid: rawProc.child.pid!, expect: '"hello":"world"' };
    const rows: Row[] = [];
    const rawAlone = () => load({ url: rawTarget.url, pid: rawTarget.pid, expect: rawTarget.expect, connections: CONNECTIONS, durationSeconds: DURATION });
    try {
    log('case 1: raw node:http');
    const raw1 = await rawAlone();
    log('case 2: bare graphql-yoga');
    {
      const p = await startProcess('bench/yoga-hello.ts', {});
      procs.push(p);
      const r = await paired(
        {
          url: `http://127.0.0.1:${p.port}/graphql`,
          method: 'POST',
          body: JSON.stringify({ query: '{ hello }' }),
          connections: CONNECTIONS,
          durationSeconds: DURATION,
          expect: '"hello":"world"',
          pid: p.child.pid,
        },
        rawTarget,
        ROUNDS,
      );
      rows.push({ case: '2. bare graphql-yoga `{hello}`', result: r });
      await stopAll();
    }

    // --- cases 3, 4, 5 on each optimisation step -----------------------------------------
    const hot = async (label: string, env: Record<string, string>, seconds: number, generator?: LoadSpec['generator']) => {
      const p = await api(env);
      procs.push(p);
      const b = `http://127.0.0.1:${p.port}`;
      const pid = p.child.pid;
      const cases = hotCases(b, readId, soldId, crowd.slice(0, 1000));
      // Warm the server's code paths for all three cases before any is measured.
      for (const w of Object.values(cases)) await load({ ...w, connections: CONNECTIONS, durationSeconds: 1, warmupSeconds: 0, generator });
      const measure = (c: keyof typeof cases) => paired({ ...cases[c], connections: CONNECTIONS, durationSeconds: seconds, pid, generator }, rawTarget, ROUNDS);
      const out = { inventory: await measure('3'), soldOut: await measure('4'), rest: await measure('5') };
      await stopAll();
      log(label, Object.fromEntries(Object.entries(out).map(([k, v]) => [k, `${Math.round(v.rps)} rps (${(v.rps / v.raw!.rps).toFixed(2)}x), ${Math.round(v.cpuUsPerReq ?? 0)} us cpu/req (raw ${Math.round(v.raw!.cpuUsPerReq ?? 0)})`])));
      return out;
    };
    const steps: { label: string; env: Record<string, string>; what: string; generator?: LoadSpec['generator'] }[] = [
      { label: 'A. Yoga only, before (FAST_PATH=off)', env: { FAST_PATH: 'off', TOKEN_CACHE_MS: '0' }, what: 'every request through Yoga; jose verifies every token' },
      { label: 'B. + token cache', env: { FAST_PATH: 'off', TOKEN_CACHE_MS: '30000' }, what: 'verified tokens remembered 30 s (never past exp)' },
      { label: 'C. + node:http fast path, cached parse/validate, graphql-js execute (FAST_PATH=graphql-js, FAST_PATH_REPLAY=off)', env: { FAST_PATH: 'graphql-js', FAST_PATH_REPLAY: 'off' }, what: "Yoga's Request/Response adapters and hook machinery skipped for known JSON POSTs and GET /inventory; the plugins' checks still run, called directly" },
      { label: 'D. + graphql-jit compiled execution (FAST_PATH=jit, FAST_PATH_REPLAY=off)', env: { FAST_PATH: 'jit', FAST_PATH_REPLAY: 'off' }, what: 'compiled documents instead of graphql-js execute' },
      { label: 'E. + replayed answers (FAST_PATH=jit, FAST_PATH_REPLAY=on: the default)', env: { FAST_PATH: 'jit' }, what: 'inventory and sold-out reserve answers replayed while their memo token holds (stock snapshot, sold out); every check still runs' },
      { label: 'F. E with WORKERS=2 (node:cluster)', env: { FAST_PATH: 'jit', WORKERS: '2' }, what: 'two api processes on one port (the load generator shares the same 2 cores)' },
    ];
    // The issue's own load generator: a process in C that leaves the servers more of the two cores
    // than autocannon in this process does, so a ratio flattered by the generator's own cost shows.
    if (process.env.BENCH_GENERATOR !== 'wrk' && hasWrk()) {
      steps.push({ label: 'G. E driven by wrk instead of autocannon (cross-check)', env: { FAST_PATH: 'jit' }, what: 'the default configuration again, raw and case both driven by wrk (one thread, separate process); not an optimisation', generator: 'wrk' });
    }
    const stepResults: { label: string; what: string; r: Awaited<ReturnType<typeof hot>> }[] = [];
    for (const st of steps) {
      log('step', st.label);
      stepResults.push({ label: st.label, what: st.what, r: await hot(st.label, st.env, STEP_DURATION, st.generator) });
    }
    // The main table's cases 3-5: step E, the default configuration (FAST_PATH=jit, replay on).
    const main = stepResults[4].r;
    rows.push({ case: '3. `inventory(productId)` query', result: main.inventory });
    rows.push({ case: '4. `reserve` on a sold-out product', result: main.soldOut });
    rows.push({ case: '5. REST `GET /inventory/{id}`', result: main.rest });

    // --- case 6: reserve with stock left, 200 connections, many shoppers ------------------
    // Measured twice, back to back: each reservation committed alone (RESERVE_BATCH_MAX=1, as
    // before group commit), then the default, so the report shows what group commit bought.
    // `warm`: first 1 s of the same load by other shoppers (their own tokens and carts) on another
    // product, so the measured 8 s start on a process whose code is compiled and whose Postgres and
    // Redis connections are open, as on a server that served before the sale, while every measured
    // shopper, token, cart and HTTP connection is still new. Without it (the main row) the first
    // second is a cold process's.
    const case6 = async (extra: Record<string, string>, warm = false) => {
      const p = await api(extra);
      procs.push(p);
      const b = `http://127.0.0.1:${p.port}`;
      if (warm) {
        const warmId = await createSaleProduct(b, admin, `bench-warm-${Date.now().toString(36)}`, 50_000_000, 1000);
        await load({ ...stockCase(b, warmId, warmCrowd), connections: 200, durationSeconds: 1, warmupSeconds: 0 });
      }
      const r = await load({ ...stockCase(b, stockId, tokens), connections: 200, durationSeconds: DURATION, warmupSeconds: 0, pid: p.child.pid, timelineMs: 500 });
      return { p, r };
    };
    log('case 6: reserve with stock left at 200 connections, each reservation committed alone');
    const c6alone = (await case6({ RESERVE_BATCH_MAX: '1' })).r;
    await stopAll();
    log('case 6: reserve with stock left at 200 connections, group commit, after 1 s of warm-up by other shoppers');
    const c6warm = (await case6({}, true)).r;
    await stopAll();
    // Production's default has the rate limits on (every other case runs RATE_LIMIT=off): a reserve
    // takes its shopper, IP and product buckets in Redis first. One load generator is one IP, so the
    // IP and product limits are raised out of the way; the shopper's is the default (10 per 10 s).
    log('case 6: the same after warm-up, with the rate limits on (RATE_LIMIT=on, production default)');
    const c6limits = (await case6({ RATE_LIMIT: 'on', RATE_LIMIT_RESERVE_IP: '1000000/1s', RATE_LIMIT_RESERVE_PRODUCT: '1000000/1s' }, true)).r;
    await stopAll();
    log('case 6: reserve with stock left at 200 connections, group commit (the default)');
    const c6run = await case6({});
    const c6 = c6run.r;
    server = c6run.p;
    base = `http://127.0.0.1:${server.port}`;
    rows.push({ case: '6. `reserve` with stock left (gate + Postgres), 200 connections, RESERVE_BATCH_MAX=1 (each commit alone, before)', result: c6alone });
    rows.push({ case: '6. `reserve` with stock left (gate + Postgres), 200 connections (default: group commit)', result: c6 });
    rows.push({ case: '6. the same after 1 s of warm-up by other shoppers on another product', result: c6warm });
    rows.push({ case: '6. the same after warm-up, rate limits on (RATE_LIMIT=on as in production; IP and product limits raised for one load generator)', result: c6limits });

    // --- case 7: the flash-sale scenario --------------------------------------------------
    log(`case 7: ${SHOPPERS} shoppers, ${UNITS} units`);
    let scenario: unknown;
    let scenarioSource = 'bench/scenario.ts (minimal runner)';
    // HOOK(lead, after merging clients/load): case 7 uses the load generator's
    // `runFlashSale(opts): Promise<Summary>` when it is present; set FLASH_SALE_MODULE to
    // point at it if it lives elsewhere. The oversold check below reads Postgres either way.
    const loadModule = [process.env.FLASH_SALE_MODULE, 'clients/load/index.ts', 'clients/load/flash-sale.ts', 'clients/load/run.ts']
      .filter((f): f is string => !!f)
      .map((f) => join(ROOT, f))
      .find((f) => existsSync(f));
    const runner = loadModule ? ((await import(pathToFileURL(loadModule).href)) as { runFlashSale?: (o: unknown) => Promise<unknown> }).runFlashSale : undefined;
    if (runner) {
      scenarioSource = `${loadModule!.slice(ROOT.length)} runFlashSale`;
      scenario = await runner({
        url: `${base}/graphql`,
        baseUrl: base,
        productId: saleId,
        shoppers: SHOPPERS,
        units: UNITS,
        stock: UNITS,
        tokens: crowd,
        concurrency: 200,
        secret: SECRET,
        databaseUrl: db.url,
        redisUrl: REDIS_URL,
      });
    } else {
      scenario = await runScenario({ base, productId: saleId, tokens: crowd, concurrency: 200 });
    }
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    const [ledger] = await sql<{ total_quantity: number; available_quantity: number; reserved_quantity: number; sold_quantity: number }[]>`
      select total_quantity, available_quantity, reserved_quantity, sold_quantity from products where id = ${saleId}`;
    const [held] = await sql<{ n: number }[]>`
      select coalesce(sum(quantity), 0)::int as n from reservations where product_id = ${saleId} and status in ('ACTIVE','CHECKED_OUT','PURCHASED')`;
    PG_VERSION = (await sql<{ v: string }[]>`select current_setting('server_version') as v`)[0]?.v;
    await sql.end();
    const oversold = Math.max(0, Number(held.n) - UNITS, Number(ledger.reserved_quantity) + Number(ledger.sold_quantity) - UNITS);
    const balanced =
      Number(ledger.available_quantity) + Number(ledger.reserved_quantity) + Number(ledger.sold_quantity) === Number(ledger.total_quantity) &&
      Number(ledger.available_quantity) >= 0;
    await stopAll();

    log('case 1 again (drift check)');
    const raw2 = await rawAlone();

    // The load average is read again here, before case 8: its 10,000 subscribers in their own
    // processes (and the WORKERS=2 row) keep more than two tasks runnable themselves, so the
    // load after the run says more about the benchmark than about other work on the machine.
    const loadBeforeFanout = loadavg().map((l) => l.toFixed(2));

    // --- case 8: subscription fan-out -----------------------------------------------------
    const fanout: { subscribers: number; workers?: number; result?: Record<string, number>; note?: string }[] = [];
    const fanoutFile = join(ROOT, 'bench', 'fanout.ts');
    if (process.env.BENCH_SKIP_FANOUT === '1') {
      fanout.push({ subscribers: 0, note: 'skipped (BENCH_SKIP_FANOUT=1)' });
    } else if (!existsSync(fanoutFile)) {
      fanout.push({ subscribers: 0, note: 'skipped: bench/fanout.ts is not in this tree yet (another branch adds it)' });
    } else {
      const { runFanout } = (await import(pathToFileURL(fanoutFile).href)) as {
        runFanout: (o: { subscribers: number; eventsPerSecond: number; durationSeconds: number; databaseUrl?: string; redisUrl?: string; workers?: number }) => Promise<Record<string, number>>;
      };
      // One api process at each size, then 10,000 over two (WORKERS=2, node:cluster).
      for (const [subscribers, workers] of [[1_000, 1], [5_000, 1], [10_000, 1], [10_000, 2]]) {
        log(`case 8: fan-out to ${subscribers} (${workers} api process${workers > 1 ? 'es' : ''})`);
        try {
          fanout.push({ subscribers, workers, result: await runFanout({ subscribers, eventsPerSecond: 10, durationSeconds: 10, databaseUrl: db.url, redisUrl: REDIS_URL, workers }) });
        } catch (err) {
          fanout.push({ subscribers, workers, note: `failed: ${(err as Error).message}` });
        }
      }
    }

    // --- report ----------------------------------------------------------------------------
    const rawRps = (raw1.rps + raw2.rps) / 2;
    const other = otherWork();
    // More than a tenth of the machine taken by other processes (or by other guests, as stolen time).
    const overloaded = other.share > 0.1 || other.stolen > 0.1;
    const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
    const rawCpu = ((raw1.cpuUsPerReq ?? 0) + (raw2.cpuUsPerReq ?? 0)) / 2;
    /** Throughput ratio to the raw baseline of the same rounds (or of the run's two case-1 runs). */
    const ratio = (r: LoadResult) => (r.rps / (r.raw?.rps ?? rawRps)).toFixed(2);
    /** Raw CPU per request / this case's: the share of raw throughput one core would reach with the machine to itself. */
    const cpuRatio = (r: LoadResult) => {
      const base = r.raw?.cpuUsPerReq ?? rawCpu;
      return r.cpuUsPerReq ? (base / r.cpuUsPerReq).toFixed(2) : 'n/a';
    };
    const line = (name: string, r: LoadResult, extra = '') =>
      `| ${name} | ${fmt(r.rps)} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${ratio(r)}× | ${r.cpuUsPerReq ? fmt(r.cpuUsPerReq) : 'n/a'} | ${cpuRatio(r)}× | ${r.non2xx + r.errors}${r.matched !== undefined ? ` / ${fmt(r.matched)} expected bodies` : ''}${extra} |`;
    const s = scenario as Record<string, any>;
    const md = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts) on ${new Date().toISOString()} in ${Math.round((Date.now() - started) / 1000)} s.
Ratios are to the raw \`node:http\` server **measured in the same run**: cases 2-5 in rounds alternating with it
(BENCH_ROUNDS=${ROUNDS}), cases 1 and 6 against the mean of case 1 at the start and at the end. Two ratios: requests/s,
and server CPU time per request (raw's / the case's), which holds up better when other work shares the cores.
The load generator checks every answer's body, the raw server's too, so it does the same work per answer for each.
How to read and reproduce: docs/performance.md.
${
  overloaded
    ? `
> **Warning: this run is not representative.** Other work took ${pct(other.share)} of the machine's CPU during the run
> (and the hypervisor gave ${pct(other.stolen)} to other guests), so every number here is partly a measure of that
> contention (the raw server alone managed ${fmt(rawRps)} requests/s). Re-run \`npm run bench\` on a quiet machine.
`
    : ''
}
## Machine

- ${machine.cores} cores, ${machine.model}, ${machine.memGiB.toFixed(1)} GiB, Node ${machine.node}
- other work during the run: ${fmt(other.seconds, 1)} CPU seconds by processes other than the benchmark, its servers, Postgres and Redis
  (${pct(other.share)} of the machine over ${Math.round(other.wallSeconds)} s); stolen by the hypervisor: ${pct(other.stolen)} (/proc/stat)
- load average (1, 5, 15 min) before the run: ${machine.loadBefore}; before case 8: ${loadBeforeFanout.join(' ')}; after it: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (case 8's subscribers load the machine themselves)
- load generator for cases 1-6: ${generatorDescription()},
  ${CONNECTIONS} connections for cases 1-5, ${DURATION} s per case (cases 3-5: ${STEP_DURATION} s per optimisation step; the main
  table's cases 3-5 are step E, the default configuration; cases 6-7 run the default too), after warm-up (cases 1-5; case 6 from a
  cold process, and once more after 1 s of warm-up by other shoppers);
  servers are separate processes on 127.0.0.1
- Postgres ${PG_VERSION ?? ''} and Redis on 127.0.0.1 (a scratch database and a unique Redis key prefix per run)

## Results

| case | requests/s | p50 ms | p99 ms | ratio to raw (requests/s) | server CPU µs per request | ratio to raw (CPU per request) | non-2xx + errors / bodies checked |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${line('1. raw `node:http` fixed JSON', raw1, ' (start)')}
${line('1. raw `node:http` fixed JSON', raw2, ' (end)')}
${rows.map((r) => line(r.case, r.result!)).join('\n')}

Case 6: ${fmt(c6.matched ?? 0)} reservations committed in ${DURATION} s by ${fmt(tokens.length)} distinct shoppers (tokens rotated per request), p99 ${fmt(c6.p99, 1)} ms at 200 connections (target: under 50 ms). Committed each alone (\`RESERVE_BATCH_MAX=1\`, before group commit): ${fmt(c6alone.matched ?? 0)}, p99 ${fmt(c6alone.p99, 1)} ms — group commit bought ${((c6.matched ?? 0) / Math.max(1, c6alone.matched ?? 0)).toFixed(1)}× the reservations. After 1 s of warm-up by 5,000 other shoppers on another product (code compiled, the api's Postgres and Redis connections open; every measured shopper, token, cart and HTTP connection still new): p50 ${fmt(c6warm.p50, 1)} ms, p99 ${fmt(c6warm.p99, 1)} ms, ${fmt(c6warm.matched ?? 0)} reservations — the difference is the cold process's first second. With production's rate limits on (each reserve takes its shopper, IP and product buckets in Redis first, the checks of one event-loop turn in one call): p50 ${fmt(c6limits.p50, 1)} ms, p99 ${fmt(c6limits.p99, 1)} ms, ${fmt(c6limits.matched ?? 0)} reservations, ${fmt(c6limits.cpuUsPerReq ?? 0)} µs of server CPU each (${fmt(c6warm.cpuUsPerReq ?? 0)} without).

${openingOf6({ cold: c6, 'after warm-up': c6warm, 'rate limits on': c6limits })}

### 7. Flash sale: ${fmt(SHOPPERS)} shoppers, ${fmt(UNITS)} units, Redis gate + Postgres

Runner: ${scenarioSource}; 200 concurrent shoppers at a time, each: read stock, reserve, and if it won: check out and pay.

${
  runner
    ? `\`\`\`json\n${JSON.stringify(scenario, null, 2)}\n\`\`\``
    : `| operation | count | p50 ms | p99 ms |
| --- | ---: | ---: | ---: |
${Object.entries(s.ops as Record<string, { count: number; p50Ms: number; p99Ms: number }>)
  .map(([op, v]) => `| ${op} | ${fmt(v.count)} | ${fmt(v.p50Ms, 1)} | ${fmt(v.p99Ms, 1)} |`)
  .join('\n')}

${fmt(s.requests)} requests in ${fmt(s.seconds, 1)} s = **${fmt(s.rps)} requests/s**; reserved ${fmt(s.reserved)}, sold out ${fmt(s.soldOut)}, paid ${fmt(s.paid)}, unexpected errors ${fmt(s.failures)}.`
}

**Oversold: ${oversold}** (Postgres: total ${ledger.total_quantity}, available ${ledger.available_quantity}, reserved ${ledger.reserved_quantity}, sold ${ledger.sold_quantity}; ledger ${balanced ? 'balanced' : 'OUT OF BALANCE'}).

### 8. Subscription fan-out (one product, 10 stock events/s)

${
  fanout[0]?.result
    ? `| subscribers | api processes | connected | delivered / expected | p50 ms | p99 ms | server KB per subscriber | server CPU µs per frame | server waiting for a core |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${fanout
  .map((f) =>
    f.result
      ? `| ${fmt(f.subscribers)} | ${f.workers ?? 1} | ${fmt(f.result.connected)} | ${fmt(f.result.delivered)} / ${fmt(f.result.expected)} | ${fmt(f.result.p50Ms, 1)} | ${fmt(f.result.p99Ms, 1)} | ${fmt(f.result.serverRssPerSubscriberKB, 1)} | ${f.result.serverCpuUsPerFrame !== undefined ? fmt(f.result.serverCpuUsPerFrame, 1) : 'n/a'} | ${f.result.serverRunQueueWaitPct !== undefined ? `${fmt(f.result.serverRunQueueWaitPct)} %` : 'n/a'} |`
      : `| ${fmt(f.subscribers)} | ${f.workers ?? 1} | ${f.note} | | | | | | |`,
  )
  .join('\n')}

Subscribers: bench/fanout.ts's own minimal WebSocket clients (plain TCP, graphql-transport-ws), in child processes on the
same 2 cores; latency is from publishing a stock event on Redis to a subscriber first seeing that count or a later one
(≤ 100 ms of coalescing included). "Waiting for a core": the time the server's event loop(s) were runnable but not
running while events were published (/proc schedstat; summed over api processes), what CPU contention took from the fan-out.
Method and history: docs/live-updates.md, "Benchmark".`
    : fanout.map((f) => `- ${f.note}`).join('\n')
}

## What each optimisation bought (cases 3, 4, 5; ${STEP_DURATION} s each)

Each step is a server configuration (env variables in docs/performance.md), measured in this run, cumulative from the top.
Step G (when Debian's wrk is installed) is not an optimisation: step E again, with wrk driving the raw server and the cases
instead of autocannon, whose own CPU on the same two cores could flatter the ratios (docs/performance.md, "Load generators").
The profile behind step C is in bench/profiles/ (\`npm run bench:profile\`).

Each cell: requests/s (ratio to raw requests/s in the same rounds; ratio to raw CPU per request).

| step | what changed | 3. inventory | 4. sold-out reserve | 5. REST inventory |
| --- | --- | ---: | ---: | ---: |
${stepResults
  .map((st) => {
    const cell = (r: LoadResult) => `${fmt(r.rps)} (${ratio(r)}×; ${cpuRatio(r)}×)`;
    return `| ${st.label} | ${st.what} | ${cell(st.r.inventory)} | ${cell(st.r.soldOut)} | ${cell(st.r.rest)} |`;
  })
  .join('\n')}

## Commands

\`\`\`sh
npm ci
# Postgres on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379
npm run bench            # all cases, ~${Math.max(1, Math.round((Date.now() - started) / 60000))} min; writes BENCHMARKS.md
npm run bench:profile    # CPU profiles of case 3 before/after the fast path, summarised in bench/profiles/
\`\`\`

Environment: BENCH_DURATION=${DURATION} BENCH_STEP_DURATION=${STEP_DURATION} BENCH_CONNECTIONS=${CONNECTIONS} BENCH_SHOPPERS=${SHOPPERS} BENCH_UNITS=${UNITS}
(BENCH_PG_URL / BENCH_REDIS_URL point elsewhere; BENCH_SKIP_FANOUT=1 skips case 8).
`;
    const outFile = process.env.BENCH_OUT ?? join(ROOT, 'BENCHMARKS.md');
    writeFileSync(outFile, md);
    log(`wrote ${outFile}`);
    } finally {
      await rawProc.stop();
    }
  } finally {
    await stopAll();
    await db.drop();
  }
}

let PG_VERSION: string | undefined;
/** Which load generator drove cases 1-6 (BENCH_GENERATOR, bench/lib.ts load). */
function generatorDescription(): string {
  if (process.env.BENCH_GENERATOR !== 'wrk') return `autocannon ${autocannonVersion()} in the bench process (one thread, keep-alive, no pipelining)`;
  return `${wrkVersion() ?? 'wrk'} (BENCH_GENERATOR=wrk: a separate process, one thread, keep-alive, no pipelining; a Lua script rotates the tokens and checks every body)`;
}

function autocannonVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '';
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
