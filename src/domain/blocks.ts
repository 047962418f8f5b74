import { BlockList, isIP } from 'node:net';
import { asc, gt, inArray, sql } from 'drizzle-orm';
import { rowsOf } from '../adapters/db/client.js';
import { blockedNetworks, blockedShoppers } from '../adapters/db/schema/tables.js';
import type { Actor, Deps } from './context.js';
import type { BlocksEvent } from './events.js';
import { revokeHolds, sweepAllExpired } from './inventory/expiry.js';
import { assertIntRange, assertText, type InvalidInput, invalid } from './results.js';

/**
 * Shoppers an operator blocked from reserving: bots found after the fact (many holds from one
 * payment card, a burst the challenge let through), abuse. A block
 * - is stored in Postgres (`blocked_shoppers`, who blocked and why) and audited;
 * - takes back the shopper's holds at once: their expiry moves to now and the expiry sweep runs,
 *   so their units go back on sale (gate, stock tickers) and their unpaid orders are cancelled, as
 *   for any hold whose time ran out (an order with a payment in flight is left to settle);
 * - refuses every later reserve of theirs (FORBIDDEN; REST 403) before the rate limits and the
 *   gate: each api process keeps the list in memory, takes its own changes at once and the other
 *   processes' from their `blocks` event (pub/sub), and re-reads the table every
 *   `BLOCKS_REFRESH_MS` and after a pub/sub outage (an event lost while pub/sub was down).
 * Sold-out answers given from memory come first, as for everyone: there is nothing to protect.
 *
 * Networks (an address, or a CIDR range: `blocked_networks`) are blocked the same way, for bots that
 * make accounts faster than an operator can list them but come from a few ranges: every reserve
 * from a client address inside one is refused, whoever the shopper (the address the rate limits
 * see: the socket's, or with TRUST_PROXY the proxy's X-Forwarded-For). Holds carry no address,
 * so none is taken back: block the accounts too.
 */
export const BLOCKS_REFRESH_MS = 5_000;
export const MAX_BLOCK_BATCH = 1_000;
export const MAX_BLOCKED_PAGE = 500;
/** The widest ranges a network block may be: an IPv4 /8, an IPv6 /16 (wider shuts out a large share of everyone). */
export const MIN_PREFIX = { ipv4: 8, ipv6: 16 } as const;

interface Lists {
  ids: Set<string>;
  /** Blocked networks as stored (`203.0.113.0/24`, `2001:db8::/32`); `matcher` answers from them. */
  networks: Set<string>;
  matcher: BlockList;
  loadedAt: number;
  loading?: Promise<void>;
}

const lists = new WeakMap<Deps, Lists>();

/** An address's family as BlockList names it, or undefined when it is not an IP address. */
function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  const v = isIP(address);
  return v === 4 ? 'ipv4' : v === 6 ? 'ipv6' : undefined;
}

/** Networks as stored (`cidr` text, always with its prefix: `a.b.c.d/n`, `x::/n`) into a BlockList. */
function matcherOf(networks: Iterable<string>): BlockList {
  const m = new BlockList();
  for (const n of networks) {
    const [address, prefix] = n.split('/');
    m.addSubnet(address, Number(prefix), familyOf(address)!);
  }
  return m;
}

async function load(deps: Deps, list: Lists): Promise<void> {
  const [rows, nets] = await Promise.all([
    deps.db.select({ userId: blockedShoppers.userId }).from(blockedShoppers),
    deps.db.select({ network: blockedNetworks.network }).from(blockedNetworks),
  ]);
  list.ids = new Set(rows.map((r) => r.userId));
  list.networks = new Set(nets.map((r) => r.network));
  list.matcher = matcherOf(list.networks);
  list.loadedAt = Date.now();
}

/** This process's lists: read from Postgres on first use (waited for) and every BLOCKS_REFRESH_MS (in the background). */
async function current(deps: Deps): Promise<Lists> {
  let list = lists.get(deps);
  if (!list) {
    list = { ids: new Set(), networks: new Set(), matcher: new BlockList(), loadedAt: 0 };
    lists.set(deps, list);
  }
  if (list.loadedAt === 0) {
    // Not read yet: wait for it (the first reserve of a process).
    list.loading ??= load(deps, list).finally(() => (list!.loading = undefined));
    await list.loading;
  } else if (Date.now() - list.loadedAt >= BLOCKS_REFRESH_MS && !list.loading) {
    // Stale: answered from what is known, re-read in the background (a failure keeps the lists).
    const l = list;
    l.loading = load(deps, l)
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'blocked shoppers and networks not re-read; keeping the lists'))
      .finally(() => (l.loading = undefined));
  }
  return list;
}

