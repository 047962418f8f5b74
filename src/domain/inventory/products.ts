import { randomBytes } from 'node:crypto';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { type DbOrTx, exec, rowsOf } from '../../adapters/db/client.js';
import { productOf, timestamptz } from '../../adapters/db/rows.js';
import { products, reservations, stockMovements, type ProductRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import type { InventorySnapshot } from '../events.js';
import type { GateSnapshot } from '../gate/port.js';
import { writeBackInStock, writeSaleRescheduled, writeSoldOut } from '../notifications/events.js';
import { assertIntRange, assertProductId, assertText, type InvalidInput, invalid, type NotFound, notFound } from '../results.js';

export type SaleState = 'SCHEDULED' | 'LIVE' | 'SOLD_OUT' | 'ENDED';

export function saleState(p: Pick<ProductRow, 'startsAt' | 'endsAt'>, available: number, now: Date): SaleState {
  if (p.endsAt && now >= p.endsAt) return 'ENDED';
  if (now < p.startsAt) return 'SCHEDULED';
  if (available <= 0) return 'SOLD_OUT';
  return 'LIVE';
}

export function snapshotOf(p: ProductRow): InventorySnapshot {
  return {
    productId: p.id,
    totalQuantity: p.totalQuantity,
    availableQuantity: p.availableQuantity,
    reservedQuantity: p.reservedQuantity,
    soldQuantity: p.soldQuantity,
    version: p.version,
    updatedAt: p.updatedAt.toISOString(),
    startsAt: p.startsAt.toISOString(),
    endsAt: p.endsAt ? p.endsAt.toISOString() : null,
    name: p.name,
    priceAmount: p.priceAmount,
    currency: p.currency,
    perUserLimit: p.perUserLimit,
    reservationTtlSeconds: p.reservationTtlSeconds,
  };
}

/** Publishes the product's stock after a commit and keeps this process's copy fresh at once. */
export async function announceStock(deps: Deps, p: ProductRow): Promise<void> {
  const s = snapshotOf(p);
  deps.inventory.offer(s);
  deps.gate.noteStock(p.id, p.availableQuantity);
  try {
    await deps.events.publish('stock', p.id, s);
  } catch (err) {
    // The change is committed; a lost event only delays other processes' copies
    // until the next change. Never fail the shopper's request for it.
    deps.log.warn({ err, productId: p.id }, 'stock event not published');
  }
}

/**
 * What every change to a product's stock also sets: the version stock events are ordered by (a
 * subscriber drops an event older than what it has) and the time of the change. `stockBump` for
 * drizzle's `.set()`, `stockBumpSql` for hand-written statements (`update products set ..., ${stockBumpSql}`).
 */
export const stockBump = { version: sql`${products.version} + 1`, updatedAt: sql`now()` };
export const stockBumpSql = sql.raw('version = version + 1, updated_at = now()');

export interface CreateProductInput {
  id?: string | null;
  name: string;
  priceAmount: number;
  currency: string;
  totalQuantity: number;
  sale: {
    startsAt: Date;
    endsAt?: Date | null;
    perUserLimit: number;
    reservationTtlSeconds: number;
  };
}

export const MAX_STOCK = 100_000_000;

function validateCreate(i: CreateProductInput): InvalidInput | undefined {
  return (
    (i.id != null ? assertProductId('id', i.id) : undefined) ||
    assertText('name', i.name, 200) ||
    assertIntRange('priceAmount', i.priceAmount, 0, 1_000_000_000) ||
    (/^[A-Z]{3}$/.test(i.currency) ? undefined : invalid('currency must be an ISO 4217 code such as USD', 'currency')) ||
    assertIntRange('totalQuantity', i.totalQuantity, 1, MAX_STOCK) ||
    assertIntRange('sale.perUserLimit', i.sale.perUserLimit, 1, 1000) ||
    assertIntRange('sale.reservationTtlSeconds', i.sale.reservationTtlSeconds, 1, 86_400) ||
    (i.sale.endsAt && i.sale.endsAt <= i.sale.startsAt ? invalid('sale.endsAt must be after sale.startsAt', 'sale.endsAt') : undefined)
  );
}

export async function createProduct(deps: Deps, actor: Actor, input: CreateProductInput): Promise<ProductRow | InvalidInput> {
  const bad = validateCreate(input);
  if (bad) return bad;
  const id = input.id ?? `prod_${randomBytes(8).toString('hex')}`;
  const row = await deps.db.transaction(async (tx) => {
    const [created] = await tx
      .insert(products)
      .values({
        id,
        name: input.name.trim(),
        priceAmount: input.priceAmount,
        currency: input.currency,
        totalQuantity: input.totalQuantity,
        availableQuantity: input.totalQuantity,
        startsAt: input.sale.startsAt,
        endsAt: input.sale.endsAt ?? null,
        perUserLimit: input.sale.perUserLimit,
        reservationTtlSeconds: input.sale.reservationTtlSeconds,
      })
      .onConflictDoNothing()
      .returning();
    if (!created) return undefined;
    await tx.insert(stockMovements).values({
      productId: id,
      kind: 'CREATE',
      quantity: input.totalQuantity,
      actor: actor.userId,
    });
    return created;
  });
  if (!row) return invalid(`a product with id "${id}" already exists`, 'id');
  await deps.gate.load(await gateSnapshot(deps.db, row), true);
  await announceStock(deps, row);
  return row;
}

/**
 * Ends a product's sale now (an operator's call: a pricing mistake, a recall). Postgres first (the
 * truth: its reserve statements check the window), then the gate's copy of the window, then every
 * process's catalogue through the stock event (the version moves). A sale not yet open ends too
 * (its start moves to now: an empty window, over). Reserves are refused from then on
 * (`SaleNotOpen`, SALE_ENDED); holds already made keep their time and may still be checked out,
 * orders may still be paid. A sale already over is left as it is, and told to the gate and the
 * other processes again (a repeat after a fault half-way finishes the job).
 */
export async function endSale(deps: Deps, productId: string, opts: { calledOff?: boolean } = {}): Promise<ProductRow | NotFound | InvalidInput> {
  const bad = assertProductId('productId', productId);
  if (bad) return bad;
  const at = timestamptz(deps.now());
  // Called off (cancelSale): the product's followers are told, by an outbox row written with the end;
  // once, also when the sale had already ended (by endSale or its time), marked by cancelled_at.
  const told = opts.calledOff
    ? sql`, told as (
        insert into outbox (id, topic, aggregate_id, user_id, payload)
        select gen_random_uuid(), 'product.sale_cancelled', e.id, null, jsonb_build_object('productId', e.id, 'name', e.name, 'version', e.version)
        from ended e
      )`
    : sql``;
  const [ended] = rowsOf<Record<string, unknown>>(
    await exec(
      deps.db,
      sql`with ended as (
            update products set ends_at = least(coalesce(ends_at, ${at}), ${at}), starts_at = least(starts_at, ${at}),
              ${opts.calledOff ? sql`cancelled_at = ${at}, ` : sql``}${stockBumpSql}
            where id = ${productId} and (ends_at is null or ends_at > ${at}${opts.calledOff ? sql` or cancelled_at is null` : sql``})
            returning *
          )${told}
          select * from ended`,
    ),
  ).map(productOf);
  const row = ended ?? (await getProduct(deps.db, productId));
  if (!row) return notFound('Product');
  if (row.endsAt && row.endsAt <= deps.now()) {
    await deps.gate.setWindow(row.id, row.startsAt.getTime(), row.endsAt.getTime());
    // The snapshot carries the window: this process's catalogue takes it as the others' do.
    await announceStock(deps, row);
  }
  return row;
}

export interface SaleWindow {
  startsAt: Date;
  /** null: the sale has no end. */
  endsAt: Date | null;
}

/**
 * Moves a product's sale window (an operator's call: a sale postponed or brought forward, an open
 * sale extended or given an end). The window given is the whole new window, so a repeat changes
 * nothing. Rules, checked under the product row's lock:
 * - a sale that is over stays over (it is not reopened: its holds, orders and start notice are done);
 * - a sale not yet open may start at any time; a start already past opens it now (stored as now);
 * - an open sale keeps its start (it cannot be closed again by a later one; `endSale` ends it);
 * - an end, when given, is after the start and in the future (`endSale` ends a sale now).
 * Postgres first (the truth: its reserve statements check the window), then the gate's copy,
 * then every process's catalogue and every stock ticker through the stock event (the version
 * moves). Holds made before keep their time. Followers are told the new window (a
 * `product.sale_rescheduled` outbox event in the same transaction), except when the sale opens now:
 * the start notice, read from the row, tells them when it really opens.
 */
export async function rescheduleSale(deps: Deps, productId: string, window: SaleWindow): Promise<ProductRow | NotFound | InvalidInput> {
  const bad = assertProductId('productId', productId);
  if (bad) return bad;
  const now = deps.now();
  const out = await deps.db.transaction(async (tx) => {
    const [p] = await tx.select().from(products).where(eq(products.id, productId)).for('update');
    if (!p) return notFound('Product');
    if (p.endsAt && p.endsAt <= now) {
      return invalid(`The sale ended at ${p.endsAt.toISOString()}; a sale that is over is not reopened`, 'productId');
    }
    const open = p.startsAt <= now;
    if (open && window.startsAt.getTime() !== p.startsAt.getTime()) {
      return invalid(`The sale opened at ${p.startsAt.toISOString()}; its start can no longer move (endSale ends it)`, 'startsAt');
    }
    const startsAt = open || window.startsAt > now ? window.startsAt : now;
    const { endsAt } = window;
    if (endsAt && endsAt <= startsAt) return invalid('endsAt must be after startsAt', 'endsAt');
    if (endsAt && endsAt <= now) return invalid('endsAt is in the past (endSale ends a sale now)', 'endsAt');
    if (startsAt.getTime() === p.startsAt.getTime() && (endsAt?.getTime() ?? null) === (p.endsAt?.getTime() ?? null)) return p;
    const [row] = await tx
      .update(products)
      .set({ startsAt, endsAt, ...stockBump })
      .where(eq(products.id, productId))
      .returning();
    if (open || startsAt > now) await writeSaleRescheduled(tx, row, open);
    return row;
  });
  if ('__typename' in out) return out;
  // Told again when unchanged: a repeat after a fault half-way finishes the job.
  await deps.gate.setWindow(out.id, out.startsAt.getTime(), out.endsAt ? out.endsAt.getTime() : -1);
  await announceStock(deps, out);
  return out;
}

export interface ProductCorrection {
  name?: string | null;
  priceAmount?: number | null;
  currency?: string | null;
  perUserLimit?: number | null;
  reservationTtlSeconds?: number | null;
}

/**
 * Corrects what an operator set when creating a product (a typo: its name, price, currency,
 * per-shopper limit or hold time) while its sale has not opened: nobody holds a unit yet, so no
 * hold, order or payment was made under the old values. From the opening on they are fixed (a
 * pricing mistake in an open sale is what `cancelSale` is for). Postgres first (the row locked, the
 * version bumped), then the gate (loaded again from Postgres, as at creation: its limit may have
 * moved), then every process's catalogue through the stock event, whose snapshot carries them. Fields left
 * out keep their value; the same values again change nothing.
 */
export async function updateProduct(deps: Deps, productId: string, fix: ProductCorrection): Promise<ProductRow | NotFound | InvalidInput> {
  const bad =
    assertProductId('productId', productId) ||
    (Object.values(fix).every((v) => v == null) ? invalid('name at least one of name, priceAmount, currency, perUserLimit and reservationTtlSeconds', 'input') : undefined) ||
    (fix.name != null ? assertText('name', fix.name, 200) : undefined) ||
    (fix.priceAmount != null ? assertIntRange('priceAmount', fix.priceAmount, 0, 1_000_000_000) : undefined) ||
    (fix.currency != null && !/^[A-Z]{3}$/.test(fix.currency) ? invalid('currency must be an ISO 4217 code such as USD', 'currency') : undefined) ||
    (fix.perUserLimit != null ? assertIntRange('perUserLimit', fix.perUserLimit, 1, 1000) : undefined) ||
    (fix.reservationTtlSeconds != null ? assertIntRange('reservationTtlSeconds', fix.reservationTtlSeconds, 1, 86_400) : undefined);
  if (bad) return bad;
  const now = deps.now();
  const out = await deps.db.transaction(async (tx) => {
    const [p] = await tx.select().from(products).where(eq(products.id, productId)).for('update');
    if (!p) return notFound('Product');
    if (p.endsAt && p.endsAt <= now) return invalid(`The sale ended at ${p.endsAt.toISOString()}; its product is no longer changed`, 'productId');
    if (p.startsAt <= now) {
      return invalid(`The sale opened at ${p.startsAt.toISOString()}; the product is fixed from then (cancelSale calls it off)`, 'productId');
    }
    const next = {
      name: fix.name != null ? fix.name.trim() : p.name,
      priceAmount: fix.priceAmount ?? p.priceAmount,
      currency: fix.currency ?? p.currency,
      perUserLimit: fix.perUserLimit ?? p.perUserLimit,
      reservationTtlSeconds: fix.reservationTtlSeconds ?? p.reservationTtlSeconds,
    };
    if ((Object.keys(next) as (keyof typeof next)[]).every((k) => next[k] === p[k])) return p;
    const [row] = await tx.update(products).set({ ...next, ...stockBump }).where(eq(products.id, productId)).returning();
    return row;
  });
  if ('__typename' in out) return out;
  // Told again when unchanged: a repeat after a fault half-way finishes the job. Nobody holds a
  // unit before the opening, so the gate is loaded from Postgres whole, as at creation.
  await deps.gate.load(await gateSnapshot(deps.db, out), true);
  catalogue(deps, [out]);
  await announceStock(deps, out);
  return out;
}

/**
 * Sets a product's total units (an operator's call: more stock arrived, or some is withdrawn: damaged,
 * kept for another channel). The difference goes on sale or off it at once: `available` moves by it,
 * never below 0, so the total cannot go below the units already held or sold. Postgres first (the
 * truth: the product row locked, a RESTOCK or WITHDRAW stock movement naming the operator), then the
 * gate's stock by the same difference, then every process's copy through the stock event (a
 * restocked sold-out product is on sale again everywhere). The same total again changes nothing, so
 * a repeat after a fault or a double click is safe. Withdrawing the last available units tells the
 * product's followers it sold out, as the last reserve would; restocking a sold-out product tells them
 * it is back. The gate is marked from before the commit until its adjustment (`beginAdjust`), so a
 * reconciliation pass in between cannot count the change twice.
 */
export async function setStock(deps: Deps, actor: Actor, productId: string, totalQuantity: number): Promise<ProductRow | NotFound | InvalidInput> {
  const bad = assertProductId('productId', productId) || assertIntRange('totalQuantity', totalQuantity, 0, MAX_STOCK);
  if (bad) return bad;
  // Marked before the commit and ended by exactly one adjustStock whatever happens (0 when nothing
  // was committed): a reconciliation between the commit and the adjustment would count the change twice.
  const adjust = (delta: number) =>
    deps.gate.adjustStock(productId, delta).catch((err) => deps.log.warn({ err, productId }, 'the gate could not be told of the stock change (reconciliation will correct it)'));
  await deps.gate.beginAdjust(productId).catch((err) => deps.log.warn({ err, productId }, 'gate not told a stock change is under way'));
  let adjusted = false;
  try {
    const out = await deps.db.transaction(async (tx) => {
      const [p] = await tx.select().from(products).where(eq(products.id, productId)).for('update');
      if (!p) return notFound('Product');
      const delta = totalQuantity - p.totalQuantity;
      if (delta === 0) return { row: p, delta };
      const committed = p.reservedQuantity + p.soldQuantity;
      if (totalQuantity < committed) {
        return invalid(`totalQuantity cannot go below the ${committed} units already held or sold (${p.reservedQuantity} held, ${p.soldQuantity} sold)`, 'totalQuantity');
      }
      const [row] = await tx
        .update(products)
        .set({ totalQuantity, availableQuantity: sql`${products.availableQuantity} + ${delta}`, ...stockBump })
        .where(eq(products.id, productId))
        .returning();
      await tx.insert(stockMovements).values({ productId, kind: delta > 0 ? 'RESTOCK' : 'WITHDRAW', quantity: Math.abs(delta), actor: actor.userId });
      if (row.availableQuantity === 0) await writeSoldOut(tx, row);
      else if (p.availableQuantity === 0 && delta > 0) await writeBackInStock(tx, row);
      return { row, delta };
    });
    if ('__typename' in out) return out;
    // Committed: the gate moves by it before the announcement, so processes told of a restock find it
    // there (a gate that misses it, Redis unreachable, is corrected by reconciliation).
    adjusted = true;
    await adjust(out.delta);
    // Announced even when unchanged: a repeat after a fault half-way finishes the job.
    await announceStock(deps, out.row);
    return out.row;
  } finally {
    if (!adjusted) await adjust(0);
  }
}

export async function getProduct(db: DbOrTx, id: string): Promise<ProductRow | undefined> {
  if (!assertProductIdOk(id)) return undefined;
  const [row] = await db.select().from(products).where(eq(products.id, id));
  return row;
}

const assertProductIdOk = (id: string) => assertProductId('id', id) === undefined;

export async function getProducts(db: DbOrTx, ids: readonly string[]): Promise<ProductRow[]> {
  const ok = ids.filter(assertProductIdOk);
  if (ok.length === 0) return [];
  return db.select().from(products).where(inArray(products.id, ok));
}

export async function listProducts(db: DbOrTx): Promise<ProductRow[]> {
  return db.select().from(products).orderBy(asc(products.startsAt), asc(products.id));
}

/**
 * Products as answers show them, without a query per answer (a winning `reserve` and every
 * order line ask for their product). Its stock columns move, its sale window when an operator ends
 * or reschedules the sale (`endSale`, `rescheduleSale`), and its name, price, currency, limit and hold
 * time when an operator corrects them before the sale opens (`updateProduct`); all of those are taken
 * from the in-memory stock copy that `inventory` is answered from (every change bumps the version and
 * is announced, the snapshot carrying them). Rows
 * come from Postgres on a miss; at most `CATALOGUE_MAX` are kept (then it starts again).
 */
export const CATALOGUE_MAX = 10_000;
const catalogues = new WeakMap<Deps, Map<string, ProductRow>>();

/** A known product with its current stock, or undefined: ask Postgres (then `catalogue` the rows). */
export function cataloguedProduct(deps: Deps, id: string): ProductRow | undefined {
  const rows = catalogues.get(deps);
  const row = rows?.get(id);
  const s = row && deps.inventory.get(id);
  if (!row || !s) return undefined;
  if (s.version === row.version) return row;
  const fresh: ProductRow = {
    ...row,
    totalQuantity: s.totalQuantity,
    availableQuantity: s.availableQuantity,
    reservedQuantity: s.reservedQuantity,
    soldQuantity: s.soldQuantity,
    version: s.version,
    updatedAt: new Date(s.updatedAt),
    ...(s.startsAt !== undefined ? { startsAt: new Date(s.startsAt) } : {}),
    ...(s.endsAt !== undefined ? { endsAt: s.endsAt === null ? null : new Date(s.endsAt) } : {}),
    ...(s.name !== undefined ? { name: s.name } : {}),
    ...(s.priceAmount !== undefined ? { priceAmount: s.priceAmount } : {}),
    ...(s.currency !== undefined ? { currency: s.currency } : {}),
    ...(s.perUserLimit !== undefined ? { perUserLimit: s.perUserLimit } : {}),
    ...(s.reservationTtlSeconds !== undefined ? { reservationTtlSeconds: s.reservationTtlSeconds } : {}),
  };
  rows!.set(id, fresh);
  return fresh;
}

/** Remembers rows read from Postgres (and offers their stock to the in-memory copy). */
export function catalogue(deps: Deps, rows: readonly ProductRow[]): void {
  let known = catalogues.get(deps);
  if (!known) catalogues.set(deps, (known = new Map()));
  for (const row of rows) {
    if (known.size >= CATALOGUE_MAX && !known.has(row.id)) known.clear();
    deps.inventory.offer(snapshotOf(row));
    const held = known.get(row.id);
    if (!held || held.version < row.version) known.set(row.id, row);
  }
}

/** The current stock of a product: from the in-memory copy, loaded from Postgres on a miss. */
export async function inventoryOf(deps: Deps, productId: string): Promise<InventorySnapshot | undefined> {
  const cached = deps.inventory.get(productId);
  if (cached) return cached;
  const row = await getProduct(deps.db, productId);
  if (!row) return undefined;
  const s = snapshotOf(row);
  deps.inventory.offer(s);
  return deps.inventory.get(productId);
}

/** What the gate should hold for a product, read from Postgres (the truth). */
export async function gateSnapshot(db: DbOrTx, p: ProductRow): Promise<GateSnapshot> {
  const heldRows = await db
    .select({ userId: reservations.userId, held: sql<number>`sum(${reservations.quantity})::int` })
    .from(reservations)
    .where(and(eq(reservations.productId, p.id), inArray(reservations.status, ['ACTIVE', 'CHECKED_OUT', 'PURCHASED'])))
    .groupBy(reservations.userId);
  const [{ seq }] = await db
    .select({ seq: sql<number>`coalesce(max(${reservations.sequence}), 0)::bigint` })
    .from(reservations)
    .where(eq(reservations.productId, p.id));
  return {
    productId: p.id,
    stock: p.availableQuantity,
    sequence: Number(seq),
    startsAtMs: p.startsAt.getTime(),
    endsAtMs: p.endsAt ? p.endsAt.getTime() : -1,
    perUserLimit: p.perUserLimit,
    held: Object.fromEntries(heldRows.map((r) => [r.userId, Number(r.held)])),
  };
}

/** Loads the gate for one product from Postgres when it has nothing; false if no such product. */
export async function loadGate(deps: Deps, productId: string): Promise<boolean> {
  const row = await getProduct(deps.db, productId);
  if (!row) return false;
  await deps.gate.load(await gateSnapshot(deps.db, row), false);
  return true;
}

/**
 * Re-reads every product this process holds in memory from Postgres and keeps what is
 * newer (after a pub/sub outage, or on demand), re-deriving the sold-out flags.
 * Returns how many snapshots changed.
 */
export async function refreshInventory(deps: Deps): Promise<number> {
  const ids = deps.inventory.ids();
  if (ids.length === 0) return 0;
  let changed = 0;
  try {
    for (let i = 0; i < ids.length; i += 500) {
      for (const row of await getProducts(deps.db, ids.slice(i, i + 500))) {
        if (deps.inventory.offer(snapshotOf(row))) changed++;
        const now = deps.inventory.get(row.id);
        if (now) deps.gate.noteStock(row.id, now.availableQuantity);
      }
    }
  } catch (err) {
    deps.log.warn({ err }, 'inventory refresh failed; the next change or reconnect will refresh it');
  }
  return changed;
}
