// Notifications on both backends: email through a real SMTP server, SMS through the real
// twilio SDK talking to a local HTTP server; the outbox relay with retries and dead letters.
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { contacts, notificationDeliveries } from '../src/adapters/db/schema/notifications.js';
import { outbox } from '../src/adapters/db/schema/tables.js';
import { writeExpiryReminders } from '../src/domain/notifications/events.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, PAY, RESERVE } from './support/harness.js';
import { startSmtp, startTwilio, type TestSmtp, type TestTwilio } from './support/notify-servers.js';

const UPDATE_CONTACT = /* GraphQL */ `
  mutation($input: UpdateContactInput!) {
    updateContact(input: $input) {
      __typename
      ... on ContactSuccess { contact { email phone channels } }
      ... on InvalidInput { code field message }
    }
  }
`;

describe.each(BACKENDS)('notifications on %s', (backend) => {
  let h: Harness;
  let smtp: TestSmtp;
  let twilio: TestTwilio;
  const MAX = 4;
  const tag = backend === 'embedded' ? 'emb' : 'pg';

  beforeAll(async () => {
    smtp = await startSmtp();
    twilio = await startTwilio();
    h = await harness(backend, {
      notifications: {
        smtpUrl: smtp.url,
        twilio: { accountSid: twilio.accountSid, authToken: twilio.authToken, from: twilio.from, apiUrl: twilio.url },
        maxAttempts: MAX,
        retryBaseMs: 1,
        retryMaxMs: 5,
        // Timers never fire: the test runs the worker's passes itself (worker.tick()).
        intervalMs: 3_600_000,
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await smtp?.close();
    await twilio?.close();
  });

  const db = () => h.backend.runtime.deps.db;
  const pending = async () =>
    Number(rowsOf<{ n: number }>(await db().execute(sql`select count(*)::int as n from outbox where status = 'PENDING'`))[0].n);

  /** Runs worker passes until no outbox event is pending (retries are 1-5 ms apart here). */
  async function drain(maxPasses = 100) {
    for (let i = 0; i < maxPasses; i++) {
      await h.worker.tick();
      if ((await pending()) === 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error('outbox did not drain');
  }

  async function shopper(sub: string, contact: { email?: string; phone?: string; channels: string[] }) {
    const t = await h.token(sub);
    const r = await h.gql(UPDATE_CONTACT, { input: contact }, t);
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    expect(r.data.updateContact.__typename).toBe('ContactSuccess');
    return t;
  }

  async function order(token: string, opts: { quantity?: number; price?: number; paymentMethod?: string } = {}) {
    const { id } = await h.product({ priceAmount: opts.price ?? 1999, totalQuantity: 10, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 5 } });
    const r = await h.gql(RESERVE, { input: { productId: id, quantity: opts.quantity ?? 2 } }, token);
    expect(r.data.reserve.__typename).toBe('ReserveSuccess');
    const c = await h.gql(CHECKOUT, { input: { cartId: r.data.reserve.reservation.cartId, paymentMethod: opts.paymentMethod ?? 'pm_card_visa', shippingAddress: ADDRESS } }, token);
    return { productId: id, reservation: r.data.reserve.reservation, checkout: c };
  }

  it('a paid order sends exactly one confirmation per accepted channel, with the order id and total', async () => {
    const email = `buyer-${tag}@example.com`;
    const phone = backend === 'embedded' ? '+14155550101' : '+14155550102';
    const t = await shopper(`buyer-${tag}`, { email, phone, channels: ['EMAIL', 'SMS'] });
    const { checkout } = await order(t, { quantity: 2, price: 1999 });
    const o = checkout.data.checkout.order;
    const p = await h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: 3998 } }, t);
    expect(p.data.pay.__typename).toBe('PaySuccess');
    await drain();
    // Running the worker again sends nothing more.
    await h.worker.tick();

    const mails = smtp.mails.filter((m) => m.to.includes(email));
    const confirmations = mails.filter((m) => m.topic === 'order.completed');
    expect(confirmations).toHaveLength(1);
    expect(confirmations[0].subject).toContain('$39.98');
    expect(confirmations[0].body).toContain(o.id);
    expect(confirmations[0].body).toContain('2 x Limited sneaker');
    expect(confirmations[0].body).toContain('Total: $39.98');
    expect(confirmations[0].body).toContain('<table'); // the HTML part
    expect(mails.filter((m) => m.topic === 'order.placed')).toHaveLength(1);

    const texts = twilio.sms.filter((s) => s.to === phone);
    const smsConfirmations = texts.filter((s) => s.body.includes('confirmed'));
    expect(smsConfirmations).toHaveLength(1);
    expect(smsConfirmations[0].body).toContain(o.id);
    expect(smsConfirmations[0].body).toContain('$39.98');
    expect(smsConfirmations[0].from).toBe(twilio.from);
    expect(texts).toHaveLength(2); // placed + confirmed
    expect(twilio.unauthorized).toBe(0);

    // Per-channel delivery records with the provider's ids; the stable key is the outbox id + channel.
    const [ev] = await db().select().from(outbox).where(and(eq(outbox.aggregateId, o.id), eq(outbox.topic, 'order.completed')));
    expect(ev).toMatchObject({ status: 'DELIVERED', attempts: 1 });
    const deliveries = await db().select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, ev.id));
    expect(deliveries.map((d) => [d.channel, d.status, d.messageKey]).sort()).toEqual([
      ['EMAIL', 'SENT', `${ev.id}.email`],
      ['SMS', 'SENT', `${ev.id}.sms`],
    ]);
    expect(deliveries.find((d) => d.channel === 'EMAIL')!.providerId).toBe(confirmations[0].messageId);
    expect(deliveries.find((d) => d.channel === 'SMS')!.providerId).toBe(smsConfirmations[0].sid);
  });

  it('a shopper whose paid order an operator refunds is told once, by email and SMS, with the amount given back', async () => {
    const email = `refunded-${tag}@example.com`;
    const phone = backend === 'embedded' ? '+14155550111' : '+14155550112';
    const t = await shopper(`refunded-${tag}`, { email, phone, channels: ['EMAIL', 'SMS'] });
    const { checkout } = await order(t, { quantity: 1, price: 2450 });
    const o = checkout.data.checkout.order;
    expect((await h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: 2450 } }, t)).data.pay.__typename).toBe('PaySuccess');
    const REFUND = `mutation($id: ID!) { refundOrder(orderId: $id, reason: "out of stock at the warehouse") { refund { status } } }`;
    const admin = await h.admin();
    for (let i = 0; i < 2; i++) expect((await h.gql(REFUND, { id: o.id }, admin)).data.refundOrder.refund.status).toBe('SUCCEEDED');
    await drain();
    await h.worker.tick();
    const refunded = smtp.mails.filter((m) => m.to.includes(email) && m.topic === 'order.refunded');
    expect(refunded.map((m) => m.subject)).toEqual([`Order ${o.id.slice(0, 8)} cancelled: $24.50 refunded`]);
    expect(refunded[0].body).toContain('1 x Limited sneaker');
    expect(refunded[0].body).toContain('is being refunded');
    const sms = twilio.sms.filter((s) => s.to === phone && s.body.includes('refunded'));
    expect(sms).toHaveLength(1);
    expect(sms[0].body).toMatch(new RegExp(`^flashsale: order ${o.id} was cancelled; \\$24\\.50 is being refunded to how you paid\\.`));
  });

  it('a shopper whose hold is taken back because the sale was called off is told that, not that it expired', async () => {
    const email = `called-off-${tag}@example.com`;
    const t = await shopper(`called-off-${tag}`, { email, channels: ['EMAIL'] });
    const { productId, checkout } = await order(t, { quantity: 1, price: 990 });
    const o = checkout.data.checkout.order;
    const fan = `called-off-fan-${tag}@example.com`;
    const f = await shopper(`called-off-fan-${tag}`, { email: fan, channels: ['EMAIL'] });
    expect((await h.gql(`mutation($id: ID!) { followProduct(productId: $id) { __typename } }`, { id: productId }, f)).data.followProduct.__typename).toBe('FollowSuccess');
    const CANCEL = `mutation($id: ID!) { cancelSale(productId: $id, reason: "wrong price", refundPaidOrders: true) { holdsRevoked } }`;
    expect((await h.gql(CANCEL, { id: productId }, await h.admin())).data.cancelSale.holdsRevoked).toBe(1);
    expect((await h.gql(CANCEL, { id: productId }, await h.admin())).data.cancelSale.holdsRevoked).toBe(0); // a repeat tells nobody again
    await drain();
    // Its followers are told once.
    const told = smtp.mails.filter((m) => m.to.includes(fan));
    expect(told.map((m) => [m.topic, m.subject])).toEqual([['product.sale_cancelled', 'The sale of Limited sneaker was called off']]);
    expect(told[0].body).not.toContain('wrong price');
    const got = smtp.mails.filter((m) => m.to.includes(email) && m.topic === 'reservation.expired');
    expect(got.map((m) => m.subject)).toEqual(['The sale of Limited sneaker was called off']);
    expect(got[0].body).toContain(`The shop called off the sale of Limited sneaker, so your hold on 1 x Limited sneaker was released. Order ${o.id} was cancelled; nothing was charged.`);
    expect(got[0].body).not.toContain('wrong price'); // the operator's reason is not the shopper's business
  });

  it('sends only on the channels a shopper accepts, and nothing to a shopper without contact details', async () => {
    const email = `email-only-${tag}@example.com`;
    const t = await shopper(`email-only-${tag}`, { email, phone: '+14155550199', channels: ['EMAIL'] });
    await order(t, { quantity: 1 });
    const silent = await h.token(`silent-${tag}`);
    const { checkout } = await order(silent, { quantity: 1 });
    await drain();
    expect(smtp.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
    expect(twilio.sms.filter((s) => s.to === '+14155550199')).toHaveLength(0);
    const [ev] = await db().select().from(outbox).where(eq(outbox.aggregateId, checkout.data.checkout.order.id));
    expect(ev.status).toBe('DELIVERED');
  });

  it('after a crash mid-send, an SMS Twilio already accepted is found by its reference, not sent again', async () => {
    const phone = backend === 'embedded' ? '+14155550161' : '+14155550162';
    const t = await shopper(`crashy-sms-${tag}`, { phone, channels: ['SMS'] });
    const { checkout } = await order(t, { quantity: 1 });
    await drain();
    expect(twilio.sms.filter((s) => s.to === phone)).toHaveLength(1);
    const [ev] = await db().select().from(outbox).where(eq(outbox.aggregateId, checkout.data.checkout.order.id));
    // The state a worker leaves when it dies after Twilio accepted the message but before it
    // recorded SENT: the delivery SENDING, the event still pending.
    await db().update(notificationDeliveries).set({ status: 'SENDING', providerId: null }).where(eq(notificationDeliveries.outboxId, ev.id));
    await db().update(outbox).set({ status: 'PENDING', nextAttemptAt: new Date(0) }).where(eq(outbox.id, ev.id));
    await drain();
    expect(twilio.sms.filter((s) => s.to === phone)).toHaveLength(1);
    const [d] = await db().select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, ev.id));
    expect(d).toMatchObject({ status: 'SENT', providerId: twilio.sms.find((s) => s.to === phone)!.sid });
  });

  it('updateContact refuses a bad email or phone with a typed error, changes nothing, and stores details encrypted', async () => {
    const email = `private-${tag}@example.com`;
    const t = await shopper(`private-${tag}`, { email, phone: '+447700900123', channels: ['EMAIL', 'SMS'] });
    const bad = [
      [{ email: 'not-an-email', channels: ['EMAIL'] }, 'email'],
      [{ email, phone: '0044 7700 900123', channels: ['EMAIL'] }, 'phone'],
      [{ email, phone: '+0123456', channels: ['SMS'] }, 'phone'],
      [{ email, channels: ['EMAIL', 'SMS'] }, 'phone'],
      [{ channels: ['EMAIL'] }, 'email'],
    ] as const;
    for (const [input, field] of bad) {
      const r = await h.gql(UPDATE_CONTACT, { input }, t);
      expect(r.data.updateContact).toMatchObject({ __typename: 'InvalidInput', code: 'INVALID_INPUT', field });
    }
    const mine = await h.gql(`{ myContact { email phone channels } }`, {}, t);
    expect(mine.data.myContact).toEqual({ email, phone: '+447700900123', channels: ['EMAIL', 'SMS'] });
    const [row] = await db().select().from(contacts).where(eq(contacts.userId, `private-${tag}`));
    expect(row.emailSealed).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain('example.com');
    expect(JSON.stringify(row)).not.toContain('7700900123');
    // Anonymous callers are refused.
    const anon = await h.gql(`{ myContact { email } }`);
    expect(anon.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('SMTP refusing twice then accepting: delivered once, attempts = 3', async () => {
    const email = `flaky-${tag}@example.com`;
    smtp.set({ refuse: (rcpt, n) => (rcpt === email && n <= 2 ? 451 : undefined) });
    try {
      const t = await shopper(`flaky-${tag}`, { email, channels: ['EMAIL'] });
      const { checkout } = await order(t, { quantity: 1 });
      await drain();
      expect(smtp.offers.get(email)).toBe(3);
      expect(smtp.mails.filter((m) => m.to.includes(email))).toHaveLength(1);
      const [ev] = await db().select().from(outbox).where(eq(outbox.aggregateId, checkout.data.checkout.order.id));
      expect(ev).toMatchObject({ status: 'DELIVERED', attempts: 3 });
      const [d] = await db().select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, ev.id));
      expect(d).toMatchObject({ status: 'SENT', attempts: 3 });
    } finally {
      smtp.set({});
    }
  });

  it("an order's messages arrive in the order they were written, even when the first is retried: none overtakes it", async () => {
    const email = `inorder-${tag}@example.com`;
    const t = await shopper(`inorder-${tag}`, { email, channels: ['EMAIL'] });
    // The first offer to this address is refused (the order-received mail); later ones are taken.
    smtp.set({ refuse: (rcpt, n) => (rcpt === email && n === 1 ? 451 : undefined) });
    try {
      const { checkout } = await order(t, { quantity: 1, price: 700 });
      const o = checkout.data.checkout.order;
      const paid = await h.gql(PAY, { input: { orderId: o.id, paymentMethod: 'pm_card_visa', amount: o.total.amount } }, t);
      expect(paid.data.pay.__typename).toBe('PaySuccess');
      // Both events wait in the outbox; the first pass finds the received mail refused.
      await drain();
      expect(smtp.offers.get(email)).toBe(3);
      expect(smtp.mails.filter((m) => m.to.includes(email)).map((m) => m.subject.split(':')[0])).toEqual(['Order received', 'Order confirmed']);
      const events = await db().select().from(outbox).where(eq(outbox.aggregateId, o.id));
      expect(events.map((e) => [e.topic, e.status, e.attempts]).sort()).toEqual([
        ['order.completed', 'DELIVERED', 1],
        ['order.placed', 'DELIVERED', 2],
      ]);
    } finally {
      smtp.set({});
    }
  });

  it('SMTP always refusing: a dead letter after the maximum, other messages unaffected, replayable by an operator', async () => {
    const doomed = `doomed-${tag}@example.com`;
    const fine = `fine-${tag}@example.com`;
    smtp.set({ refuse: (rcpt) => (rcpt === doomed ? 550 : undefined) });
    const t1 = await shopper(`doomed-${tag}`, { email: doomed, channels: ['EMAIL'] });
    const t2 = await shopper(`fine-${tag}`, { email: fine, channels: ['EMAIL'] });
    const a = await order(t1, { quantity: 1 });
    const b = await order(t2, { quantity: 1 });
    await drain();
    expect(smtp.offers.get(doomed)).toBe(MAX);
    expect(smtp.mails.filter((m) => m.to.includes(doomed))).toHaveLength(0);
    expect(smtp.mails.filter((m) => m.to.includes(fine))).toHaveLength(1);
    const [dead] = await db().select().from(outbox).where(eq(outbox.aggregateId, a.checkout.data.checkout.order.id));
    expect(dead).toMatchObject({ status: 'DEAD', attempts: MAX });
    expect(dead.lastError).toContain('550');
    const [ok] = await db().select().from(outbox).where(eq(outbox.aggregateId, b.checkout.data.checkout.order.id));
    expect(ok).toMatchObject({ status: 'DELIVERED', attempts: 1 });

    // The operator lists it...
    const DEAD = `{ deadLetters { id topic aggregateId attempts lastError status deliveries { channel status attempts lastError } } }`;
    const shopperList = await h.gql(DEAD, {}, t1);
    expect(shopperList.errors?.[0].extensions.code).toBe('FORBIDDEN');
    const list = await h.gql(DEAD, {}, await h.admin());
    const mine = list.data.deadLetters.find((d: { id: string }) => d.id === dead.id);
    expect(mine).toMatchObject({ topic: 'order.placed', status: 'DEAD', attempts: MAX, deliveries: [{ channel: 'EMAIL', status: 'FAILED', attempts: MAX }] });
    // ...fixes the cause and replays it.
    smtp.set({});
    const REPLAY = `mutation($id: ID!) { replayDeadLetter(id: $id) { __typename ... on ReplaySuccess { event { id status attempts } } ... on Error { code } } }`;
    const r = await h.gql(REPLAY, { id: dead.id }, await h.admin());
    expect(r.data.replayDeadLetter).toEqual({ __typename: 'ReplaySuccess', event: { id: dead.id, status: 'PENDING', attempts: 0 } });
    await drain();
    expect(smtp.mails.filter((m) => m.to.includes(doomed))).toHaveLength(1);
    const again = await h.gql(REPLAY, { id: dead.id }, await h.admin());
    expect(again.data.replayDeadLetter).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
  });

  it('a rolled-back order writes no outbox row', async () => {
    // A deferred trigger refuses the order at COMMIT, after checkout wrote its outbox row.
    await db().execute(sql`
      create or replace function fs_test_refuse_order() returns trigger language plpgsql as $$
      begin
        if new.payment_method = 'pm_rollback_test' then raise exception 'refused by the test at commit'; end if;
        return new;
      end $$`);
    await db().execute(sql`
      create constraint trigger fs_test_refuse_order after insert on orders
      deferrable initially deferred for each row execute function fs_test_refuse_order()`);
    const sub = `rollback-${tag}`;
    const t = await shopper(sub, { email: `${sub}@example.com`, channels: ['EMAIL'] });
    const { reservation, checkout } = await order(t, { quantity: 1, paymentMethod: 'pm_rollback_test' });
    expect(checkout.errors?.length).toBeGreaterThan(0);
    const rows = await db().select().from(outbox).where(eq(outbox.userId, sub));
    expect(rows).toEqual([]);
    const orders = rowsOf(await db().execute(sql`select id from orders where user_id = ${sub}`));
    expect(orders).toEqual([]);
    const [r] = rowsOf<{ status: string }>(await db().execute(sql`select status from reservations where id = ${reservation.id}`));
    expect(r.status).toBe('ACTIVE');
  });

  it('followers hear when a product sells out; the event is written in the reserve that took the last unit', async () => {
    const follower = `follower-${tag}@example.com`;
    const tf = await shopper(`follower-${tag}`, { email: follower, phone: '+14155550142', channels: ['EMAIL', 'SMS'] });
    const { id } = await h.product({ name: 'Rare vinyl', totalQuantity: 2, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2 } });
    const FOLLOW = `mutation($id: ID!) { followProduct(productId: $id) { __typename ... on FollowSuccess { following product { id } } ... on Error { code } } }`;
    expect((await h.gql(FOLLOW, { id }, tf)).data.followProduct).toEqual({ __typename: 'FollowSuccess', following: true, product: { id } });
    expect((await h.gql(FOLLOW, { id }, tf)).data.followProduct.__typename).toBe('FollowSuccess'); // twice is harmless
    expect((await h.gql(FOLLOW, { id: 'no-such-product' }, tf)).data.followProduct).toEqual({ __typename: 'NotFound', code: 'NOT_FOUND' });
    // A second follower who changes their mind.
    const tg = await shopper(`fickle-${tag}`, { email: `fickle-${tag}@example.com`, channels: ['EMAIL'] });
    await h.gql(FOLLOW, { id }, tg);
    const un = await h.gql(`mutation($id: ID!) { unfollowProduct(productId: $id) { __typename ... on FollowSuccess { following } } }`, { id }, tg);
    expect(un.data.unfollowProduct).toEqual({ __typename: 'FollowSuccess', following: false });

    const buyer = await h.token(`sellout-buyer-${tag}`);
    expect((await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, buyer)).data.reserve.__typename).toBe('ReserveSuccess');
    expect(await db().select().from(outbox).where(eq(outbox.aggregateId, id))).toEqual([]);
    expect((await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, buyer)).data.reserve.__typename).toBe('ReserveSuccess');
    const events = await db().select().from(outbox).where(eq(outbox.aggregateId, id));
    expect(events.map((e) => e.topic)).toEqual(['product.sold_out']);
    await drain();
    const got = smtp.mails.filter((m) => m.to.includes(follower));
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('Rare vinyl is sold out');
    expect(twilio.sms.filter((s) => s.to === '+14155550142' && s.body.includes('sold out'))).toHaveLength(1);
    expect(smtp.mails.filter((m) => m.to.includes(`fickle-${tag}@example.com`))).toHaveLength(0);
  });

  it('followers hear when an operator restocks a product that had sold out, and only then', async () => {
    const email = `restock-${tag}@example.com`;
    const t = await shopper(`restock-${tag}`, { email, channels: ['EMAIL'] });
    const { id } = await h.product({ name: 'Restocked tee', totalQuantity: 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1 } });
    expect((await h.gql(`mutation($id: ID!) { followProduct(productId: $id) { __typename } }`, { id }, t)).data.followProduct.__typename).toBe('FollowSuccess');
    const SET = `mutation($id: ID!, $n: Int!) { setStock(productId: $id, totalQuantity: $n) { inventory { availableQuantity } } }`;
    const admin = await h.admin();
    const topics = async () => (await db().select().from(outbox).where(eq(outbox.aggregateId, id))).map((e) => e.topic);
    // A restock while units are left tells nobody.
    expect((await h.gql(SET, { id, n: 2 }, admin)).data.setStock.inventory.availableQuantity).toBe(2);
    expect(await topics()).toEqual([]);
    // Sold out, then restocked: back in stock.
    expect((await h.gql(SET, { id, n: 0 }, admin)).data.setStock.inventory.availableQuantity).toBe(0);
    expect((await h.gql(SET, { id, n: 3 }, admin)).data.setStock.inventory.availableQuantity).toBe(3);
    expect(await topics()).toEqual(['product.sold_out', 'product.back_in_stock']);
    await drain();
    // One relay pass delivers both, a product's events in the order they were written.
    expect(smtp.mails.filter((m) => m.to.includes(email)).map((m) => m.subject)).toEqual(['Restocked tee is sold out', 'Restocked tee is back in stock']);
  });

  it("a broadcast retried for one follower's failing address does not hold the next news from the others", async () => {
    const good = `good-follower-${tag}@example.com`;
    const bad = `bad-follower-${tag}@example.com`;
    const tg = await shopper(`good-follower-${tag}`, { email: good, channels: ['EMAIL'] });
    const tb = await shopper(`bad-follower-${tag}`, { email: bad, channels: ['EMAIL'] });
    const { id } = await h.product({ name: 'Busy tee', totalQuantity: 1, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1 } });
    for (const t of [tg, tb]) await h.gql(`mutation($id: ID!) { followProduct(productId: $id) { __typename } }`, { id }, t);
    smtp.set({ refuse: (rcpt) => (rcpt === bad ? 451 : undefined) });
    try {
      const SET = `mutation($id: ID!, $n: Int!) { setStock(productId: $id, totalQuantity: $n) { id } }`;
      const admin = await h.admin();
      await h.gql(SET, { id, n: 0 }, admin);
      await h.gql(SET, { id, n: 3 }, admin);
      // One pass: "sold out" stays pending for the failing address, and "back in stock" goes out anyway.
      await h.worker.tick();
      expect(smtp.mails.filter((m) => m.to.includes(good)).map((m) => m.subject)).toEqual(['Busy tee is sold out', 'Busy tee is back in stock']);
      const events = await db().select().from(outbox).where(eq(outbox.aggregateId, id));
      expect(Object.fromEntries(events.map((e) => [e.topic, e.status]))).toEqual({ 'product.sold_out': 'PENDING', 'product.back_in_stock': 'PENDING' });
      expect(smtp.mails.filter((m) => m.to.includes(bad))).toHaveLength(0);
    } finally {
      smtp.set({});
    }
    await drain();
  });

  it('followers hear once when a sale they follow starts', async () => {
    const email = `early-bird-${tag}@example.com`;
    const t = await shopper(`early-bird-${tag}`, { email, channels: ['EMAIL'] });
    const startsAt = new Date(Date.now() + 1500);
    const { id } = await h.product({ name: 'Midnight drop', totalQuantity: 5, sale: { startsAt: startsAt.toISOString() } });
    const f = await h.gql(`mutation($id: ID!) { followProduct(productId: $id) { __typename } }`, { id }, t);
    expect(f.data.followProduct.__typename).toBe('FollowSuccess');
    await drain();
    expect(smtp.mails.filter((m) => m.to.includes(email))).toHaveLength(0);
    await new Promise((r) => setTimeout(r, Math.max(0, startsAt.getTime() - Date.now() + 50)));
    await drain();
    await h.worker.tick();
    await drain();
    const got = smtp.mails.filter((m) => m.to.includes(email));
    expect(got.map((m) => m.subject)).toEqual(['The sale of Midnight drop has started']);
  });

  it('followers hear when a sale they follow is rescheduled: the new window, once per change, none for a repeat or a start moved to now', async () => {
    const email = `moved-${tag}@example.com`;
    const t = await shopper(`moved-${tag}`, { email, phone: '+14155550177', channels: ['EMAIL', 'SMS'] });
    const { id } = await h.product({ name: 'Moved drop', totalQuantity: 5, sale: { startsAt: new Date(Date.now() + 3_600_000).toISOString() } });
    expect((await h.gql(`mutation($id: ID!) { followProduct(productId: $id) { __typename } }`, { id }, t)).data.followProduct.__typename).toBe('FollowSuccess');
    const admin = await h.admin();
    const RESCHEDULE = `mutation($id: ID!, $s: DateTime!, $e: DateTime) { rescheduleSale(productId: $id, startsAt: $s, endsAt: $e) { sale { startsAt state } } }`;
    const topics = async () => (await db().select().from(outbox).where(eq(outbox.aggregateId, id))).map((e) => e.topic);

    // Postponed, then the same call again (a repeat writes nothing).
    const startsAt = '2099-06-01T18:00:00Z';
    const endsAt = '2099-06-01T20:00:00Z';
    for (let i = 0; i < 2; i++) expect((await h.gql(RESCHEDULE, { id, s: startsAt, e: endsAt }, admin)).errors).toBeUndefined();
    expect(await topics()).toEqual(['product.sale_rescheduled']);
    await drain();
    const got = smtp.mails.filter((m) => m.to.includes(email));
    expect(got.map((m) => m.subject)).toEqual(['The sale of Moved drop has moved']);
    expect(got[0].body).toContain('The sale of Moved drop now starts at 2099-06-01T18:00:00Z and ends at 2099-06-01T20:00:00Z.');
    const sms = twilio.sms.filter((m) => m.to === '+14155550177');
    expect(sms).toHaveLength(1);
    expect(sms[0].body).toMatch(/^flashsale: the sale of Moved drop now starts at 2099-06-01T18:00:00Z and ends at 2099-06-01T20:00:00Z\./);

    // Brought forward to open now: no "moved" message; the start notice says it has started.
    const opened = await h.gql(RESCHEDULE, { id, s: new Date().toISOString(), e: null }, admin);
    expect(opened.data.rescheduleSale.sale.state).toBe('LIVE');
    expect(await topics()).toEqual(['product.sale_rescheduled']);
    await h.worker.tick();
    await drain();
    // An open sale given an end: followers hear the new end.
    const { startsAt: openedAt } = opened.data.rescheduleSale.sale;
    expect((await h.gql(RESCHEDULE, { id, s: openedAt, e: endsAt }, admin)).errors).toBeUndefined();
    await drain();
    expect(smtp.mails.filter((m) => m.to.includes(email)).map((m) => m.subject)).toEqual([
      'The sale of Moved drop has moved',
      'The sale of Moved drop has started',
      'The sale of Moved drop has a new end',
    ]);
    expect(smtp.mails.filter((m) => m.to.includes(email)).at(-1)!.body).toContain('The sale of Moved drop is open and now ends at 2099-06-01T20:00:00Z.');
  });

  it('reminds a shopper once before a hold expires, however many passes run', async () => {
    const email = `reminded-${tag}@example.com`;
    const t = await shopper(`reminded-${tag}`, { email, channels: ['EMAIL'] });
    // A 30 s hold is inside the default 60 s reminder window from the start.
    const { id } = await h.product({ name: 'Quick hold', totalQuantity: 5, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), reservationTtlSeconds: 30 } });
    const r = await h.gql(RESERVE, { input: { productId: id, quantity: 1 } }, t);
    const resId = r.data.reserve.reservation.id;
    const deps = h.backend.runtime.deps;
    await Promise.all([writeExpiryReminders(deps, 60), writeExpiryReminders(deps, 60), writeExpiryReminders(deps, 60)]);
    await h.worker.tick();
    await h.worker.tick();
    const rows = await db().select().from(outbox).where(and(eq(outbox.aggregateId, resId), eq(outbox.topic, 'reservation.expiring')));
    expect(rows).toHaveLength(1);
    await drain();
    const got = smtp.mails.filter((m) => m.to.includes(email));
    expect(got).toHaveLength(1);
    expect(got[0].subject).toBe('Your hold on Quick hold expires soon');
    // The time to the second, as every message writes it (a hold's expiry has milliseconds).
    expect(got[0].body).toMatch(/You are holding 1 x Quick hold until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\./);
  });
});