/** What, if anything, blocks this shopper's reserve: the account, or the network of the client address `ip`. */
export async function blockOf(deps: Deps, userId: string, ip: string | undefined): Promise<'shopper' | 'network' | undefined> {
  const list = await current(deps);
  if (list.ids.has(userId)) return 'shopper';
  const family = ip !== undefined && list.networks.size > 0 ? familyOf(ip) : undefined;
  return family && list.matcher.check(ip!, family) ? 'network' : undefined;
}

/** Another process's (or this one's) block or unblock, from pub/sub: applied to the lists at once. */
export function applyBlocksEvent(deps: Deps, e: BlocksEvent): void {
  const list = lists.get(deps);
  if (!list) return; // not read yet: the first read finds it in the table
  for (const id of e.userIds) {
    if (e.blocked) list.ids.add(id);
    else list.ids.delete(id);
  }
  if (e.networks?.length) {
    for (const n of e.networks) {
      if (e.blocked) list.networks.add(n);
      else list.networks.delete(n);
    }
    // A BlockList cannot forget a range: made again from the set (a few entries, on an operator's call).
    list.matcher = matcherOf(list.networks);
  }
}

/** Pub/sub was down and an event may be lost: the next check re-reads the tables (answering from the lists meanwhile). */
export function blocksMaybeMissed(deps: Deps): void {
  const list = lists.get(deps);
  if (list && list.loadedAt !== 0) list.loadedAt = 1;
}

/** Tells every process (their lists take it at once); a failure leaves them to their periodic re-read. */
function announce(deps: Deps, e: BlocksEvent): void {
  void deps.events.publish('blocks', 'all', e).catch((err) => deps.log.warn({ err }, 'blocks event not published; other processes follow at their next re-read'));
}

/** The distinct shopper ids of a call (trimmed), or why they are refused. */
function shopperIds(userIds: readonly string[]): string[] | InvalidInput {
  if (userIds.length === 0) return invalid('userIds must name at least one shopper', 'userIds');
  if (userIds.length > MAX_BLOCK_BATCH) return invalid(`at most ${MAX_BLOCK_BATCH} shoppers per call`, 'userIds');
  for (const id of userIds) {
    const bad = assertText('userIds', id, 200);
    if (bad) return bad;
  }
  return [...new Set(userIds.map((u) => u.trim()))];
}

export interface BlockOutcome {
  /** Shoppers newly blocked (already blocked ones keep their first reason). */
  blocked: number;
  /** Their holds taken back (active or checked out). */
  holdsRevoked: number;
}

export async function blockShoppers(deps: Deps, actor: Actor, userIds: readonly string[], reason: string): Promise<BlockOutcome | InvalidInput> {
  const ids = shopperIds(userIds);
  if (!Array.isArray(ids)) return ids;
  const bad = assertText('reason', reason, 500);
  if (bad) return bad;
  const now = deps.now();
  const { blocked, holdsRevoked } = await deps.db.transaction(async (tx) => {
    const added = await tx
      .insert(blockedShoppers)
      .values(ids.map((userId) => ({ userId, reason: reason.trim(), blockedBy: actor.userId })))
      .onConflictDoNothing()
      .returning({ userId: blockedShoppers.userId });
    const holdsRevoked = await revokeHolds(tx, sql`user_id = any(${sql.param(ids)}::text[])`, now, 'BLOCKED');
    return { blocked: added.length, holdsRevoked };
  });
  applyBlocksEvent(deps, { userIds: ids, blocked: true });
  announce(deps, { userIds: ids, blocked: true });
  // The holds' time is up now: sweep them at once rather than at the worker's next pass.
  if (holdsRevoked > 0) await sweepAllExpired(deps);
  return { blocked, holdsRevoked };
}

export async function unblockShoppers(deps: Deps, userIds: readonly string[]): Promise<{ unblocked: number } | InvalidInput> {
  const ids = shopperIds(userIds);
  if (!Array.isArray(ids)) return ids;
  const gone = await deps.db.delete(blockedShoppers).where(inArray(blockedShoppers.userId, ids)).returning({ userId: blockedShoppers.userId });
  applyBlocksEvent(deps, { userIds: ids, blocked: false });
  announce(deps, { userIds: ids, blocked: false });
  return { unblocked: gone.length };
}

export type BlockedShopper = typeof blockedShoppers.$inferSelect;

