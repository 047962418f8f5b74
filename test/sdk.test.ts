// The typed SDK against a real server on a real port: HTTP operations, graphql-ws
// subscriptions, token refresh, and the ALTCHA solver checked by altcha-lib itself.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChallenge, verifySolution } from 'altcha-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createFlashSaleClient, type FlashSaleClient, FlashSaleError, solveChallenge } from '../clients/sdk/src/index.js';
import { type App, buildApp } from '../src/app.js';
import { createVerifier } from '../src/auth.js';
import { clientManifest } from '../src/security/manifest.js';
import { ADDRESS, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { securedApp } from './support/security.js';
import { waitFor } from './support/servers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const until = (cond: () => boolean, what: string) => waitFor(cond, what, 15_000, 20);

describe('clients/sdk', () => {
  let h: Harness;
  let url: string;
  let restarted: App | undefined;
  const clients: FlashSaleClient[] = [];
  beforeAll(async () => {
    h = await harness('embedded');
    const port = await h.app.start(0, '127.0.0.1');
    url = `http://127.0.0.1:${port}/graphql`;
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await restarted?.stop();
    await h?.close();
  });
  const client = (getToken: Parameters<typeof createFlashSaleClient>[0]['getToken']) => {
    const c = createFlashSaleClient({ url, getToken, webSocketImpl: WebSocket });
    clients.push(c);
    return c;
  };

  it('reserves, checks out and pays with typed results, and watches stock and the order live', async () => {
    const { id } = await h.product({ totalQuantity: 5, priceAmount: 2500 });
    const token = await h.token('sdk-alice');
    const alice = client(() => token);
    const watcher = client(() => undefined);
    const stock: number[] = [];
    const sub = watcher.onStockChanged(id, (inv) => stock.push(inv.availableQuantity));
    while (stock.length === 0) await new Promise((r) => setTimeout(r, 20));

    const products = await alice.products();
    expect(products.find((p) => p.id === id)?.price.amount).toBe(2500);
    const r = await alice.reserve({ productId: id });
    if (r.__typename !== 'ReserveSuccess') throw new Error(`reserve: ${r.__typename}`);
    expect(r.reservation.product.id).toBe(id);
    while (!stock.includes(4)) await new Promise((res) => setTimeout(res, 20));

    const again = await alice.reserve({ productId: id });
    expect(again.__typename).toBe('LimitExceeded');
    if (again.__typename === 'LimitExceeded') expect(again.limit).toBe(1);

    const c = await alice.checkout({ cartId: r.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS });
    if (c.__typename !== 'CheckoutSuccess') throw new Error(`checkout: ${c.__typename}`);
    const statuses: string[] = [];
    const orderSub = alice.onOrderStatusChanged(c.order.id, (o) => statuses.push(o.status));
    while (statuses.length === 0) await new Promise((res) => setTimeout(res, 20));
    const p = await alice.pay({ orderId: c.order.id, paymentMethod: 'pm_card_visa', amount: c.order.total.amount });
    expect(p.__typename).toBe('PaySuccess');
    while (!statuses.includes('COMPLETED')) await new Promise((res) => setTimeout(res, 20));
    expect(statuses[0]).toBe('PENDING');
    expect((await alice.order(c.order.id))?.status).toBe('COMPLETED');
    sub.unsubscribe();
    orderSub.unsubscribe();
  });

  it("operators reschedule a sale through the SDK; a watcher's ticker carries the new window", async () => {
    const { id } = await h.product({ totalQuantity: 3, sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() } });
    const admin = await h.admin();
    const operator = client(() => admin);
    const watcher = client(() => undefined);
    const starts: string[] = [];
    const sub = watcher.onStockChanged(id, (inv) => starts.push(inv.saleStartsAt));
    await until(() => starts.length > 0, 'the first push');
    const startsAt = new Date(Date.now() + 7_200_000);
    const endsAt = new Date(Date.now() + 10_800_000);
    const moved = await operator.rescheduleSale(id, startsAt, endsAt);
    expect(moved.sale).toMatchObject({ startsAt: startsAt.toISOString(), endsAt: endsAt.toISOString(), state: 'SCHEDULED' });
    await until(() => starts.includes(startsAt.toISOString()), 'the new start on the ticker');
    // Refused calls throw a typed error naming the field.
    const err = await operator.rescheduleSale(id, startsAt, new Date(startsAt.getTime() - 1000)).catch((e) => e);
    expect(err).toBeInstanceOf(FlashSaleError);
    expect(err).toMatchObject({ code: 'INVALID_INPUT' });
    sub.unsubscribe();
  });

  it('operators walk every paid order of a sale with allPaidOrders, page after page', async () => {
    const { id } = await h.product({ totalQuantity: 5, priceAmount: 700 });
    const paid: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t = await h.token(`sdk-ship-${i}`);
      const shopper = client(() => t);
      const r = await shopper.reserve({ productId: id });
      if (r.__typename !== 'ReserveSuccess') throw new Error(`reserve: ${r.__typename}`);
      const c = await shopper.checkout({ cartId: r.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: { ...ADDRESS, addressLine1: `${i} Dock St` } });
      if (c.__typename !== 'CheckoutSuccess') throw new Error(`checkout: ${c.__typename}`);
      expect((await shopper.pay({ orderId: c.order.id, paymentMethod: 'pm_card_visa', amount: 700 })).__typename).toBe('PaySuccess');
      paid.push(c.order.id);
    }
    const admin = await h.admin();
    const operator = client(() => admin);
    const walked = [];
    for await (const o of operator.allPaidOrders({ productId: id, first: 2 })) walked.push(o);
    expect(walked.map((o) => o.orderId)).toEqual(paid);
    expect(walked.map((o) => o.shippingAddress?.addressLine1)).toEqual(['0 Dock St', '1 Dock St', '2 Dock St']);
    // A shopper is refused with a typed error.
    const t = await h.token('sdk-ship-0');
    expect(await client(() => t).paidOrders().catch((e) => e)).toMatchObject({ code: 'FORBIDDEN' });
    // Operators block a bot through the SDK; its reserve is refused with a typed FORBIDDEN error.
    expect(await operator.blockShoppers(['sdk-ship-1'], 'bot')).toEqual({ blocked: 1, holdsRevoked: 0 });
    const blocked = await h.token('sdk-ship-1');
    expect(await client(() => blocked).reserve({ productId: id }).catch((e) => e)).toMatchObject({ code: 'FORBIDDEN' });
    expect(await operator.unblockShoppers(['sdk-ship-1'])).toEqual({ unblocked: 1 });
    // And the ranges bots come from (the reserves refused are test/blocks.test.ts's); bad input is a typed error.
    expect(await operator.blockNetworks(['192.0.2.77/24'], 'bot farm')).toEqual({ blocked: 1 });
    expect(await operator.blockNetworks(['192.0.2.0/33'], 'bot farm').catch((e) => e)).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/prefix must be 8-32/) });
    expect(await operator.unblockNetworks(['192.0.2.0/24'])).toEqual({ unblocked: 1 });
    // A price corrected before its sale opens; an open sale's is fixed (a typed error).
    const scheduled = await h.product({ name: 'Later', priceAmount: 100, sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() } });
    expect(await operator.updateProduct(scheduled.id, { priceAmount: 1_000 })).toMatchObject({ id: scheduled.id, name: 'Later', price: { amount: 1_000 } });
    expect(await operator.updateProduct(id, { priceAmount: 1 }).catch((e) => e)).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/fixed/) });
    // A refunded order leaves the walk; the shopper reads the refund on the order.
    const refunded = await operator.refundOrder(paid[2], 'damaged in transit');
    expect(refunded).toMatchObject({ order: { id: paid[2], status: 'CANCELLED' }, refund: { status: 'SUCCEEDED', amount: { amount: 700 } } });
    const again = [];
    for await (const o of operator.allPaidOrders({ productId: id })) again.push(o.orderId);
    expect(again).toEqual(paid.slice(0, 2));
    const buyer = await h.token('sdk-ship-2');
    expect((await client(() => buyer).order(paid[2]))?.refunds).toEqual([refunded.refund]);
    // The shopper's order history carries them too (read for the whole list at once).
    expect((await client(() => buyer).orders()).map((o) => [o.id, o.status, o.refunds])).toEqual([[paid[2], 'CANCELLED', [refunded.refund]]]);
    const records = await operator.refunds({ status: 'SUCCEEDED', first: 500 });
    expect(records.find((r) => r.id === refunded.refund.id)).toMatchObject({ orderId: paid[2], reason: 'damaged in transit', status: 'SUCCEEDED' });
    expect(await operator.retryRefund(refunded.refund.id)).toMatchObject({ id: refunded.refund.id, status: 'SUCCEEDED' });
    expect((await operator.shopperOrders('sdk-ship-2')).map((d) => d.order.id)).toEqual([paid[2]]);
    expect(await operator.orderDetails(paid[2])).toMatchObject({ shopperId: 'sdk-ship-2', shippingAddress: { addressLine1: '2 Dock St' }, payments: [{ status: 'SUCCEEDED' }], refunds: [{ reason: 'damaged in transit' }] });
    // The sale called off through the SDK: the two orders left are refunded.
    const cancelled = await operator.cancelSale(id, 'recall', { refundPaidOrders: true });
    expect(cancelled).toMatchObject({ product: { id, sale: { state: 'ENDED' } }, holdsRevoked: 0, ordersRefunded: 2, paymentsInFlight: 0 });
  });

  it('asks getToken for a fresh token when the server refuses the one it has', async () => {
    const good = await h.token('sdk-bob');
    const asked: boolean[] = [];
    const bob = client(({ forceRefresh }) => {
      asked.push(forceRefresh);
      return forceRefresh ? good : 'expired.token.value';
    });
    expect(await bob.orders()).toEqual([]);
    expect(asked).toEqual([false, true]);
  });

  it('throws a typed FlashSaleError for a fault that is not a business outcome', async () => {
    const nobody = client(() => undefined);
    const err = await nobody.cart().catch((e) => e);
    expect(err).toBeInstanceOf(FlashSaleError);
    expect(err.code).toBe('UNAUTHENTICATED');
  });

  it('reconnects after the server goes away and keeps the subscription live', async () => {
    const { id } = await h.product({ totalQuantity: 4 });
    const states: string[] = [];
    const seen: number[] = [];
    const c = createFlashSaleClient({ url, webSocketImpl: WebSocket, onConnectionChange: (s) => states.push(s) });
    clients.push(c);
    c.onStockChanged(id, (inv) => seen.push(inv.availableQuantity));
    await until(() => seen.length > 0, 'the first stock event');
    // The server restarts on the same port (a deploy): the socket closes, the SDK reconnects.
    const port = Number(new URL(url).port);
    await h.app.stop();
    const again = buildApp(h.backend.runtime.deps, { verifier: createVerifier({ secret: TEST_SECRET }) });
    await again.start(port, '127.0.0.1');
    restarted = again; // serves the remaining tests on the same port
    {
      await until(() => states.filter((s) => s === 'connected').length >= 2, 'a second connection');
      const res = await again.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await h.token('sdk-reconnect')}` },
        body: JSON.stringify({ query: RESERVE, variables: { input: { productId: id } } }),
      });
      expect((await res.json()).data.reserve.__typename).toBe('ReserveSuccess');
      await until(() => seen.at(-1) === 3, 'the count after the restart');
      expect(states).toContain('closed');
    }
  });

  it('refreshes the token when a live subscription is refused as unauthenticated', async () => {
    const { id } = await h.product({ totalQuantity: 2 });
    const token = await h.token('sdk-carol');
    const carol = client(() => token);
    const r = await carol.reserve({ productId: id });
    if (r.__typename !== 'ReserveSuccess') throw new Error(r.__typename);
    const asked: boolean[] = [];
    const live = client(({ forceRefresh }) => {
      asked.push(forceRefresh);
      return forceRefresh ? token : 'stale.token.value';
    });
    const left: number[] = [];
    live.onReservationCountdown(r.reservation.id, (cd) => left.push(cd.secondsLeft));
    await until(() => left.length > 0, 'a countdown tick');
    expect(left[0]).toBeGreaterThan(200);
    expect(asked).toContain(true);
  });

  it('solves an ALTCHA challenge that altcha-lib verifies (JSON or base64 JSON)', async () => {
    const hmacKey = 'sdk-test-hmac-key';
    const challenge = await createChallenge({ hmacKey, maxnumber: 20_000 });
    const payload = await solveChallenge(JSON.stringify(challenge));
    expect(await verifySolution(payload, hmacKey)).toBe(true);
    const b64 = Buffer.from(JSON.stringify(challenge)).toString('base64');
    expect(await verifySolution(await solveChallenge(b64), hmacKey)).toBe(true);
    // A tampered answer is refused by the server-side check.
    const forged = JSON.parse(Buffer.from(payload, 'base64').toString());
    forged.number += 1;
    expect(await verifySolution(Buffer.from(JSON.stringify(forged)).toString('base64'), hmacKey)).toBe(false);
  });
});

describe('clients/sdk under PERSISTED_OPERATIONS=only', () => {
  // The manifest `npm run persisted:build` writes: the texts the SDK sends are in it byte for
  // byte (without them every SDK request was refused with PERSISTED_QUERY_ONLY).
  let h: Harness;
  let app: App;
  let url: string;
  const dir = mkdtempSync(join(tmpdir(), 'fs-sdk-persisted-'));
  const clients: FlashSaleClient[] = [];
  beforeAll(async () => {
    h = await harness('embedded');
    const file = join(dir, 'persisted-operations.json');
    writeFileSync(file, JSON.stringify(clientManifest(join(root, 'clients'), { sdk: true }).manifest));
    app = securedApp(h, { PERSISTED_OPERATIONS: 'only', PERSISTED_OPERATIONS_FILE: file }).app;
    url = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}/graphql`;
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await app?.stop();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates, watches, reserves, checks out and pays through the SDK; free text is refused', async () => {
    const adminToken = await h.token('sdk-ops', ['admin']);
    const token = await h.token('sdk-persisted');
    const admin = createFlashSaleClient({ url, getToken: () => adminToken, webSocketImpl: WebSocket });
    const shopper = createFlashSaleClient({ url, getToken: () => token, webSocketImpl: WebSocket });
    clients.push(admin, shopper);
    const product = await admin.createProduct({ id: 'persisted-drop', name: 'Drop', priceAmount: 1500, totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } });
    const stock: number[] = [];
    shopper.onStockChanged(product.id, (inv) => stock.push(inv.availableQuantity));
    await until(() => stock.length > 0, 'the first stock update');
    expect((await shopper.inventory(product.id))?.availableQuantity).toBe(3);
    const r = await shopper.reserve({ productId: product.id });
    if (r.__typename !== 'ReserveSuccess') throw new Error(`reserve: ${r.__typename}`);
    await until(() => stock.includes(2), 'the stock falling to 2');
    const c = await shopper.checkout({ cartId: r.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS });
    if (c.__typename !== 'CheckoutSuccess') throw new Error(`checkout: ${c.__typename}`);
    const paid = await shopper.pay({ orderId: c.order.id, paymentMethod: 'pm_card_visa', amount: c.order.total.amount });
    expect(paid.__typename).toBe('PaySuccess');
    expect((await shopper.order(c.order.id))?.status).toBe('COMPLETED');
    expect(await shopper.cart()).toBeNull();
    // Anything else is still refused, even a query the SDK sends, spelled otherwise.
    const free = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `query Inventory($productId: ID!) { inventory(productId: $productId) { availableQuantity } }`, variables: { productId: product.id } }),
    });
    expect(((await free.json()) as any).errors[0].extensions.code).toBe('PERSISTED_QUERY_ONLY');
  });
});
