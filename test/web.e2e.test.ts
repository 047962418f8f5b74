// The storefront in a real browser (Debian chromium driven by playwright-core): two shoppers
// watch the same product live; reserve, pay, a declined card, sold out, and a hold that expires.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { createVerifier, signToken } from '../src/auth.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { startWorker, type Worker } from '../src/worker.js';
import { type Harness, harness, TEST_SECRET } from './support/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM) console.warn(`[web.e2e] SKIPPED: ${CHROMIUM} is missing; install Debian's chromium (apt-get install -y chromium) to run the browser tests.`);

const ROOT = resolve(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'test-output', 'e2e');

describe.skipIf(!HAS_CHROMIUM)('storefront in a real browser', () => {
  let h: Harness;
  let app: App;
  let worker: Worker;
  let base: string;
  let context: BrowserContext;
  let dirs: string[] = [];
  let a: Page;
  let b: Page;
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    const webRoot = mkdtempSync(join(tmpdir(), 'flashsale-web-'));
    const profile = mkdtempSync(join(tmpdir(), 'flashsale-chromium-'));
    dirs = [webRoot, profile];
    mkdirSync(SHOTS, { recursive: true });
    // Build the page exactly as `npm run build:web` does, into a scratch folder.
    // (side by side with opening the database).
    [, h] = await Promise.all([
      build({ configFile: join(ROOT, 'clients/web/vite.config.ts'), logLevel: 'warn', build: { outDir: webRoot, emptyOutDir: true } }),
      harness('embedded'),
    ]);
    const deps = h.backend.runtime.deps;
    app = buildApp(deps, {
      verifier: createVerifier({ secret: TEST_SECRET }),
      web: { root: webRoot, devToken: (sub) => signToken(TEST_SECRET, { sub, expiresIn: '1h' }) },
    });
    worker = startWorker(deps, { sweepIntervalMs: 250 });
    base = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 1,
      isMobile: false,
    });
  }, 150_000); // a Vite build, a database and a browser on a busy 2-core machine

  afterAll(async () => {
    await context?.close().catch(() => {});
    await worker?.stop();
    await app?.stop().catch(() => {});
    await h?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const open = async (name: string, at = base) => {
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${name}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${name}: ${e.message}`));
    await page.goto(`${at}/`);
    await page.getByRole('button', { name: 'Sign in as a demo shopper' }).click();
    await expect.poll(() => page.locator('#who').textContent()).toMatch(/Signed in as demo-/);
    return page;
  };
  const card = (page: Page, id: string) => page.locator(`li[data-product-id="${id}"]`);
  const available = async (page: Page, id: string) => Number(await card(page, id).locator('.stock').getAttribute('data-available'));
  const reserve = (page: Page, id: string) => card(page, id).locator('button.reserve').click();
  const alertState = (page: Page) => page.locator('#alert').getAttribute('data-state');
  const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const fillAddress = async (page: Page, card: RegExp) => {
    await page.getByLabel('Address', { exact: true }).fill('1 Main St');
    await page.getByLabel('City').fill('Springfield');
    await page.getByLabel('Postal code').fill('12345');
    await page.getByLabel(card).check();
  };

  it('serves the page at / with its assets, and the dev sign-in mints a working shopper token', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(js).toBeDefined();
    expect((await fetch(`${base}${js}`)).headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${base}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    const bad = await fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify({ name: 'no spaces allowed' }) });
    expect(bad.status).toBe(400);
    const big = await fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify({ name: 'x'.repeat(5000) }) });
    expect(big.status).toBe(413);
    const { token, sub } = await (await fetch(`${base}/dev/token`, { method: 'POST', body: JSON.stringify({ name: 'probe' }) })).json();
    expect(sub).toBe('demo-probe');
    expect((await h.gql('{ orders { id } }', {}, token)).data).toEqual({ orders: [] });
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'self'/);

    // Production: no dev sign-in at all; an unbuilt page says how to build it.
    const verifier = createVerifier({ secret: TEST_SECRET });
    const prod = buildApp(h.backend.runtime.deps, { verifier, web: { root: dirs[0] } });
    expect((await prod.fetch('http://x/dev/token', { method: 'POST', body: '{}' })).status).toBe(404);
    expect((await prod.fetch('http://x/')).status).toBe(200);
    const unbuilt = buildApp(h.backend.runtime.deps, { verifier, web: { root: join(dirs[0], 'missing') } });
    expect(await (await unbuilt.fetch('http://x/')).text()).toMatch(/npm run build:web/);
    await Promise.all([prod.stop(), unbuilt.stop()]).catch(() => {});
  });

  it('two shoppers: live stock, pay, declined card, sold out, and a hold that expires', { timeout: 120_000 }, async () => {
    const sneaker = await h.product({ name: 'Sneaker', totalQuantity: 5, priceAmount: 12900 });
    const lastOne = await h.product({ name: 'Last one', totalQuantity: 1 });
    const quick = await h.product({ name: 'Quick hold', totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 60_000).toISOString(), reservationTtlSeconds: 3 } });
    const later = await h.product({ name: 'Later drop', totalQuantity: 9, sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() } });

    a = await open('A');
    b = await open('B');
    await expect.poll(() => available(b, sneaker.id)).toBe(5);
    // Countdown to the sale start, and no way to reserve before it.
    await expect.poll(() => card(b, later.id).locator('.sale').textContent()).toMatch(/Sale starts in 0?:?\d\d:\d\d/);
    expect(await card(b, later.id).locator('button.reserve').isDisabled()).toBe(true);
    // The operator opens it now (rescheduleSale): the page learns it from the stock ticker, without a reload.
    const opened = await h.gql(`mutation($id: ID!, $at: DateTime!) { rescheduleSale(productId: $id, startsAt: $at) { sale { state } } }`, { id: later.id, at: new Date().toISOString() }, await h.admin());
    expect(opened.data.rescheduleSale.sale.state).toBe('LIVE');
    await expect.poll(() => card(b, later.id).getAttribute('data-state')).toBe('live');
    expect(await card(b, later.id).locator('.sale').textContent()).toBe('On sale now');
    expect(await card(b, later.id).locator('button.reserve').isDisabled()).toBe(false);

    // A reserves: the count drops on B, A sees the hold's countdown.
    await reserve(a, sneaker.id);
    await expect.poll(() => available(b, sneaker.id)).toBe(4);
    await expect(a.locator('#hold')).toBeVisibleSoon();
    await expect.poll(() => a.locator('#hold-countdown').textContent()).toMatch(/^0[45]:\d\d$/);
    await shot(a, '1-a-holding');
    await shot(b, '1-b-count-dropped');

    // A pays with the card that succeeds and watches the order become COMPLETED.
    await fillAddress(a, /Visa — succeeds/);
    await a.getByRole('button', { name: /^Pay / }).click();
    await expect.poll(() => a.locator('#order-status').textContent(), { timeout: 15_000 }).toBe('COMPLETED');
    // The live order status can show COMPLETED before pay's own answer arrives and says so.
    await expect.poll(() => alertState(a)).toBe('paid');
    await expect.poll(() => a.locator('#history-list li').first().getAttribute('data-state')).toBe('paid');
    expect(await available(b, sneaker.id)).toBe(4);
    await shot(a, '2-a-completed');
    // The operator refunds it (refundOrder): A's page shows it cancelled and the money given back, live
    // (the sandbox refunds at once, and the order's event is sent once the refund is made).
    const paidId = await a.locator('#order-id').textContent();
    const refunded = await h.gql(`mutation($id: ID!) { refundOrder(orderId: $id, reason: "wrong size") { order { status } } }`, { id: paidId }, await h.admin());
    expect(refunded.data.refundOrder.order.status).toBe('CANCELLED');
    await expect.poll(() => a.locator('#order-status').textContent()).toBe('CANCELLED');
    expect(await a.locator('#order-note').textContent()).toMatch(/^The order was cancelled and the .*129\.00 you paid was refunded to your card\.$/);
    // A's order history says the same, with the refund made (the sandbox refunds at once).
    const past = a.locator(`#history-list li[data-order-id="${paidId}"]`);
    await expect.poll(() => past.getAttribute('data-state')).toBe('refunded');
    expect(await past.textContent()).toMatch(/^1 × Sneaker — .*129\.00 — Cancelled and refunded: .*129\.00$/);
    await shot(a, '2b-a-refunded');

    // The per-shopper limit is explained.
    await reserve(a, sneaker.id);
    await expect.poll(() => alertState(a)).toBe('limit-reached');

    // B reserves and pays with a card that is declined: the decline is shown, the unit comes back.
    await reserve(b, sneaker.id);
    await expect.poll(() => available(a, sneaker.id)).toBe(3);
    await fillAddress(b, /Card declined/);
    await b.getByRole('button', { name: /^Pay / }).click();
    await expect.poll(() => alertState(b), { timeout: 15_000 }).toBe('declined');
    expect(await b.locator('#alert').textContent()).toMatch(/declined/);
    await expect.poll(() => b.locator('#order-status').textContent()).toBe('FAILED');
    await expect.poll(() => available(a, sneaker.id)).toBe(4);
    await shot(b, '3-b-declined');

    // Sold out: B takes the last unit, A sees it sold out; B gives it back, A sees it again.
    await b.getByRole('button', { name: 'Back to the sale' }).click();
    await reserve(b, lastOne.id);
    await expect.poll(() => card(a, lastOne.id).getAttribute('data-state')).toBe('sold-out');
    expect(await card(a, lastOne.id).locator('button.reserve').isDisabled()).toBe(true);
    await shot(a, '4-a-sold-out');
    await b.getByRole('button', { name: 'Give it back' }).click();
    await expect.poll(() => available(a, lastOne.id)).toBe(1);

    // A hold left alone expires: A is told, and the count goes back up on B.
    await a.getByRole('button', { name: 'Back to the sale' }).click();
    await reserve(a, quick.id);
    await expect.poll(() => available(b, quick.id)).toBe(2);
    await expect.poll(() => alertState(a), { timeout: 20_000 }).toBe('expired');
    await expect.poll(() => available(b, quick.id), { timeout: 10_000 }).toBe(3);
    expect(await a.locator('#hold').isHidden()).toBe(true);
    await shot(a, '5-a-expired');
    await shot(b, '5-b-count-back');

    expect((await h.ledger(sneaker.id)).sold).toBe(1);
    expect(consoleErrors).toEqual([]);
  });

  it('CAPTCHA=always: the page solves the proof-of-work challenge in the browser and takes the hold', { timeout: 60_000 }, async () => {
    const guarded = buildApp(h.backend.runtime.deps, {
      verifier: createVerifier({ secret: TEST_SECRET }),
      security: loadSecurityConfig({ CAPTCHA: 'always', CAPTCHA_MAX_NUMBER: '20000' }, false),
      web: { root: dirs[0], devToken: (sub) => signToken(TEST_SECRET, { sub, expiresIn: '1h' }) },
    });
    try {
      const at = `http://127.0.0.1:${await guarded.start(0, '127.0.0.1')}`;
      const drop = await h.product({ name: 'Guarded drop', totalQuantity: 2 });
      // Without a solution this server asks for one (and holds nothing).
      const asked = await guarded.fetch('http://x/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await h.token('no-solver')}` },
        body: JSON.stringify({ query: 'mutation($input: ReserveInput!) { reserve(input: $input) { __typename } }', variables: { input: { productId: drop.id } } }),
      });
      expect((await asked.json()).data.reserve.__typename).toBe('CaptchaRequired');
      const page = await open('C', at);
      await reserve(page, drop.id);
      await expect(page.locator('#hold')).toBeVisibleSoon();
      expect(await alertState(page)).not.toBe('captcha');
      expect((await h.ledger(drop.id)).reserved).toBe(1);
      await shot(page, '6-captcha-solved-hold');
      expect(consoleErrors).toEqual([]);
      await page.close();
    } finally {
      await guarded.stop().catch(() => {});
    }
  });
});

declare module 'vitest' {
  interface Assertion<T> {
    toBeVisibleSoon(): Promise<void>;
  }
}
expect.extend({
  async toBeVisibleSoon(received: import('playwright-core').Locator) {
    try {
      await received.waitFor({ state: 'visible', timeout: 10_000 });
      return { pass: true, message: () => 'visible' };
    } catch {
      return { pass: false, message: () => 'expected the element to become visible within 10 s' };
    }
  },
});
