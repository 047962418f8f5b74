// Shared pieces of the benchmark: processes, a scratch database, the load generator, a keep-alive client.
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { freePort, scratchDatabase as scratch } from '../test/support/scratch.js';
import { signTokenSync } from '../src/auth.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const SECRET = `bench-secret-${randomBytes(16).toString('hex')}`;

/**
 * The api server's environment in every benchmark: production mode on the scratch database
 * and a key prefix of its own, both roles in one process, warnings only, and no rate limits
 * (one machine playing thousands of shoppers from one IP would measure the limits themselves).
 */
export function serverEnv(databaseUrl: string, redisPrefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    AUTH_JWT_SECRET: SECRET,
    NODE_ENV: 'production',
    DATA_ENCRYPTION_KEY: `bench:${Buffer.alloc(32, 7).toString('base64')}`,
    LOG_LEVEL: 'warn',
    ROLE: 'all',
    RATE_LIMIT: 'off',
    ...extra,
  };
}

export const unique = (stem: string) => `${stem}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

export { freePort };

/** A fresh database on the local Postgres; dropped by `drop()`. */
export const scratchDatabase = () => scratch(PG_ADMIN_URL, 'fs_bench');

export interface Proc {
  port: number;
  /** The last few KB the process printed. */
  output(): string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a TypeScript entry point under tsx with `env` (in `cwd`, this checkout by default), waits until `ready` answers 2xx. */
export async function startProcess(
  file: string,
  env: Record<string, string>,
  opts: { ready?: string; nodeArgs?: string[]; timeoutMs?: number; cwd?: string } = {},
): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', file], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (b: Buffer) => {
    log = (log + b.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${file} exited early:\n${log}`);
    const ok = await get(`http://127.0.0.1:${port}${opts.ready ?? '/'}`).then((r) => r.status < 500, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${file} did not start:\n${log}`);
    }
    await sleep(200);
  }
  return {
    port,
    child,
    output: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One request over a shared keep-alive pool (the scenario runner and set-up use it). */
export function http(url: string, method: string, body?: string, headers: Record<string, string> = {}, pool: Agent = agent): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: pool, headers: body ? { 'content-type': 'application/json', ...headers } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export const get = (url: string) => http(url, 'GET');

export async function gql<T = any>(base: string, query: string, variables?: Record<string, unknown>, token?: string): Promise<{ data?: T; errors?: any[] }> {
  const r = await http(`${base}/graphql`, 'POST', JSON.stringify({ query, variables }), token ? { authorization: `Bearer ${token}` } : {});
  return JSON.parse(r.body);
}

/** A product on sale since a minute ago (US$19.99, holds of an hour), created with an admin token; returns its id. */
export async function createSaleProduct(base: string, admin: string, id: string, totalQuantity: number, perUserLimit: number): Promise<string> {
  const r = await gql(
    base,
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    {
      input: {
        id,
        name: `Bench ${id}`,
        priceAmount: 1999,
        currency: 'USD',
        totalQuantity,
        sale: { startsAt: new Date(Date.now() - 60_000).toISOString(), perUserLimit, reservationTtlSeconds: 3600 },
      },
    },
    admin,
  );
  if (r.errors) throw new Error(`createProduct ${id}: ${JSON.stringify(r.errors)}`);
  return id;
}

export interface LoadResult {
  rps: number;
  /** Server CPU time (user + system, all its processes) per request, in microseconds. */
  cpuUsPerReq?: number;
  /** The raw node:http baseline measured interleaved with this case (paired rounds). */
  raw?: { rps: number; cpuUsPerReq?: number };
  p50: number;
  p99: number;
  requests: number;
  non2xx: number;
  errors: number;
  /** Responses whose body matched `expect` (when given). */
  matched?: number;
  /** With spec.timelineMs: the measured run's answers per slice of send time. */
  timeline?: TimelineSlice[];
}

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  /** Rotated over requests, one bearer token per request. */
  tokens?: string[];
  /**
   * How tokens rotate. `shared` (default): one sequence over all connections, each request
   * built as it is sent (autocannon's setupRequest). `prebuilt`: every token's request built
   * once, each connection cycling through them from the first — the load generator's own
   * cost per request is then that of a fixed request (for tokens the server remembers; at
   * most 100,000 requests built in all, connections × tokens).
   */
  tokenMode?: 'shared' | 'prebuilt';
  connections: number;
  durationSeconds: number;
  /** Counts responses whose body contains this string. */
  expect?: string;
  warmupSeconds?: number;
  /** The server's process id: its CPU time (and its children's) is measured. */
  pid?: number;
  /**
   * The load generator: `autocannon` (default; in this process) or `wrk` (Debian's, a separate
   * process in C: a Lua script rotates the tokens and checks the bodies, see loadWrk).
   */
  generator?: 'autocannon' | 'wrk';
  /** autocannon only: every answer's latency kept, reported per this many ms of send time (LoadResult.timeline). */
  timelineMs?: number;
}

/** One slice of a run's send time: the answers to the requests sent in it. */
export interface TimelineSlice {
  /** The slice's start, ms after the run began. */
  atMs: number;
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** Answers that took over 50 ms (case 6's target). */
  over50: number;
}

/** Latencies (ms) grouped by send time into slices of `sliceMs`, each summarised. */
export function timelineOf(samples: { sentMs: number; ms: number }[], sliceMs: number): TimelineSlice[] {
  const slices: number[][] = [];
  for (const { sentMs, ms } of samples) (slices[Math.max(0, Math.floor(sentMs / sliceMs))] ??= []).push(ms);
  const out: TimelineSlice[] = [];
  slices.forEach((xs, i) => {
    xs.sort((a, b) => a - b);
    const at = (q: number) => Math.round(xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]);
    out.push({ atMs: i * sliceMs, n: xs.length, p50: at(0.5), p99: at(0.99), max: Math.round(xs[xs.length - 1]), over50: xs.filter((x) => x > 50).length });
  });
  return out;
}

/** Each process's /proc/<pid>/stat fields after the command name (field 3 onwards), by pid. */
function procStats(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      out.set(Number(entry), stat.slice(stat.lastIndexOf(')') + 2).split(' '));
    } catch {
      // the process ended meanwhile
    }
  }
  return out;
}

/**
 * CPU seconds (user + system, USER_HZ 100) of the process trees under `roots` so far. By default each
 * living process's own time; with `reaped`, also what its already-reaped children used (cutime +
 * cstime), so a server stopped between cases or a Postgres backend that has closed still counts.
 */
function treesSeconds(roots: number[], reaped: boolean): number {
  const stats = procStats();
  let ticks = 0;
  for (const [pid, f] of stats) {
    for (let p: number | undefined = pid; p; p = Number(stats.get(p)?.[1]) || undefined) {
      if (roots.includes(p)) {
        ticks += Number(f[11]) + Number(f[12]) + (reaped ? Number(f[13]) + Number(f[14]) : 0);
        break;
      }
    }
  }
  return ticks / 100;
}

/** CPU seconds (user + system) used so far by a process and all its living descendants (Linux /proc). */
export const cpuSeconds = (rootPid: number): number => treesSeconds([rootPid], false);

/** The machine's busy and stolen CPU seconds so far, all cores (the first line of /proc/stat). */
function machineSeconds(): { busy: number; steal: number } {
  const [, user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  return { busy: (user + nice + system + irq + softirq) / 100, steal: steal / 100 };
}

/** The oldest process of that exact name (a local Postgres's postmaster, redis-server), or undefined. */
function oldestNamed(name: string): number | undefined {
  try {
    return Number(execFileSync('pgrep', ['-o', '-x', name], { encoding: 'utf8' }).trim()) || undefined;
  } catch {
    return undefined;
  }
}

export interface OtherWork {
  /** CPU seconds used on this machine by anything but the benchmark, its servers, Postgres and Redis. */
  seconds: number;
  /** That, as a share of the machine (all cores) over the same wall time. */
  share: number;
  /** CPU the hypervisor gave to other guests while this one wanted it, as a share of the machine. */
  stolen: number;
  wallSeconds: number;
}

/**
 * Measures, from now, how much CPU other work on the machine takes: the machine's busy time
 * (/proc/stat) less the time of this process's tree (the load generator, every server it
 * started, case 8's subscribers) and of the local Postgres and Redis trees. What the load
 * average cannot tell apart: it counts the benchmark's own processes too.
 */
export function otherWorkMeter(cores: number): () => OtherWork {
  const roots = [process.pid, oldestNamed('postgres'), oldestNamed('redis-server')].filter((p): p is number => !!p);
  const m0 = machineSeconds();
  const own0 = treesSeconds(roots, true);
  const t0 = performance.now();
  return () => {
    const m = machineSeconds();
    const wallSeconds = (performance.now() - t0) / 1000;
    const seconds = Math.max(0, m.busy - m0.busy - (treesSeconds(roots, true) - own0));
    return { seconds, share: seconds / (wallSeconds * cores), stolen: (m.steal - m0.steal) / (wallSeconds * cores), wallSeconds };
  };
}

/** Runs autocannon (one connection pool, keep-alive, no pipelining), or wrk (spec.generator or BENCH_GENERATOR), and reports rps and latency. */
export async function load(spec: LoadSpec): Promise<LoadResult> {
  if ((spec.generator ?? process.env.BENCH_GENERATOR) === 'wrk') return loadWrk(spec);
  const headers = { 'content-type': 'application/json', ...spec.headers };
  let next = 0;
  let matched = 0;
  const tokens = spec.tokens;
  const requestSpec: Record<string, unknown> = { method: spec.method ?? 'GET', headers };
  if (spec.body) requestSpec.body = spec.body;
  const prebuilt = tokens && spec.tokenMode === 'prebuilt';
  if (prebuilt && tokens.length * spec.connections > 100_000) throw new Error(`tokenMode prebuilt: ${tokens.length} tokens × ${spec.connections} connections is too many`);
  if (tokens && !prebuilt) {
    requestSpec.setupRequest = (req: any) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } });
  }
  if (spec.expect) {
    requestSpec.onResponse = (_status: number, body: string) => {
      if (body.includes(spec.expect!)) matched++;
    };
  }
  const requests = prebuilt ? tokens.map((t) => ({ ...requestSpec, headers: { ...headers, authorization: `Bearer ${t}` } })) : [requestSpec];
  const samples: { sentMs: number; ms: number }[] = [];
  const run = (duration: number, timed = false) => {
    const instance = autocannon({
      url: spec.url,
      connections: spec.connections,
      duration,
      pipelining: 1,
      requests: requests as any[],
    }) as unknown as autocannon.Instance & Promise<autocannon.Result>;
    if (timed) {
      const t0 = performance.now();
      instance.on('response', (_client, _status, _bytes, ms) => samples.push({ sentMs: performance.now() - t0 - ms, ms }));
    }
    return instance as Promise<autocannon.Result>;
  };
  if ((spec.warmupSeconds ?? 1) > 0) await run(spec.warmupSeconds ?? 1);
  matched = 0;
  const cpu0 = spec.pid ? cpuSeconds(spec.pid) : 0;
  const r = await run(spec.durationSeconds, !!spec.timelineMs);
  const cpu = spec.pid ? cpuSeconds(spec.pid) - cpu0 : undefined;
  return {
    ...(spec.timelineMs ? { timeline: timelineOf(samples, spec.timelineMs) } : {}),
    rps: r.requests.average,
    cpuUsPerReq: cpu !== undefined && r.requests.total > 0 ? (cpu * 1e6) / r.requests.total : undefined,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    matched: spec.expect ? matched : undefined,
  };
}

/** Whether Debian's wrk is installed (`apt-get install wrk`). */
export const hasWrk = (): boolean => wrkVersion() !== undefined;

/** wrk's banner ("wrk 4.1.0 [epoll]"), undefined when wrk is not installed; asked once. */
export function wrkVersion(): string | undefined {
  if (wrkBanner === null) wrkBanner = findWrk();
  return wrkBanner;
}
let wrkBanner: string | undefined | null = null;
function findWrk(): string | undefined {
  let out: string;
  try {
    out = execFileSync('wrk', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    // wrk --version prints its banner and exits with 1
    const e = err as { status?: number; stdout?: string };
    if (e.status !== 1) return undefined;
    out = e.stdout ?? '';
  }
  return out.split('\n')[0].replace(/\s*Copyright.*$/, '') || 'wrk';
}

/**
 * The Lua side of loadWrk. Each wrk thread reads the tokens and takes every `threads`-th one
 * from its own offset (so the threads together rotate over all of them, one per request, as
 * autocannon's shared sequence does), counts answers whose body holds the expected string, and
 * `done` prints the totals with wrk's latency percentiles (µs) as one JSON line.
 */
const WRK_SCRIPT = `
-- offset (set by setup) and matched (read by done) are the thread's globals
local tokens, n, threads, expect, base = {}, 0, 1, nil, {}
offset, matched = 0, 0
function setup(thread)
  thread:set("offset", #__threads)
  table.insert(__threads, thread)
end
function init(args)
  threads, expect = tonumber(args[2]), args[3]
  if expect == "" then expect = nil end
  for k, v in pairs(wrk.headers) do base[k] = v end
  if args[1] ~= "" then for line in io.lines(args[1]) do tokens[#tokens + 1] = line end end
  n = offset
end
function request()
  if #tokens == 0 then return wrk.format() end
  local h = {}
  for k, v in pairs(base) do h[k] = v end
  h["authorization"] = "Bearer " .. tokens[n % #tokens + 1]
  n = n + threads
  return wrk.format(nil, nil, h, nil)
end
function response(status, headers, body)
  if expect and body and string.find(body, expect, 1, true) then matched = matched + 1 end
end
function done(summary, latency, requests)
  local m = 0
  for _, t in ipairs(__threads) do m = m + t:get("matched") end
  local e = summary.errors
  io.write(string.format('WRK_RESULT {"requests":%d,"durationUs":%d,"p50":%d,"p99":%d,"matched":%d,"non2xx":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), m, e.status, e.connect + e.read + e.write + e.timeout))
end
__threads = {}
`;

/**
 * `load` with Debian's wrk as the generator: one thread (the cores are the server's), the same
 * connections, request, token rotation and body check. wrk's own CPU per request is a fraction of
 * autocannon's, which shares the two cores with the server, Postgres and Redis. `tokenMode` is
 * autocannon's concern: the Lua script builds each request with its token either way, in one
 * rotation over all the tokens.
 */
export async function loadWrk(spec: LoadSpec): Promise<LoadResult> {
  if (!hasWrk()) throw new Error("BENCH_GENERATOR=wrk: wrk is not installed (Debian: apt-get install wrk)");
  const dir = mkdtempSync(join(tmpdir(), 'fs-wrk-'));
  try {
    const script = join(dir, 'load.lua');
    const method = spec.method ?? 'GET';
    // As autocannon sends them (load): JSON content type unless the spec says otherwise, names in lower case.
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k.toLowerCase()] = v;
    const lua = `wrk.method = ${JSON.stringify(method)}\n` + (spec.body ? `wrk.body = ${luaString(spec.body)}\n` : '') + Object.entries(headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}\n`).join('') + WRK_SCRIPT;
    writeFileSync(script, lua);
    const tokensFile = spec.tokens ? join(dir, 'tokens') : '';
    if (spec.tokens) writeFileSync(tokensFile, spec.tokens.join('\n') + '\n');
    const threads = 1;
    const run = async (seconds: number) => {
      const out = await new Promise<string>((resolve, reject) => {
        const args = ['-t', String(threads), '-c', String(spec.connections), '-d', `${seconds}s`, '--timeout', '30s', '-s', script, spec.url, '--', tokensFile, String(threads), spec.expect ?? ''];
        execFile('wrk', args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk failed: ${stderr || err.message}`)) : resolve(stdout)));
      });
      const line = out.split('\n').find((l) => l.startsWith('WRK_RESULT '));
      if (!line) throw new Error(`wrk printed no result: ${out}`);
      return JSON.parse(line.slice('WRK_RESULT '.length)) as { requests: number; durationUs: number; p50: number; p99: number; matched: number; non2xx: number; errors: number };
    };
    if ((spec.warmupSeconds ?? 1) > 0) await run(spec.warmupSeconds ?? 1);
    const cpu0 = spec.pid ? cpuSeconds(spec.pid) : 0;
    const r = await run(spec.durationSeconds);
    const cpu = spec.pid ? cpuSeconds(spec.pid) - cpu0 : undefined;
    return {
      rps: r.requests / (r.durationUs / 1e6),
      cpuUsPerReq: cpu !== undefined && r.requests > 0 ? (cpu * 1e6) / r.requests : undefined,
      p50: r.p50 / 1000,
      p99: r.p99 / 1000,
      requests: r.requests,
      non2xx: r.non2xx,
      errors: r.errors,
      matched: spec.expect ? r.matched : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Lua string literal (long brackets cannot hold every JSON body; escapes can). */
const luaString = (s: string) => `"${s.replace(/[\\"\n\r]/g, (c) => ({ '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r' })[c]!)}"`;

/**
 * Measures `spec` and the raw baseline in alternating rounds, so slow drift on a shared
 * machine hits both alike: rps and CPU per request are means over the rounds.
 */
export async function paired(spec: LoadSpec, raw: { url: string; pid: number; expect?: string }, rounds: number): Promise<LoadResult> {
  const per = Math.max(1, Math.round(spec.durationSeconds / rounds));
  const mine: LoadResult[] = [];
  const base: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) {
    base.push(await load({ url: raw.url, connections: spec.connections, durationSeconds: per, pid: raw.pid, expect: raw.expect, warmupSeconds: i === 0 ? 1 : 0, generator: spec.generator }));
    mine.push(await load({ ...spec, durationSeconds: per, warmupSeconds: i === 0 ? spec.warmupSeconds : 0 }));
  }
  const mean = (xs: (number | undefined)[]) => (xs.some((x) => x === undefined) ? undefined : xs.reduce((a: number, b) => a + b!, 0) / xs.length);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    rps: mean(mine.map((r) => r.rps))!,
    cpuUsPerReq: mean(mine.map((r) => r.cpuUsPerReq)),
    p50: mean(mine.map((r) => r.p50))!,
    p99: Math.max(...mine.map((r) => r.p99)),
    requests: sum(mine.map((r) => r.requests)),
    non2xx: sum(mine.map((r) => r.non2xx)),
    errors: sum(mine.map((r) => r.errors)),
    matched: spec.expect ? sum(mine.map((r) => r.matched ?? 0)) : undefined,
    raw: { rps: mean(base.map((r) => r.rps))!, cpuUsPerReq: mean(base.map((r) => r.cpuUsPerReq)) },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** An HS256 token like src/auth.ts signToken makes, signed synchronously (tens of thousands in well under a second). */
export const hs256 = (secret: string, claims: { sub: string; roles?: string[]; ttlSeconds?: number }): string => signTokenSync(secret, { ttlSeconds: 7200, ...claims });
