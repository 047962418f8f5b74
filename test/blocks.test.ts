// Operators block shoppers (bots found after the fact): their holds go back on sale at once, their
// unpaid orders are cancelled, and their later reserves are refused, in every api process. They
// block networks too (bots that rotate accounts, not addresses): every reserve from an address
// inside one is refused, whoever the shopper.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsOf } from '../src/adapters/db/client.js';
import { signToken } from '../src/auth.js';
import { BLOCKS_REFRESH_MS } from '../src/domain/blocks.js';
import { loadSecurityConfig } from '../src/security/config.js';
import { BACKENDS } from './support/backends.js';
import { ADDRESS, CHECKOUT, type Harness, harness, RESERVE, TEST_SECRET } from './support/harness.js';
import { twoApis } from './support/server.js';
import { waitFor } from './support/servers.js';

const BLOCK = /* GraphQL */ `mutation($ids: [ID!]!, $reason: String!) { blockShoppers(userIds: $ids, reason: $reason) { blocked holdsRevoked } }`;
const UNBLOCK = /* GraphQL */ `mutation($ids: [ID!]!) { unblockShoppers(userIds: $ids) { unblocked } }`;
const LIST = /* GraphQL */ `query($after: ID) { blockedShoppers(first: 500, after: $after) { userId reason blockedBy blockedAt } }`;
const BLOCK_NETS = /* GraphQL */ `mutation($nets: [String!]!, $reason: String!) { blockNetworks(networks: $nets, reason: $reason) { blocked } }`;
const UNBLOCK_NETS = /* GraphQL */ `mutation($nets: [String!]!) { unblockNetworks(networks: $nets) { unblocked } }`;
const LIST_NETS = /* GraphQL */ `query($first: Int!, $after: String) { blockedNetworks(first: $first, after: $after) { network reason blockedBy blockedAt } }`;

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

