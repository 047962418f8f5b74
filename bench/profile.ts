// `npm run bench:profile`: CPU profiles (node --cpu-prof) of the api server under case 3
// (the inventory query), once through Yoga (FAST_PATH=off) and once through the fast path,
// then case 4 (sold-out reserve) and case 6 (reserve with stock left),
// summarised by package and by function into bench/profiles/README.md; the raw profiles
// are kept gzipped beside it (open them in Chrome DevTools or speedscope after gunzip).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { signToken } from '../src/auth.js';
import { gql, hs256, load, REDIS_URL, ROOT, SECRET, scratchDatabase, startProcess, unique } from './lib.js';
import { inventoryBody, RESERVE_MUTATION, reserveBody } from './scenario.js';

const DIR = join(ROOT, 'bench', 'profiles');
const SECONDS = Number(process.env.PROFILE_SECONDS ?? 8);

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function area(url: string): string {
  if (!url) return '(native / V8 / GC)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const i = url.indexOf('/src/');
  if (i >= 0) return `flashsale ${url.slice(i + 1).split('/').slice(0, 2).join('/')}`;
  return url.replace(/^file:\/\//, '').replace(ROOT, '');
}

export function summarise(file: string, requests: number): string {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; startTime: number; endTime: number };
  const total = prof.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const idle = prof.nodes.filter((n) => n.callFrame.functionName === '(idle)').reduce((a, n) => a + (n.hitCount ?? 0), 0);
  const busy = total - idle;
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  for (const n of prof.nodes) {
    const h = n.hitCount ?? 0;
    if (!h || n.callFrame.functionName === '(idle)') continue;
    const a = area(n.callFrame.url);
    byArea.set(a, (byArea.get(a) ?? 0) + h);
    const fn = `${n.callFrame.functionName || '(anonymous)'} — ${a}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + h);
  }
  const pct = (h: number) => ((100 * h) / busy).toFixed(1);
  const top = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, h]) => `| ${k} | ${pct(h)} % |`)
      .join('\n');
  const seconds = (prof.endTime - prof.startTime) / 1e6;
  const busySeconds = (busy / total) * seconds;
  return `Busy ${busySeconds.toFixed(1)} s of ${seconds.toFixed(1)} s sampled; ${requests.toLocaleString('en-US')} requests measured
(≈ ${((busySeconds * 1e6) / Math.max(1, requests)).toFixed(0)} µs of CPU per request, warm-up and start-up included in the profile).

Self time by package (share of busy samples):

| where | self time |
| --- | ---: |
${top(byArea, 14)}

Hottest functions (self time):

| function — where | self time |
| --- | ---: |
${top(byFn, 15)}
`;
}

type Mode = 'inventory' | 'sold-out' | 'stock';

async function profileOnce(name: string, env: Record<string, string>, dbUrl: string, prefix: string, mode: Mode = 'inventory'): Promise<string> {
  const soldOut = mode === 'sold-out';
  const stock = mode === 'stock';
  const dir = join(DIR, `tmp-${name}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const server = await startProcess(
    'src/index.ts',
    { DATABASE_URL: dbUrl, REDIS_URL, REDIS_PREFIX: prefix, AUTH_JWT_SECRET: SECRET, NODE_ENV: 'production', DATA_ENCRYPTION_KEY: `bench:${Buffer.alloc(32, 7).toString('base64')}`, RATE_LIMIT: 'off', LOG_LEVEL: 'warn', ROLE: 'api', ...env },
    { ready: '/health', nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir] },
  );
  const base = `http://127.0.0.1:${server.port}`;
  const admin = await signToken(SECRET, { sub: 'profile-admin', roles: ['admin'] });
  const id = `profile-${name}`;
  await gql(
    base,
    `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
    { input: { id, name: id, priceAmount: 100, currency: 'USD', totalQuantity: soldOut ? 1 : stock ? 50_000_000 : 1000, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: stock ? 1000 : 1, reservationTtlSeconds: 60 } } },
    admin,
  );
  let tokens: string[] | undefined;
  if (soldOut) {
    // Case 4: the product's only unit goes first, then 1,000 shoppers keep tapping reserve.
    tokens = Array.from({ length: 1000 }, (_, i) => hs256(SECRET, { sub: `p-${i}` }));
    await gql(base, RESERVE_MUTATION, { input: { productId: id } }, tokens[0]);
  } else if (stock) {
    // Case 6: reserve with stock left, 20,000 distinct shoppers, 200 connections.
    tokens = Array.from({ length: 20_000 }, (_, i) => hs256(SECRET, { sub: `s-${i}` }));
  }
  const r = await load({
    url: `${base}/graphql`,
    method: 'POST',
    body: soldOut || stock ? reserveBody(id) : inventoryBody(id),
    tokens,
    connections: stock ? 200 : 50,
    durationSeconds: SECONDS,
  });
  await server.stop();
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written for ${name}`);
  const raw = readFileSync(join(dir, file));
  writeFileSync(join(DIR, `${name}.cpuprofile.gz`), gzipSync(raw, { level: 9 }));
  const summary = summarise(join(dir, file), r.requests + Math.round(r.rps));
  rmSync(dir, { recursive: true, force: true });
  console.log(`${name}: ${Math.round(r.rps)} requests/s`);
  return `## ${name} (${Math.round(r.rps)} requests/s while profiled)\n\n${summary}`;
}

async function main() {
  mkdirSync(DIR, { recursive: true });
  const db = await scratchDatabase();
  const prefix = `${unique('fsp')}:`;
  try {
    // PROFILE_ONLY=inventory|sold-out|stock [FAST_PATH=...]: one profile, printed, README untouched.
    const only = process.env.PROFILE_ONLY as Mode | undefined;
    if (only) {
      console.log(await profileOnce(`only-${only}`, { FAST_PATH: process.env.FAST_PATH ?? 'jit' }, db.url, prefix, only));
      return;
    }
    const before = await profileOnce('yoga-inventory', { FAST_PATH: 'off', TOKEN_CACHE_MS: '0' }, db.url, prefix);
    const after = await profileOnce('fastpath-inventory', { FAST_PATH: 'jit' }, db.url, prefix);
    const soldOut = await profileOnce('fastpath-reserve-sold-out', { FAST_PATH: 'jit' }, db.url, prefix, 'sold-out');
    const stock = await profileOnce('reserve-with-stock', { FAST_PATH: 'jit' }, db.url, prefix, 'stock');
    writeFileSync(
      join(DIR, 'README.md'),
      `# CPU profiles behind the fast path

Written by \`npm run bench:profile\` (bench/profile.ts) on ${new Date().toISOString()}: the api server
(\`node --cpu-prof\`) answering case 3, the \`inventory(productId)\` query, for ${SECONDS} s at 50 connections,
first through Yoga (FAST_PATH=off, TOKEN_CACHE_MS=0), then through the fast path (FAST_PATH=jit).
The raw profiles are the \`.cpuprofile.gz\` files here: \`gunzip -k\` and open them in Chrome DevTools
(Performance → Load profile) or speedscope for the flame graph.

${before}
${after}
The same for case 4, \`reserve\` on a sold-out product through the fast path (1,000 shopper tokens, each
verified once, then from the token cache):

${soldOut}
And case 6, \`reserve\` with stock left (Redis gate, then Postgres with group commit, see docs/performance.md
"The write path") at 200 connections, 20,000 distinct shopper tokens:

${stock}`,
    );
  } finally {
    await db.drop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
