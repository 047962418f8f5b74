// Live updates served from memory: inventory reads, countdown ticks, expiry and order status pushed, coalescing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';
import { collect, COUNTDOWN, ORDER, STOCK, wsClient } from './support/live.js';
import { waitFor as waitUntil } from './support/servers.js';

const waitFor = (cond: () => boolean) => waitUntil(cond, 'the subscribers to see it', 20_000, 25);

describe('reads and countdowns from memory (embedded)', () => {
  let h: Harness;
  let port: number;
  beforeAll(async () => {
    h = await harness('embedded');
    port = await h.app.start(0, '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const queries = () => h.backend.runtime.database.queryCount();

  it('serves inventory and product.inventory from the in-memory copy, one event fresh', async () => {
    const { id } = await h.product({ totalQuantity: 10 });
    const INV = `query($id: ID!) { inventory(productId: $id) { availableQuantity reservedQuantity soldOut } }`;
    await h.gql(INV, { id });
    const before = queries();
    for (let i = 0; i < 25; i++) {
      expect((await h.gql(INV, { id })).data.inventory).toEqual({ availableQuantity: 10, reservedQuantity: 0, soldOut: false });
    }
    expect(queries()).toBe(before);
    // product(id) reads the product row once (then the catalogue has it); its inventory adds nothing.
    await h.gql(`query($id: ID!) { product(id: $id) { id } }`, { id });
    const mid = queries();
    const p = await h.gql(`query($id: ID!) { product(id: $id) { id inventory { availableQuantity } sale { state } } }`, { id });
    expect(p.data.product.inventory.availableQuantity).toBe(10);
    expect(queries()).toBe(mid);
    // The copy moves with every change.
    expect((await h.gql(RESERVE, { input: { productId: id } }, await h.token('mem-1'))).data.reserve.__typename).toBe('ReserveSuccess');
    expect((await h.gql(INV, { id })).data.inventory.availableQuantity).toBe(9);
  });

  it("answers a product's catalogue fields from memory (a winner's reserve, order lines), with the current stock", async () => {
    const { id } = await h.product({ totalQuantity: 10, name: 'Catalogued' });
    const BARE = `mutation($input: ReserveInput!) { reserve(input: $input) { __typename } }`;
    const WITH = `mutation($input: ReserveInput!) { reserve(input: $input) { ... on ReserveSuccess { reservation { product { id name price { amount currency } sale { state } inventory { availableQuantity } } } } } }`;
    // Warm both documents (and the catalogue) first.
    await h.gql(BARE, { input: { productId: id } }, await h.token('cat-0'));
    await h.gql(WITH, { input: { productId: id } }, await h.token('cat-1'));
    let mark = queries();
    await h.gql(BARE, { input: { productId: id } }, await h.token('cat-2'));
    const bare = queries() - mark;
    mark = queries();
    const won = await h.gql(WITH, { input: { productId: id } }, await h.token('cat-3'));
    expect(queries() - mark).toBe(bare);
    expect(won.data.reserve.reservation.product).toEqual({ id, name: 'Catalogued', price: { amount: expect.any(Number), currency: 'USD' }, sale: { state: 'LIVE' }, inventory: { availableQuantity: 6 } });
    // The product query too, and its stock is the latest.
    mark = queries();
    const p = await h.gql(`query($id: ID!) { product(id: $id) { name inventory { availableQuantity reservedQuantity } } }`, { id });
    expect(queries()).toBe(mark);
    expect(p.data.product).toEqual({ name: 'Catalogued', inventory: { availableQuantity: 6, reservedQuantity: 4 } });
    // An order line's product comes from the same catalogue.
    const tok = await h.token('cat-4');
    const r = (await h.gql(RESERVE, { input: { productId: id } }, tok)).data.reserve.reservation;
    const ITEMS = `mutation($input: CheckoutInput!) { checkout(input: $input) { ... on CheckoutSuccess { order { items { product { id name } } } } } }`;
    const c = await h.gql(ITEMS, { input: { cartId: r.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, tok);
    expect(c.data.checkout.order.items).toEqual([{ product: { id, name: 'Catalogued' } }]);
  });

  it('counts a reservation down every second without querying Postgres, and ends on RELEASED', async () => {
    const { id } = await h.product({ totalQuantity: 5 });
    const tok = await h.token('count-1');
    const r = (await h.gql(RESERVE, { input: { productId: id } }, tok)).data.reserve.reservation;
    const client = wsClient(port, tok);
    const subs = Array.from({ length: 5 }, () =>
      collect<{ reservationCountdown: { secondsLeft: number; reservation: { status: string } } }>(client, COUNTDOWN, { id: r.id }),
    );
    await Promise.all(subs.map((s) => s.until(() => true)));
    const before = queries();
    const seen = subs.map((s) => s.values.length);
    await Promise.all(subs.map((s, i) => waitFor(() => s.values.length >= seen[i] + 3)));
    expect(queries()).toBe(before);
    const left = subs[0].values.map((v) => v.reservationCountdown.secondsLeft);
    for (let i = 1; i < left.length; i++) expect(left[i]).toBeLessThanOrEqual(left[i - 1]);
    expect(left[0]).toBeGreaterThan(290);

    await h.gql(`mutation($id: ID!) { releaseReservation(id: $id) { __typename } }`, { id: r.id }, tok);
    for (const s of subs) {
      expect(await s.done).toBe('complete');
      expect(s.values.at(-1)!.reservationCountdown).toEqual({ secondsLeft: 0, reservation: { id: r.id, status: 'RELEASED' } });
    }
    await client.dispose();
  });

  it('pushes expiry: the countdown ends EXPIRED and the ticker goes back up', async () => {
    const { id } = await h.product({ totalQuantity: 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), reservationTtlSeconds: 1 } });
    const tok = await h.token('exp-1');
    const r = (await h.gql(RESERVE, { input: { productId: id } }, tok)).data.reserve.reservation;
    const client = wsClient(port, tok);
    const stock = collect<{ stockChanged: { availableQuantity: number; soldOut: boolean } }>(client, STOCK, { id });
    const countdown = collect<{ reservationCountdown: { secondsLeft: number; reservation: { status: string } } }>(client, COUNTDOWN, { id: r.id });
    await stock.until((v) => v.stockChanged.soldOut);
    await countdown.until((v) => v.reservationCountdown.secondsLeft === 0);
    await new Promise((res) => setTimeout(res, 1100));
    await h.worker.tick();
    expect(await countdown.done).toBe('complete');
    expect(countdown.values.at(-1)!.reservationCountdown.reservation.status).toBe('EXPIRED');
    await stock.until((v) => v.stockChanged.availableQuantity === 1 && !v.stockChanged.soldOut);
    await client.dispose();
  });

  it('pushes order status: PENDING now, COMPLETED after payment, CANCELLED when an operator refunds it, then completes', async () => {
    const { id } = await h.product({ totalQuantity: 2, priceAmount: 2500 });
    const tok = await h.token('payer-1');
    const r = (await h.gql(RESERVE, { input: { productId: id } }, tok)).data.reserve.reservation;
    const order = (await h.gql(CHECKOUT, { input: { cartId: r.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, tok)).data.checkout.order;
    const client = wsClient(port, tok);
    const sub = collect<{ orderStatusChanged: { id: string; status: string } }>(client, ORDER, { id: order.id });
    expect((await sub.until(() => true)).orderStatusChanged.status).toBe('PENDING');
    const paid = await h.gql(PAY, { input: { orderId: order.id, paymentMethod: 'pm_card_visa', amount: 2500 } }, tok);
    expect(paid.data.pay.__typename).toBe('PaySuccess');
    await sub.until((v) => v.orderStatusChanged.status === 'COMPLETED');
    // Paid is not the end: a refund cancels the order, and the stream ends there.
    const refunded = await h.gql(`mutation($id: ID!) { refundOrder(orderId: $id, reason: "return") { order { status } } }`, { id: order.id }, await h.admin());
    expect(refunded.data.refundOrder.order.status).toBe('CANCELLED');
    expect(await sub.done).toBe('complete');
    expect(sub.values.map((v) => v.orderStatusChanged.status)).toEqual(['PENDING', 'COMPLETED', 'CANCELLED']);
    await client.dispose();
  });

  it('coalesces a burst: the ticker skips steps but never goes back and ends on the latest count', async () => {
    const { id } = await h.product({ totalQuantity: 60 });
    const client = wsClient(port);
    const sub = collect<{ stockChanged: { availableQuantity: number } }>(client, STOCK, { id });
    await sub.until(() => true);
    const tokens = await Promise.all(Array.from({ length: 60 }, (_, i) => h.token(`burst-${i}`)));
    await Promise.all(tokens.map((t) => h.gql(RESERVE, { input: { productId: id } }, t)));
    await sub.until((v) => v.stockChanged.availableQuantity === 0);
    const seen = sub.values.map((v) => v.stockChanged.availableQuantity);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThan(seen[i - 1]);
    // 60 changes, far fewer pushes (at most one per 100 ms, plus the first value).
    expect(seen.length).toBeLessThan(61);
    await client.dispose();
  });
});
