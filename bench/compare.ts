// `npx tsx bench/compare.ts <rev> [<rev>...]`: this checkout's api against other commits' on the same
// machine, case by case, in alternating rounds, each beside the raw node:http server. A full run's
// ratios move with the VM from one day to the next (BENCHMARKS.md); a change's cost against its
// parent's, measured side by side, does not. How step 35's regression was found (docs/performance.md).
//
// Each <rev> is checked out into a temporary git worktree (node_modules linked from this checkout,
// removed afterwards); `.` is this checkout as it is, uncommitted changes included, and always comes first.
// COMPARE_CASES=3,4,5 (default; 6 is reserve with stock left at 200 connections after 2 s of other
// shoppers' warm-up)  COMPARE_ROUNDS=2  COMPARE_SECONDS=4 (per case per round)
//
// Prints one line per checkout per round (api CPU µs per request, its ratio to raw's, p50/p99 ms, and
// how many answers had the expected body), then each case's lowest and highest CPU per request per checkout.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signTokenSync } from '../src/auth.js';
import { createSaleProduct, hs256, type LoadSpec, load, ROOT, SECRET, scratchDatabase, serverEnv, startProcess, unique } from './lib.js';
import { hotCases, stockCase } from './scenario.js';

const CASES = (process.env.COMPARE_CASES ?? '3,4,5').split(',');
const ROUNDS = Number(process.env.COMPARE_ROUNDS ?? 2);
const SECONDS = Number(process.env.COMPARE_SECONDS ?? 4);

/** The checkouts to compare: this one, then a worktree per revision. */
function checkouts(revs: string[], dir: string): { name: string; root: string }[] {
  const out = [{ name: '.', root: ROOT }];
  for (const rev of revs) {
    if (rev === '.') continue;
    const sha = execFileSync('git', ['rev-parse', '--short', rev], { cwd: ROOT, encoding: 'utf8' }).trim();
    const root = join(dir, sha);
    execFileSync('git', ['worktree', 'add', '--detach', '--force', root, sha], { cwd: ROOT, stdio: 'ignore' });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
    out.push({ name: rev === sha ? sha : `${rev} (${sha})`, root });
  }
  return out;
}

async function main() {
  const revs = process.argv.slice(2);
  if (!revs.length) throw new Error('usage: tsx bench/compare.ts <rev> [<rev>...]  (this checkout is compared against each)');
  const dir = mkdtempSync(join(tmpdir(), 'fs-compare-'));
  const trees = checkouts(revs, dir);
  const db = await scratchDatabase();
  const raw = await startProcess('bench/raw-server.ts', {});
  const admin = signTokenSync(SECRET, { sub: 'bench-admin', roles: ['admin'], ttlSeconds: 7200 });
  const cpu: Record<string, Record<string, number[]>> = {};
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of trees) {
        const p = await startProcess('src/index.ts', serverEnv(db.url, `${unique('cmp')}:`), { ready: '/health', cwd: t.root });
        try {
          const base = `http://127.0.0.1:${p.port}`;
          const readId = await createSaleProduct(base, admin, unique('cmp-read'), 1000, 1);
          const soldId = await createSaleProduct(base, admin, unique('cmp-sold'), 1, 1);
          // The sold-out product's one unit taken, as in bench/run.ts.
          await load({ ...stockCase(base, soldId, [hs256(SECRET, { sub: 'cmp-buyer' })]), connections: 1, durationSeconds: 1, warmupSeconds: 0 });
          const crowd = Array.from({ length: 1000 }, (_, i) => hs256(SECRET, { sub: `cmp-${round}-${i}` }));
          const specs: Record<string, LoadSpec> = Object.fromEntries(
            Object.entries(hotCases(base, readId, soldId, crowd)).map(([c, r]) => [c, { ...r, connections: 50, durationSeconds: SECONDS }]),
          );
          if (CASES.includes('6')) {
            const warmId = await createSaleProduct(base, admin, unique('cmp-warm'), 50_000_000, 1000);
            const warmCrowd = Array.from({ length: 5000 }, (_, i) => hs256(SECRET, { sub: `cmp-w-${round}-${i}` }));
            await load({ ...stockCase(base, warmId, warmCrowd), connections: 200, durationSeconds: 2, warmupSeconds: 0 });
            const stockId = await createSaleProduct(base, admin, unique('cmp-stock'), 50_000_000, 1000);
            const shoppers = Array.from({ length: 20_000 }, (_, i) => hs256(SECRET, { sub: `cmp-s-${round}-${i}` }));
            specs['6'] = { ...stockCase(base, stockId, shoppers), connections: 200, durationSeconds: SECONDS };
          }
          const todo = CASES.filter((c) => specs[c]);
          // Cases 3-5: a second of each first, so what is measured is compiled code.
          for (const c of todo) if (c !== '6') await load({ ...specs[c], durationSeconds: 1, warmupSeconds: 0 });
          const r0 = await load({ url: `http://127.0.0.1:${raw.port}/`, pid: raw.child.pid!, expect: '"hello":"world"', connections: 50, durationSeconds: 3, warmupSeconds: 0 });
          const line = [`raw ${r0.cpuUsPerReq!.toFixed(1)} µs, ${Math.round(r0.rps)}/s`];
          for (const c of todo) {
            const r = await load({ ...specs[c], warmupSeconds: 0, pid: p.child.pid });
            ((cpu[t.name] ??= {})[c] ??= []).push(r.cpuUsPerReq!);
            line.push(`case ${c} ${r.cpuUsPerReq!.toFixed(1)} µs (${(r.cpuUsPerReq! / r0.cpuUsPerReq!).toFixed(2)}× raw; ${Math.round(r.rps)}/s, ${(r.rps / r0.rps).toFixed(2)}× raw's; p50 ${r.p50} p99 ${r.p99} ms, ${r.matched}/${r.requests} expected)`);
          }
          console.log(`round ${round} ${t.name}: ${line.join(' | ')}`);
        } finally {
          await p.stop();
        }
      }
    }
    const range = (xs: number[]) => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
    console.log('api CPU µs per request, lowest-highest over the rounds (read each round\'s line against raw\'s beside it too):');
    for (const t of trees) console.log(`  ${t.name}: ${Object.entries(cpu[t.name] ?? {}).map(([c, xs]) => `case ${c} ${range(xs)}`).join(', ')}`);
  } finally {
    await raw.stop();
    await db.drop();
    for (const t of trees.slice(1)) execFileSync('git', ['worktree', 'remove', '--force', t.root], { cwd: ROOT, stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