/** The blocked shoppers in user-id order, a page at a time (`after`: the last user id seen). */
export async function listBlocked(deps: Deps, first: number, after?: string | null): Promise<BlockedShopper[] | InvalidInput> {
  const bad = assertIntRange('first', first, 1, MAX_BLOCKED_PAGE);
  if (bad) return bad;
  return deps.db
    .select()
    .from(blockedShoppers)
    .where(after != null ? gt(blockedShoppers.userId, after) : undefined)
    .orderBy(asc(blockedShoppers.userId))
    .limit(first);
}

/**
 * The distinct networks of a call, as Postgres will store them (`cidr`: host bits cleared), or why
 * they are refused: each an IPv4 or IPv6 address, alone or with a prefix no wider than MIN_PREFIX.
 */
async function networksOf(deps: Deps, networks: readonly string[]): Promise<string[] | InvalidInput> {
  if (networks.length === 0) return invalid('networks must name at least one address or range', 'networks');
  if (networks.length > MAX_BLOCK_BATCH) return invalid(`at most ${MAX_BLOCK_BATCH} networks per call`, 'networks');
  const spelled: string[] = [];
  for (const raw of networks) {
    const n = raw.trim();
    const m = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(n);
    const v = m ? isIP(m[1]) : 0;
    if (!m || v === 0) return invalid(`"${n.slice(0, 60)}" is not an IP address or a range such as 203.0.113.0/24 or 2001:db8::/32`, 'networks');
    if (v === 6 && /^::ffff:/i.test(m[1]) && m[1].includes('.')) return invalid(`"${n}" is an IPv4 address written as IPv6: write it as IPv4`, 'networks');
    const max = v === 4 ? 32 : 128;
    const prefix = m[2] === undefined ? max : Number(m[2]);
    const min = v === 4 ? MIN_PREFIX.ipv4 : MIN_PREFIX.ipv6;
    if (prefix > max || prefix < min) return invalid(`"${n}": an IPv${v} range's prefix must be ${min}-${max}`, 'networks');
    spelled.push(`${m[1]}/${prefix}`);
  }
  // Postgres's own reading (as the primary key compares them): 203.0.113.7/24 is 203.0.113.0/24.
  const rows = rowsOf<{ n: string }>(await deps.db.execute(sql`select distinct network(x::inet)::cidr::text as n from unnest(${sql.param(spelled)}::text[]) as x`));
  return rows.map((r) => r.n);
}

export async function blockNetworks(deps: Deps, actor: Actor, networks: readonly string[], reason: string): Promise<{ blocked: number } | InvalidInput> {
  const nets = await networksOf(deps, networks);
  if (!Array.isArray(nets)) return nets;
  const bad = assertText('reason', reason, 500);
  if (bad) return bad;
  const added = await deps.db
    .insert(blockedNetworks)
    .values(nets.map((network) => ({ network, reason: reason.trim(), blockedBy: actor.userId })))
    .onConflictDoNothing()
    .returning({ network: blockedNetworks.network });
  applyBlocksEvent(deps, { userIds: [], networks: nets, blocked: true });
  announce(deps, { userIds: [], networks: nets, blocked: true });
  return { blocked: added.length };
}

export async function unblockNetworks(deps: Deps, networks: readonly string[]): Promise<{ unblocked: number } | InvalidInput> {
  const nets = await networksOf(deps, networks);
  if (!Array.isArray(nets)) return nets;
  const gone = await deps.db
    .delete(blockedNetworks)
    .where(sql`${blockedNetworks.network} = any(${sql.param(nets)}::cidr[])`)
    .returning({ network: blockedNetworks.network });
  applyBlocksEvent(deps, { userIds: [], networks: nets, blocked: false });
  announce(deps, { userIds: [], networks: nets, blocked: false });
  return { unblocked: gone.length };
}

export type BlockedNetwork = typeof blockedNetworks.$inferSelect;

/** The blocked networks in Postgres's order of `cidr`, a page at a time (`after`: the last network seen). */
export async function listBlockedNetworks(deps: Deps, first: number, after?: string | null): Promise<BlockedNetwork[] | InvalidInput> {
  const bad = assertIntRange('first', first, 1, MAX_BLOCKED_PAGE);
  if (bad) return bad;
  let from: string | undefined;
  if (after != null) {
    const nets = await networksOf(deps, [after]);
    if (!Array.isArray(nets)) return invalid(`after: ${nets.message}`, 'after');
    from = nets[0];
  }
  return deps.db
    .select()
    .from(blockedNetworks)
    .where(from !== undefined ? sql`${blockedNetworks.network} > ${from}::cidr` : undefined)
    .orderBy(asc(blockedNetworks.network))
    .limit(first);
}
