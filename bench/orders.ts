// `npx tsx bench/orders.ts`: the api's CPU per operation of an order's life, through the SDK (over
// the load generator's node:http client): N shoppers reserve (with stock), check out, pay, then
// reserve again (sold out), C at a time. Two rounds; the second (warm) is printed.
//
// N=400 (shoppers)  C=1 (in flight)  WRITE_ENV='{...}' (server env)  NODE_ARGS='--perf-basic-prof'
// (node flags for the api process, whose pid is printed for `perf record -p`).
import { signToken } from '../src/auth.js';
import { createFlashSaleClient, newIdempotencyKey } from '../clients/sdk/src/index.js';
import { leanFetch } from '../clients/load/http.js';
import { cpuSeconds, createSaleProduct, SECRET, scratchDatabase, serverEnv, startProcess, unique } from './lib.js';

const N = Number(process.env.N ?? 400);
const EXTRA = JSON.parse(process.env.WRITE_ENV ?? '{}');
const db = await scratchDatabase();
const p = await startProcess('src/index.ts', serverEnv(db.url, `${unique('ops')}:`, EXTRA), { ready: '/health', nodeArgs: (process.env.NODE_ARGS ?? '').split(' ').filter(Boolean) });
console.log('PID', p.child.pid);
try {
  const base = `http://127.0.0.1:${p.port}`;
  const admin = await signToken(SECRET, { sub: 'a', roles: ['admin'], expiresIn: '2h' });
  const fetch = leanFetch({ maxSockets: 256 });
  for (const round of [0, 1]) {
    const id = `ops-${round}-${Date.now().toString(36)}`;
    await createSaleProduct(base, admin, id, N, 1);
    const tokens = await Promise.all(Array.from({ length: N }, (_, i) => signToken(SECRET, { sub: `s-${round}-${i}`, expiresIn: '2h' })));
    const clients = tokens.map((t) => createFlashSaleClient({ url: `${base}/graphql`, getToken: () => t, fetch }));
    const phase = async (name: string, f: (i: number) => Promise<unknown>) => {
      const c0 = cpuSeconds(p.child.pid!); const t0 = performance.now();
      const C = Number(process.env.C ?? 1); let next = 0;
      await Promise.all(Array.from({ length: C }, async () => { for (let i = next++; i < N; i = next++) await f(i); }));
      const c = cpuSeconds(p.child.pid!) - c0; const t = performance.now() - t0;
      if (round) console.log(`${name.padEnd(10)} server CPU ${(c * 1e6 / N).toFixed(0).padStart(6)} µs/op, wall ${(t * 1000 / N).toFixed(0).padStart(6)} µs/op`);
    };
    const res: any[] = []; const ord: any[] = [];
    await phase('reserve', async (i) => { res[i] = await clients[i].reserve({ productId: id, quantity: 1 }); });
    await phase('checkout', async (i) => { const c: any = await clients[i].checkout({ cartId: res[i].reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: { addressLine1: '1 St', city: 'X', postalCode: '12345', country: 'US' } }); ord[i] = c.order; });
    await phase('pay', async (i) => { await clients[i].pay({ orderId: ord[i].id, paymentMethod: 'pm_card_visa', amount: ord[i].total.amount, idempotencyKey: newIdempotencyKey() }); });
    await phase('sold-out', async (i) => { await clients[i].reserve({ productId: id, quantity: 1 }); });
  }
} finally { await p.stop(); await db.drop(); }
process.exit(0);
