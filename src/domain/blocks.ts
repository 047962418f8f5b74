import { asc, gt, inArray, sql } from 'drizzle-orm';
import { blockedShoppers } from '../adapters/db/schema/tables.js';
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
 */
export const BLOCKS_REFRESH_MS = 5_000;
export const MAX_BLOCK_BATCH = 1_000;
export const MAX_BLOCKED_PAGE = 500;

interface BlockList {
  ids: Set<string>;
  loadedAt: number;
  loading?: Promise<void>;
}

const lists = new WeakMap<Deps, BlockList>();

async function load(deps: Deps, list: BlockList): Promise<void> {
  const rows = await deps.db.select({ userId: blockedShoppers.userId }).from(blockedShoppers);
  list.ids = new Set(rows.map((r) => r.userId));
  list.loadedAt = Date.now();
}

/** Whether the shopper is blocked: from memory, read from Postgres on first use and every BLOCKS_REFRESH_MS. */
export async function isBlocked(deps: Deps, userId: string): Promise<boolean> {
  let list = lists.get(deps);
  if (!list) {
    list = { ids: new Set(), loadedAt: 0 };
    lists.set(deps, list);
  }
  if (list.loadedAt === 0) {
    // Not read yet: wait for it (the first reserve of a process).
    list.loading ??= load(deps, list).finally(() => (list!.loading = undefined));
    await list.loading;
  } else if (Date.now() - list.loadedAt >= BLOCKS_REFRESH_MS && !list.loading) {
    // Stale: answered from what is known, re-read in the background (a failure keeps the list).
    const l = list;
    l.loading = load(deps, l)
      .catch((err) => deps.log.warn({ err: (err as Error).message }, 'blocked shoppers not re-read; keeping the list'))
      .finally(() => (l.loading = undefined));
  }
  return list.ids.has(userId);
}

/** Another process's (or this one's) block or unblock, from pub/sub: applied to the list at once. */
export function applyBlocksEvent(deps: Deps, e: BlocksEvent): void {
  const list = lists.get(deps);
  if (!list) return; // not read yet: the first read finds it in the table
  for (const id of e.userIds) {
    if (e.blocked) list.ids.add(id);
    else list.ids.delete(id);
  }
}

/** Pub/sub was down and an event may be lost: the next check re-reads the table (answering from the list meanwhile). */
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
