// `npx tsx bench/sdk-reserve.ts`: the SDK's reserve, 200 in flight for 6 s per mode, with the api's and
// this process's CPU per request. MODES=keyed,unkeyed,... (keyed: the SDK's reserve, which always sends
// an idempotency key; unkeyed: the same document without one). Sold out by default (one unit, taken
// first); STOCK=10000000 for reserves with stock left. WRITE_ENV='{...}' passes server env; NODE_ARGS='--perf-basic-prof'
// node flags to the api process.
import { signToken } from '../src/auth.js';
import { createFlashSaleClient, gql } from '../clients/sdk/src/index.js';
import { leanFetch } from '../clients/load/http.js';
import { cpuSeconds, createSaleProduct, SECRET, scratchDatabase, serverEnv, startProcess, unique } from './lib.js';
const EXTRA = JSON.parse(process.env.WRITE_ENV ?? '{}');
const db = await scratchDatabase();
const p = await startProcess('src/index.ts', serverEnv(db.url, `${unique('kd')}:`, EXTRA), { ready: '/health', nodeArgs: (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean) });
try {
  const base = `http://127.0.0.1:${p.port}`;
  const admin = await signToken(SECRET, { sub: 'a', roles: ['admin'], expiresIn: '2h' });
  const id = `kd-${Date.now().toString(36)}`;
  await createSaleProduct(base, admin, id, Number(process.env.STOCK ?? 1), 1000);
  const fetch = leanFetch({ maxSockets: 200 });
  const tokens = await Promise.all(Array.from({ length: 5000 }, (_, i) => signToken(SECRET, { sub: `s-${i}`, expiresIn: '2h' })));
  const clients = tokens.map((t) => createFlashSaleClient({ url: `${base}/graphql`, getToken: () => t, fetch, retries: 1 }));
  if (!process.env.STOCK) await clients[0].reserve({ productId: id, quantity: 1 });
  for (const mode of (process.env.MODES ?? 'keyed,unkeyed,keyed,unkeyed').split(',')) {
    const c0 = cpuSeconds(p.child.pid!); const s0 = process.cpuUsage(); const t0 = performance.now();
    let n = 0; const lat: number[] = []; const out: Record<string, number> = {};
    await Promise.all(Array.from({ length: 200 }, async () => {
      while (performance.now() - t0 < 6000) {
        const c = clients[n++ % clients.length]; const a = performance.now();
        const r: any = mode === 'keyed' ? await c.reserve({ productId: id, quantity: 1 }) : (await c.execute(gql.ReserveDocument, { input: { productId: id, quantity: 1 } })).reserve;
        lat.push(performance.now() - a); out[r.__typename] = (out[r.__typename] ?? 0) + 1;
      }
    }));
    const secs = (performance.now() - t0) / 1000; const c = cpuSeconds(p.child.pid!) - c0; const s = process.cpuUsage(s0);
    lat.sort((x, y) => x - y);
    console.log(JSON.stringify({ mode, rps: Math.round(n / secs), serverUs: Math.round(c * 1e6 / n), clientUs: Math.round((s.user + s.system) / n), p50: lat[lat.length >> 1].toFixed(1), p99: lat[Math.floor(lat.length * 0.99)].toFixed(1), out }));
  }
} finally { await p.stop(); await db.drop(); }
process.exit(0);
