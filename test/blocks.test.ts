// Operators block shoppers (bots found after the fact): their holds go back on sale at once, their
// unpaid orders are cancelled, and their later reserves are refused, in every api process.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { BLOCKS_REFRESH_MS } from '../src/domain/blocks.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';
import { waitFor } from './support/servers.js';

const BLOCK = /* GraphQL */ `mutation($ids: [ID!]!, $reason: String!) { blockShoppers(userIds: $ids, reason: $reason) { blocked holdsRevoked } }`;
const UNBLOCK = /* GraphQL */ `mutation($ids: [ID!]!) { unblockShoppers(userIds: $ids) { unblocked } }`;
const LIST = /* GraphQL */ `query($after: ID) { blockedShoppers(first: 500, after: $after) { userId reason blockedBy blockedAt } }`;

describe.each(BACKENDS)('blockShoppers on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(backend);
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');

  it("takes a bot's holds back at once, cancels its unpaid order, and refuses its reserves (GraphQL and REST); others go on", async () => {
    const bot = `bot-${tag}`;
    const botToken = await h.token(bot);
    const drop = await h.product({ totalQuantity: 2, sale: { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 2 } });
    const other = await h.product({ totalQuantity: 5 });
    // The bot holds the whole drop (sold out) and has checked out another product.
    expect((await h.gql(RESERVE, { input: { productId: drop.id, quantity: 2 } }, botToken)).data.reserve.__typename).toBe('ReserveSuccess');
    const held = await h.gql(RESERVE, { input: { productId: other.id } }, botToken);
    const co = await h.gql(CHECKOUT, { input: { cartId: held.data.reserve.reservation.cartId, paymentMethod: 'pm_card_visa', shippingAddress: ADDRESS } }, botToken);
    expect(co.data.checkout.__typename).toBe('CheckoutSuccess');
    const human = await h.token(`human-${tag}`);
    expect((await h.gql(RESERVE, { input: { productId: drop.id } }, human)).data.reserve.__typename).toBe('SoldOut');

    const out = await h.gql(BLOCK, { ids: [bot], reason: 'bot: 40 accounts on one card' }, await h.admin());
    expect(out.errors).toBeUndefined();
    // Two reservations: the drop's hold and the checked-out one.
    expect(out.data.blockShoppers).toEqual({ blocked: 1, holdsRevoked: 2 });
    // The units are on sale again at once (gate and sold-out flag included): a human gets them.
    expect(await h.ledger(drop.id)).toEqual({ total: 2, available: 2, reserved: 0, sold: 0 });
    expect((await h.gql(RESERVE, { input: { productId: drop.id } }, human)).data.reserve.__typename).toBe('ReserveSuccess');
    expect(await h.ledger(other.id)).toEqual({ total: 5, available: 5, reserved: 0, sold: 0 });
    const order = await h.gql(`query($id: ID!) { order(id: $id) { status } }`, { id: co.data.checkout.order.id }, botToken);
    expect(order.data.order.status).toBe('CANCELLED');

    // The bot's reserves are refused before anything else, with a clear error.
    const again = await h.gql(RESERVE, { input: { productId: other.id } }, botToken);
    expect(again.errors?.[0]).toMatchObject({ message: expect.stringMatching(/blocked by the operator/), extensions: { code: 'FORBIDDEN' } });
    const rest = await h.app.fetch('http://test/reserve-inventory', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${botToken}` },
      body: JSON.stringify({ product_id: other.id, quantity: 1 }),
    });
    expect(rest.status).toBe(403);
    expect((await rest.json()).error.code).toBe('FORBIDDEN');
    expect(await h.ledger(other.id)).toEqual({ total: 5, available: 5, reserved: 0, sold: 0 });
    // The shopper's own data export says so.
    const exported = JSON.parse((await h.gql('{ exportMyData }', {}, botToken)).data.exportMyData);
    expect(exported.data.blocks).toEqual({ blocked: true, reason: 'bot: 40 accounts on one card', blockedAt: expect.any(String) });

    // Listed with who and why; blocking again changes nothing; unblocked, it may reserve again.
    const listed = await h.gql(LIST, {}, await h.admin());
    expect(listed.errors).toBeUndefined();
    const list = listed.data.blockedShoppers;
    expect(list).toContainEqual({ userId: bot, reason: 'bot: 40 accounts on one card', blockedBy: 'operator', blockedAt: expect.any(String) });
    expect((await h.gql(BLOCK, { ids: [bot, bot], reason: 'again' }, await h.admin())).data.blockShoppers).toEqual({ blocked: 0, holdsRevoked: 0 });
    expect((await h.gql(UNBLOCK, { ids: [bot] }, await h.admin())).data.unblockShoppers).toEqual({ unblocked: 1 });
    expect((await h.gql(RESERVE, { input: { productId: other.id } }, botToken)).data.reserve.__typename).toBe('ReserveSuccess');
    const audited = rowsOf<{ action: string }>(
      await h.backend.runtime.deps.db.execute(sql`select action from audit_log where action in ('mutation.blockShoppers', 'mutation.unblockShoppers') and actor = 'operator'`),
    );
    expect(audited.length).toBeGreaterThanOrEqual(3);
  });

  it('is for operators only and refuses bad input; nothing changes', async () => {
    const admin = await h.admin();
    const shopper = await h.token(`nosy-${tag}`);
    expect((await h.gql(BLOCK, { ids: ['someone'], reason: 'x' }, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(LIST, {}, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    const refused = async (vars: Record<string, unknown>, field: string) => {
      const r = await h.gql(BLOCK, vars, admin);
      expect(r.errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field });
    };
    await refused({ ids: [], reason: 'bot' }, 'userIds');
    await refused({ ids: Array.from({ length: 1001 }, (_, i) => `b${i}`), reason: 'bot' }, 'userIds');
    await refused({ ids: ['x'.repeat(201)], reason: 'bot' }, 'userIds');
    await refused({ ids: [`never-${tag}`], reason: '  ' }, 'reason');
    expect((await h.gql(LIST, {}, admin)).data.blockedShoppers.map((b: { userId: string }) => b.userId)).not.toContain(`never-${tag}`);
  });
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('blockShoppers across processes (Postgres + Redis)', () => {
  it('a shopper blocked through one api process is refused by the other at once (pub/sub), and unblocked the same way', async () => {
    const { a, b, gql, admin, product, close } = await twoApis('blocks');
    try {
      await product('blocks-drop', { sale: { perUserLimit: 5 } });
      const bot = await signToken(TEST_SECRET, { sub: 'two-proc-bot' });
      // B reads the (empty) list now, for this first reserve, and serves the bot; its next
      // re-read of the table is BLOCKS_REFRESH_MS away.
      const read = Date.now();
      expect((await gql(b.url, RESERVE, { input: { productId: 'blocks-drop' } }, bot)).data.reserve.__typename).toBe('ReserveSuccess');
      expect((await gql(a.url, BLOCK, { ids: ['two-proc-bot'], reason: 'bot' }, admin)).data.blockShoppers).toEqual({ blocked: 1, holdsRevoked: 1 });
      const codeOnB = async () => (await gql(b.url, RESERVE, { input: { productId: 'blocks-drop' } }, bot)).errors?.[0]?.extensions?.code;
      // The block event reaches B in milliseconds; a reserve racing it may still go through.
      let code = await codeOnB();
      while (code !== 'FORBIDDEN' && Date.now() - read < BLOCKS_REFRESH_MS) {
        await new Promise((r) => setTimeout(r, 50));
        code = await codeOnB();
      }
      expect(code).toBe('FORBIDDEN');
      // Refused before B could have re-read the table: the event told it.
      expect(Date.now() - read).toBeLessThan(BLOCKS_REFRESH_MS);
      expect((await gql(a.url, UNBLOCK, { ids: ['two-proc-bot'] }, admin)).data.unblockShoppers).toEqual({ unblocked: 1 });
      await waitFor(async () => (await gql(b.url, RESERVE, { input: { productId: 'blocks-drop' } }, bot)).data?.reserve?.__typename === 'ReserveSuccess', 'B to serve the unblocked shopper', 15_000, 50);
    } finally {
      await close();
    }
  }, 120_000);
});