describe.each(BACKENDS)('blockNetworks on %s', (backend) => {
  let h: Harness;
  beforeAll(async () => {
    // Behind one trusted proxy: the client address is the last X-Forwarded-For hop (documentation ranges only).
    h = await harness(backend, {}, { security: loadSecurityConfig({ RATE_LIMIT: 'off', TRUST_PROXY: '1' }, false) });
  }, 180_000);
  afterAll(async () => {
    await h?.close();
  });
  const tag = backend.replace(/\W/g, '-');
  /**
   * A reserve sent through the proxy for the client address `ip`, after a first hop the client wrote
   * itself (an address inside the range blocked below: only the proxy's hop counts).
   */
  const reserveFrom = async (ip: string, token: string, productId: string) =>
    (
      await h.app.fetch('http://test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-forwarded-for': `203.0.113.66, ${ip}` },
        body: JSON.stringify({ query: RESERVE, variables: { input: { productId } } }),
      })
    ).json();
  const outcome = (r: any) => r.errors?.[0]?.extensions?.code ?? r.data.reserve.__typename;

  it('refuses every reserve from an address inside a blocked network, whoever the shopper (GraphQL and REST); other addresses go on', async () => {
    const drop = await h.product({ totalQuantity: 50 });
    const admin = await h.admin();
    const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => h.token(`net-${tag}-${i}`)));
    const out = await h.gql(BLOCK_NETS, { nets: ['203.0.113.77/24', '198.51.100.9', '2001:db8:7::/48'], reason: 'bot farm' }, admin);
    expect(out.errors).toBeUndefined();
    expect(out.data.blockNetworks).toEqual({ blocked: 3 });

    // Any shopper from inside a blocked range, IPv4 (a v4-mapped socket address too) and IPv6: refused, nothing held.
    for (const [i, ip] of ['203.0.113.1', '203.0.113.254', '::ffff:198.51.100.9', '2001:db8:7:ffff::1'].entries()) {
      const r = await reserveFrom(ip, tokens[i], drop.id);
      expect(r.errors?.[0]).toMatchObject({ message: 'Reserves from this network are blocked by the operator', extensions: { code: 'FORBIDDEN' } });
    }
    const rest = await h.app.fetch('http://test/reserve-inventory', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens[4]}`, 'x-forwarded-for': '203.0.113.9' },
      body: JSON.stringify({ product_id: drop.id, quantity: 1 }),
    });
    expect(rest.status).toBe(403);
    expect((await rest.json()).error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/network/) });
    expect(await h.ledger(drop.id)).toEqual({ total: 50, available: 50, reserved: 0, sold: 0 });
    // Operators see the refusals as such in the metrics, not as errors.
    expect(Number(/^flashsale_reserve_outcomes_total\{outcome="FORBIDDEN"\} (\d+)$/m.exec(await (await h.app.fetch('http://test/metrics')).text())?.[1])).toBeGreaterThanOrEqual(4);

    // Next door and elsewhere: served, although the client's own first hop is inside a blocked range.
    expect(outcome(await reserveFrom('203.0.114.1', tokens[0], drop.id))).toBe('ReserveSuccess');
    expect(outcome(await reserveFrom('198.51.100.10', tokens[1], drop.id))).toBe('ReserveSuccess');
    expect(outcome(await reserveFrom('2001:db8:8::1', tokens[2], drop.id))).toBe('ReserveSuccess');

    // Listed as Postgres keeps them (the range's network; an address as /32), who and why; a repeat changes nothing.
    const listed = (await h.gql(LIST_NETS, { first: 500 }, admin)).data.blockedNetworks;
    expect(listed).toEqual(
      expect.arrayContaining([
        { network: '198.51.100.9/32', reason: 'bot farm', blockedBy: 'operator', blockedAt: expect.any(String) },
        { network: '203.0.113.0/24', reason: 'bot farm', blockedBy: 'operator', blockedAt: expect.any(String) },
        { network: '2001:db8:7::/48', reason: 'bot farm', blockedBy: 'operator', blockedAt: expect.any(String) },
      ]),
    );
    const page = (await h.gql(LIST_NETS, { first: 1, after: '198.51.100.9/32' }, admin)).data.blockedNetworks;
    expect(page).toEqual([expect.objectContaining({ network: '203.0.113.0/24' })]);
    expect((await h.gql(BLOCK_NETS, { nets: ['203.0.113.0/24', '203.0.113.5/24'], reason: 'again' }, admin)).data.blockNetworks).toEqual({ blocked: 0 });

    // Unblocked (under either spelling), reserves from there go through again.
    expect((await h.gql(UNBLOCK_NETS, { nets: ['203.0.113.200/24', '198.51.100.9'] }, admin)).data.unblockNetworks).toEqual({ unblocked: 2 });
    expect(outcome(await reserveFrom('203.0.113.1', tokens[3], drop.id))).toBe('ReserveSuccess');
    expect(outcome(await reserveFrom('198.51.100.9', tokens[4], drop.id))).toBe('ReserveSuccess');
    expect(outcome(await reserveFrom('2001:db8:7::2', tokens[5], drop.id))).toBe('FORBIDDEN');
    expect((await h.gql(UNBLOCK_NETS, { nets: ['2001:db8:7::/48'] }, admin)).data.unblockNetworks).toEqual({ unblocked: 1 });
    expect((await h.gql(LIST_NETS, { first: 500 }, admin)).data.blockedNetworks).toEqual([]);
    const audited = rowsOf<{ action: string }>(
      await h.backend.runtime.deps.db.execute(sql`select action from audit_log where action in ('mutation.blockNetworks', 'mutation.unblockNetworks') and actor = 'operator'`),
    );
    expect(audited.length).toBeGreaterThanOrEqual(4);
  });

  it('is for operators only and refuses bad input, naming it; nothing is stored', async () => {
    const admin = await h.admin();
    const shopper = await h.token(`nosy-net-${tag}`);
    const before = (await h.gql(LIST_NETS, { first: 500 }, admin)).data.blockedNetworks;
    expect((await h.gql(BLOCK_NETS, { nets: ['203.0.113.0/24'], reason: 'x' }, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    expect((await h.gql(LIST_NETS, { first: 10 }, shopper)).errors![0].extensions.code).toBe('FORBIDDEN');
    const refused = async (nets: string[], reason: string, field: string, message: RegExp) => {
      const r = await h.gql(BLOCK_NETS, { nets, reason }, admin);
      expect(r.errors?.[0]).toMatchObject({ message: expect.stringMatching(message), extensions: { code: 'INVALID_INPUT', field } });
    };
    await refused([], 'bot', 'networks', /at least one/);
    await refused(Array.from({ length: 1001 }, (_, i) => `198.51.100.${i % 250}`), 'bot', 'networks', /at most 1000/);
    await refused(['bots.example.com'], 'bot', 'networks', /not an IP address/);
    await refused(['203.0.113.0/24', '203.0.113.0/'], 'bot', 'networks', /not an IP address/);
    await refused(['10.0.0.0/7'], 'bot', 'networks', /prefix must be 8-32/);
    await refused(['203.0.113.0/33'], 'bot', 'networks', /prefix must be 8-32/);
    await refused(['2001:db8::/15'], 'bot', 'networks', /prefix must be 16-128/);
    await refused(['::ffff:203.0.113.5'], 'bot', 'networks', /write it as IPv4/);
    await refused(['203.0.113.0/24'], '  ', 'reason', /reason/);
    expect((await h.gql(UNBLOCK_NETS, { nets: ['nonsense'] }, admin)).errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'networks' });
    expect((await h.gql(LIST_NETS, { first: 10, after: 'nonsense' }, admin)).errors?.[0].extensions).toMatchObject({ code: 'INVALID_INPUT', field: 'after' });
    expect((await h.gql(LIST_NETS, { first: 500 }, admin)).data.blockedNetworks).toEqual(before);
  });
});

/**
 * The other process refuses (`FORBIDDEN` from `attempt`) before it could have re-read the tables it
 * read at `read`: the block event told it. The event takes milliseconds; a reserve racing it may still pass.
 */
async function refusedBeforeReread(read: number, attempt: () => Promise<string | undefined>): Promise<void> {
  let code = await attempt();
  while (code !== 'FORBIDDEN' && Date.now() - read < BLOCKS_REFRESH_MS) {
    await new Promise((r) => setTimeout(r, 50));
    code = await attempt();
  }
  expect(code).toBe('FORBIDDEN');
  expect(Date.now() - read).toBeLessThan(BLOCKS_REFRESH_MS);
}

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
      await refusedBeforeReread(read, async () => (await gql(b.url, RESERVE, { input: { productId: 'blocks-drop' } }, bot)).errors?.[0]?.extensions?.code);
      expect((await gql(a.url, UNBLOCK, { ids: ['two-proc-bot'] }, admin)).data.unblockShoppers).toEqual({ unblocked: 1 });
      await waitFor(async () => (await gql(b.url, RESERVE, { input: { productId: 'blocks-drop' } }, bot)).data?.reserve?.__typename === 'ReserveSuccess', 'B to serve the unblocked shopper', 15_000, 50);
    } finally {
      await close();
    }
  }, 120_000);
});

describe.skipIf(!BACKENDS.includes('postgres+redis'))('blockNetworks across processes (Postgres + Redis)', () => {
  it("a network blocked through one api process is refused by the other at once (pub/sub), by the socket's own address", async () => {
    const { a, b, gql, admin, product, close } = await twoApis('netblocks');
    try {
      await product('netblocks-drop', { sale: { perUserLimit: 5 } });
      const shopper = (i: number) => signToken(TEST_SECRET, { sub: `net-two-proc-${i}` });
      // B reads the (empty) lists now, for this first reserve; its next re-read is BLOCKS_REFRESH_MS away.
      const read = Date.now();
      expect((await gql(b.url, RESERVE, { input: { productId: 'netblocks-drop' } }, await shopper(0))).data.reserve.__typename).toBe('ReserveSuccess');
      // No proxy here: the client address is the socket's, this test's loopback.
      expect((await gql(a.url, BLOCK_NETS, { nets: ['127.0.0.0/8', '::1'], reason: 'bot farm' }, admin)).data.blockNetworks).toEqual({ blocked: 2 });
      let i = 1;
      await refusedBeforeReread(read, async () => (await gql(b.url, RESERVE, { input: { productId: 'netblocks-drop' } }, await shopper(i++))).errors?.[0]?.extensions?.code);
      // Operators are not shoppers: A still takes the unblock from the same address.
      expect((await gql(a.url, UNBLOCK_NETS, { nets: ['127.0.0.0/8', '::1'] }, admin)).data.unblockNetworks).toEqual({ unblocked: 2 });
      await waitFor(async () => (await gql(b.url, RESERVE, { input: { productId: 'netblocks-drop' } }, await shopper(i++))).data?.reserve?.__typename === 'ReserveSuccess', 'B to serve the unblocked network', 15_000, 50);
    } finally {
      await close();
    }
  }, 120_000);
});
