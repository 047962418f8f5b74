// `npm run load -- --shoppers 5000 --stock 1000 --url http://localhost:4000`
// Tokens: AUTH_JWT_SECRET (the server's), or the development secret the server keeps in DATA_DIR.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { formatSummary, runFlashSale } from './flash-sale.js';

const HELP = `flash-sale load generator

  npm run load -- [options]

  --url URL            server base URL (default http://localhost:4000)
  --shoppers N         shoppers, each with its own token (default 1000)
  --stock N            units on sale (default 100)
  --ramp MS            shoppers arrive over this many ms (default 1000)
  --concurrency N      shoppers in flight at most, each from its first request to its last (default 256)
  --preconnect         open the concurrency's connections before the sale opens (as shoppers on the page have)
  --checkout-rate F    holders who check out and pay, 0..1 (default 0.85)
  --decline-rate F     payers whose card is declined, 0..1 (default 0.1)
  --release-rate F     abandoners who give the hold back (the rest let it expire) (default 0.5)
  --repay-rate F       payers who pay twice (probes duplicate charges) (default 0.1)
  --ttl S              reservation hold in seconds for the created product (default 120)
  --limit N            per-shopper limit for the created product (default 1)
  --price N            price in minor units (default 4999)
  --subscribers N      WebSocket clients watching the stock (default 0)
  --product ID         use an existing product instead of creating one
  --seed N             seed for the shoppers' choices (default 42)
  --json               print the summary as JSON
  -h, --help

  Environment: AUTH_JWT_SECRET (mints shopper and admin tokens; else DATA_DIR/dev-jwt-secret),
               FLASHSALE_ADMIN_TOKEN (optional admin token for createProduct).
  Exit status: 0 when nothing was oversold, nobody was charged twice and first come was
               first served; 1 otherwise; 2 on bad usage.`;

const OPTIONS = {
    url: { type: 'string', default: 'http://localhost:4000' },
    shoppers: { type: 'string', default: '1000' },
    stock: { type: 'string', default: '100' },
    ramp: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '256' },
    'checkout-rate': { type: 'string', default: '0.85' },
    'decline-rate': { type: 'string', default: '0.1' },
    'release-rate': { type: 'string', default: '0.5' },
    'repay-rate': { type: 'string', default: '0.1' },
    ttl: { type: 'string', default: '120' },
    limit: { type: 'string', default: '1' },
    price: { type: 'string', default: '4999' },
    subscribers: { type: 'string', default: '0' },
    product: { type: 'string' },
    seed: { type: 'string', default: '42' },
    preconnect: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
} as const;
let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];
try {
  values = parseArgs({ options: OPTIONS }).values;
} catch (err) {
  console.error(`load: ${(err as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
const usage = (msg: string): never => {
  console.error(`load: ${msg}\n\n${HELP}`);
  process.exit(2);
};
const int = (name: string, min: number, max: number) => {
  const n = Number(values[name as keyof typeof values]);
  if (!Number.isInteger(n) || n < min || n > max) usage(`--${name} must be a whole number from ${min} to ${max}`);
  return n;
};
const frac = (name: string) => {
  const n = Number(values[name as keyof typeof values]);
  if (!Number.isFinite(n) || n < 0 || n > 1) usage(`--${name} must be a number from 0 to 1`);
  return n;
};
try {
  new URL(values.url!);
} catch {
  usage('--url must be a URL like http://localhost:4000');
}

const settings = {
  url: values.url!,
  shoppers: int('shoppers', 1, 10_000_000),
  stock: int('stock', 1, 100_000_000),
  rampMs: int('ramp', 0, 3_600_000),
  concurrency: int('concurrency', 1, 100_000),
  preconnect: values.preconnect!,
  checkoutRate: frac('checkout-rate'),
  declineRate: frac('decline-rate'),
  releaseRate: frac('release-rate'),
  repayRate: frac('repay-rate'),
  ttlSeconds: int('ttl', 1, 86_400),
  perUserLimit: int('limit', 1, 1000),
  priceAmount: int('price', 0, 2_000_000_000),
  subscribers: int('subscribers', 0, 100_000),
  productId: values.product,
  seed: int('seed', 0, 2 ** 31),
};
let secret = process.env.AUTH_JWT_SECRET;
if (!secret) {
  const file = join(process.env.DATA_DIR || './.data', 'dev-jwt-secret');
  if (existsSync(file)) secret = readFileSync(file, 'utf8').trim();
}
if (!secret) usage('set AUTH_JWT_SECRET to the server\u2019s secret (or run from the folder holding the dev server\u2019s DATA_DIR) so each shopper gets a token');

const tty = process.stderr.isTTY;
const summary = await runFlashSale({
  ...settings,
  secret,
  adminToken: process.env.FLASHSALE_ADMIN_TOKEN || undefined,
  onProgress: (line) => process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`),
}).catch((err: Error) => {
  console.error(`\nload: ${err.message}`);
  process.exit(2);
});
if (tty) process.stderr.write('\n');
console.log(values.json ? JSON.stringify(summary, null, 2) : formatSummary(summary));
process.exit(summary.failed ? 1 : 0);
