import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt, inArray, isNull, lte, or, sql } from 'drizzle-orm';
import {
  carts,
  products,
  reservations,
  stockMovements,
  type CartRow,
  type ProductRow,
  type ReservationRow,
} from '../../adapters/db/schema/tables.js';
import { exec, rowsOf, withCommit } from '../../adapters/db/client.js';
import { isInDoubt } from '../../adapters/db/watchdog.js';
import { productOf, rowMapper, timestamptz } from '../../adapters/db/rows.js';
import { type Actor, causes, type Deps, RetryableError } from '../context.js';
import type { GateDecision } from '../gate/port.js';
import { ReserveBatcher } from './commit-batch.js';
import { announceStock, getProduct, loadGate, stockBump, stockBumpSql } from '../inventory/products.js';
import { writeSoldOut } from '../notifications/events.js';
import {
  assertIdempotencyKey,
  assertIntRange,
  assertProductId,
  assertUuid,
  type InvalidInput,
  invalid,
  type LimitExceeded,
  limitExceeded,
  MAX_QUANTITY,
  type NotFound,
  notFound,
  type ReservationExpired,
  reservationExpired,
  type SaleNotOpen,
  saleEnded,
  saleNotStarted,
  type SoldOut,
  soldOut,
} from '../results.js';

export interface ReserveInput {
  productId: string;
  quantity: number;
  idempotencyKey?: string | null;
}

export interface ReserveSuccess {
  __typename: 'ReserveSuccess';
  reservation: ReservationRow;
}

export type ReserveResult = ReserveSuccess | SoldOut | LimitExceeded | SaleNotOpen | NotFound | InvalidInput;

/** Reservations that count against the per-user limit. */
export const HOLDING = ['ACTIVE', 'CHECKED_OUT', 'PURCHASED'] as const;

class Refused extends Error {
  constructor(readonly reason: 'SOLD_OUT' | 'LIMIT' | 'ENDED' | 'NOT_STARTED') {
    super(reason);
  }
}

/**
 * Sold out is known to every process: the answer without a round trip, or undefined (also for
 * input that the full path refuses as invalid). A keyed retry still asks the gate, since its
 * first outcome may have been a success.
 */
export function knownSoldOut(deps: Deps, input: ReserveInput): SoldOut | undefined {
  if (input.idempotencyKey || !deps.gate.knownSoldOut(input.productId) || invalidReserve(input)) return undefined;
  return soldOut(input.productId);
}

/**
 * A keyed attempt on a product this process knows is sold out: `SoldOut` when the gate has admitted
 * no attempt with this shopper's key (one plain read, no script), else undefined, and the full path
 * answers what the key stands for. Every storefront on the SDK sends a key with each reserve, so
 * this is how most of a sale's refused reserves are answered. A gate that cannot tell (or fails)
 * sends the attempt down the full path, which words any fault.
 */
export async function keyedSoldOut(deps: Deps, actor: Actor, input: ReserveInput): Promise<SoldOut | undefined> {
  const key = input.idempotencyKey;
  if (!key || !deps.gate.knownSoldOut(input.productId) || invalidReserve(input)) return undefined;
  const repeat = await deps.gate.mayRepeat(input.productId, actor.userId, key, deps.now().getTime()).catch(() => true);
  return repeat ? undefined : soldOut(input.productId);
}

function invalidReserve(input: ReserveInput): InvalidInput | undefined {
  return (
    assertProductId('productId', input.productId) ||
    assertIntRange('quantity', input.quantity, 1, MAX_QUANTITY) ||
    assertIdempotencyKey(input.idempotencyKey)
  );
}

/**
 * Hold stock for a shopper: the gate admits or refuses in arrival order; only admitted
 * attempts reach Postgres, which commits the stock move with the reservation that
 * explains it (and refuses, cleanly, anything the gate let through by mistake).
 */
export async function reserve(deps: Deps, actor: Actor, input: ReserveInput): Promise<ReserveResult> {
  const bad = invalidReserve(input);
  if (bad) return bad;
  const gone = knownSoldOut(deps, input);
  if (gone) return gone;
  // Postgres is not answering (the watchdog): no admission the commit could only hand back.
  if (deps.postgres?.unresponsive) throw new RetryableError('The database is not answering; nothing was reserved, try again', { retryAfterSeconds: 2 });
  return admitAndCommit(deps, actor, input, true);
}

async function admitAndCommit(deps: Deps, actor: Actor, input: ReserveInput, mayTakeOver: boolean): Promise<ReserveResult> {
  const key = input.idempotencyKey ?? undefined;

  const reservationId = randomUUID();
  const attempt = {
    productId: input.productId,
    userId: actor.userId,
    quantity: input.quantity,
    nowMs: deps.now().getTime(),
    reservationId,
    idempotencyKey: key,
  };
  let decision: GateDecision = await gateCall(() => deps.gate.admit(attempt));
  if (decision.outcome === 'UNKNOWN_PRODUCT') {
    if (!(await loadGate(deps, input.productId))) return notFound('Product');
    decision = await gateCall(() => deps.gate.admit(attempt));
    if (decision.outcome === 'UNKNOWN_PRODUCT') return notFound('Product');
  }

  switch (decision.outcome) {
    case 'REPEATED': {
      const first = await storedReservation(deps, actor, decision.reservationId);
      if (first) return { __typename: 'ReserveSuccess', reservation: first };
      // Admitted with this key and never stored: the process that admitted it died (or its
      // hand-back was lost). The key would answer "in progress" for a day; this attempt takes it
      // over instead, once: the key forgotten only while it still names that admission, its units
      // given back to the gate (in the same step; not when the gate was set from Postgres since,
      // which counted them already), then admitted afresh. Were the first attempt alive after all,
      // the unique (shopper, key) index lets only one of the two be stored, and the other hands back.
      // The units given back are this attempt's: the same key is the same request.
      if (mayTakeOver && key) {
        if (await deps.gate.takeOver(input.productId, actor.userId, key, decision.reservationId, input.quantity).catch(() => false)) {
          deps.log.warn({ productId: input.productId, reservationId: decision.reservationId }, 'an admission was never stored; its idempotency key taken over by a retry');
        }
        // Taken over here, or by a concurrent retry with the same key: ask the gate again.
        return admitAndCommit(deps, actor, input, false);
      }
      throw new RetryableError('The first attempt with this idempotency key is still in progress; try again');
    }
    case 'SOLD_OUT':
      return soldOut(input.productId);
    case 'LIMIT_EXCEEDED':
      return limitExceeded(decision.limit);
    case 'NOT_STARTED':
    case 'ENDED': {
      const p = await getProduct(deps.db, input.productId);
      if (!p) return notFound('Product');
      return decision.outcome === 'ENDED' ? saleEnded(p.startsAt, p.endsAt) : saleNotStarted(p.startsAt, p.endsAt);
    }
    case 'ADMITTED':
      try {
        return (await batcherOf(deps).commit({
          actor,
          productId: input.productId,
          quantity: input.quantity,
          idempotencyKey: key,
          reservationId,
          sequence: decision.sequence,
        })) as ReserveResult;
      } catch (err) {
        if (isInDoubt(err)) await inDoubt(deps, actor, input, decision.sequence, err);
        throw err;
      } finally {
        decision.stored?.();
      }
  }
}

const batchers = new WeakMap<Deps, ReserveBatcher>();

/** This process's group committer for `deps` (see commit-batch.ts). */
export function batcherOf(deps: Deps): ReserveBatcher {
  let b = batchers.get(deps);
  if (!b) {
    b = new ReserveBatcher(deps, (a) =>
      commitAdmitted(deps, a.actor, { productId: a.productId, quantity: a.quantity, idempotencyKey: a.idempotencyKey }, a.reservationId, a.sequence),
    );
    batchers.set(deps, b);
  }
  return b;
}

async function gateCall(fn: () => Promise<GateDecision>): Promise<GateDecision> {
  try {
    return await fn();
  } catch (cause) {
    throw new RetryableError('The stock gate is unreachable; try again', { cause });
  }
}

/** The reservation an earlier attempt with the same key was admitted as, once stored (waits up to 2 s for its commit). */
async function storedReservation(deps: Deps, actor: Actor, reservationId: string): Promise<ReservationRow | undefined> {
  for (let i = 0; i < 40; i++) {
    const [row] = await deps.db
      .select()
      .from(reservations)
      .where(and(eq(reservations.id, reservationId), eq(reservations.userId, actor.userId)));
    if (row) return row;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

async function commitAdmitted(
  deps: Deps,
  actor: Actor,
  input: ReserveInput,
  reservationId: string,
  sequence: number,
): Promise<ReserveResult> {
  const now = deps.now();
  let committed: { reservation: ReservationRow; product: ProductRow };
  try {
    committed = await (deps.reserveDb ?? deps.db).transaction(async (tx) => {
      // Taking the shopper's active cart row first serialises that shopper's
      // concurrent reserves, so the per-user count below cannot race.
      const [cart] = await tx
        .insert(carts)
        .values({ id: randomUUID(), userId: actor.userId, status: 'ACTIVE' })
        .onConflictDoUpdate({
          target: carts.userId,
          targetWhere: sql`${carts.status} = 'ACTIVE'`,
          set: { updatedAt: now },
        })
        .returning();
      const [{ held }] = await tx
        .select({ held: sql<number>`coalesce(sum(${reservations.quantity}), 0)::int` })
        .from(reservations)
        .where(
          and(
            eq(reservations.userId, actor.userId),
            eq(reservations.productId, input.productId),
            inArray(reservations.status, [...HOLDING]),
          ),
        );
      const [product] = await tx
        .update(products)
        .set({
          availableQuantity: sql`${products.availableQuantity} - ${input.quantity}`,
          reservedQuantity: sql`${products.reservedQuantity} + ${input.quantity}`,
          ...stockBump,
        })
        .where(
          and(
            eq(products.id, input.productId),
            sql`${products.availableQuantity} >= ${input.quantity}`,
            sql`${products.perUserLimit} >= ${Number(held) + input.quantity}`,
            lte(products.startsAt, now),
            or(isNull(products.endsAt), gt(products.endsAt, now)),
          ),
        )
        .returning();
      if (!product) {
        const p = await getProduct(tx, input.productId);
        if (!p) throw new Refused('SOLD_OUT');
        if (p.perUserLimit < Number(held) + input.quantity) throw new Refused('LIMIT');
        if (p.startsAt > now) throw new Refused('NOT_STARTED');
        if (p.endsAt && p.endsAt <= now) throw new Refused('ENDED');
        throw new Refused('SOLD_OUT');
      }
      const [reservation] = await tx
        .insert(reservations)
        .values({
          id: reservationId,
          cartId: cart.id,
          userId: actor.userId,
          productId: input.productId,
          quantity: input.quantity,
          status: 'ACTIVE',
          sequence,
          expiresAt: new Date(now.getTime() + product.reservationTtlSeconds * 1000),
          idempotencyKey: input.idempotencyKey ?? null,
        })
        .returning();
      await tx.insert(stockMovements).values({
        productId: input.productId,
        kind: 'RESERVE',
        quantity: input.quantity,
        reservationId,
        actor: actor.userId,
      });
      if (product.availableQuantity === 0) await writeSoldOut(tx, product);
      return { reservation, product };
    });
  } catch (err) {
    if (err instanceof Refused) {
      // Postgres refused what the gate admitted: give the shopper's count back; the
      // stock only when the refusal was not for lack of it.
      await handBack(deps, input.productId, actor.userId, input.quantity, input.idempotencyKey, err.reason !== 'SOLD_OUT', sequence);
      if (err.reason === 'SOLD_OUT') {
        deps.gate.noteStock(input.productId, 0);
        return soldOut(input.productId);
      }
      const p = await getProduct(deps.db, input.productId);
      if (!p) return notFound('Product');
      if (err.reason === 'LIMIT') return limitExceeded(p.perUserLimit);
      return err.reason === 'ENDED' ? saleEnded(p.startsAt, p.endsAt) : saleNotStarted(p.startsAt, p.endsAt);
    }
    // Cut with its COMMIT perhaps on the way: not known to be unwritten (the caller decides).
    if (isInDoubt(err)) throw err;
    // Nothing was written: hand the admission back so the stock is not lost.
    deps.log.warn({ err, productId: input.productId }, 'reservation not stored; admission handed back to the gate');
    await handBack(deps, input.productId, actor.userId, input.quantity, input.idempotencyKey, true, sequence);
    if (isUniqueViolation(err) && input.idempotencyKey) {
      // Same key raced past the gate (e.g. after a gate reload): return the first outcome.
      const [row] = await deps.db
        .select()
        .from(reservations)
        .where(and(eq(reservations.userId, actor.userId), eq(reservations.idempotencyKey, input.idempotencyKey)));
      if (row) return { __typename: 'ReserveSuccess', reservation: row };
    }
    throw new RetryableError('The reservation could not be stored; nothing was reserved, try again', { cause: err });
  }
  await announceStock(deps, committed.product);
  // No reservation event for a new hold: see newHoldsUnannounced.
  return { __typename: 'ReserveSuccess', reservation: committed.reservation };
}

/**
 * An admitted attempt whose commit was cut with its statements in flight (Postgres stopped
 * answering, watchdog.ts): it may be stored once the server wakes, or never. With a key the gate
 * keeps the admission, so the shopper's retry with the same key answers what happened: the stored
 * reservation, or (never stored) a take-over of the key and a fresh admission — counted once either
 * way. Without a key nothing can find it again: the admission is handed back, which if it was
 * stored leaves the gate one attempt above Postgres (Postgres refuses the surplus; reconciliation
 * corrects it), never below. Always throws.
 */
async function inDoubt(deps: Deps, actor: Actor, input: ReserveInput, sequence: number, cause: unknown): Promise<never> {
  deps.log.warn({ productId: input.productId, keyed: Boolean(input.idempotencyKey) }, 'a reservation commit was cut with Postgres not answering; its outcome is unknown');
  if (input.idempotencyKey) {
    throw new RetryableError('The database stopped answering while this reservation was being stored, so it may have been stored: retry with the same idempotencyKey to get its outcome', { cause, retryAfterSeconds: 2 });
  }
  await handBack(deps, input.productId, actor.userId, input.quantity, undefined, true, sequence);
  throw new RetryableError('The database stopped answering while this reservation was being stored, so it may have been stored; without an idempotencyKey this attempt cannot be looked up again: the cart shows whether it was, once the database answers', { cause, retryAfterSeconds: 2 });
}

/**
 * Gives the gate back an admission (its `sequence`) Postgres did not keep: the shopper's count
 * always, the stock when `restoreStock`, and forgets its idempotency key so a retry can go through.
 * Best effort: a hand-back the gate cannot take during an outage is kept and given after its
 * rebuild (ResilientGate); reconciliation converges the rest.
 */
export async function handBack(
  deps: Deps,
  productId: string,
  userId: string,
  quantity: number,
  idempotencyKey: string | null | undefined,
  restoreStock: boolean,
  sequence: number,
) {
  await deps.gate.release(productId, userId, quantity, restoreStock, sequence).catch(() => {});
  if (idempotencyKey) await deps.gate.forget(productId, userId, idempotencyKey).catch(() => {});
}

export function isUniqueViolation(err: unknown): boolean {
  for (const e of causes(err)) if (e.code === '23505') return true;
  return false;
}

/**
 * newHoldsUnannounced: a reservation event is published when a hold changes (checked out,
 * purchased, released, expired), not when it is made. Its only listeners are countdowns of one
 * reservation id, and a new hold's id is first known from the reserve's answer, written after
 * the commit: nobody can be watching it yet, and a countdown that starts reads the row anyway.
 * One PUBLISH per winning reserve was ~10 % of the api's CPU per reservation under load.
 */
export async function publishReservation(deps: Deps, r: Pick<ReservationRow, 'id' | 'userId' | 'productId' | 'status'>) {
  await deps.events
    .publish('reservation', r.id, { reservationId: r.id, userId: r.userId, productId: r.productId, status: r.status })
    .catch((err) => deps.log.warn({ err, reservationId: r.id }, 'reservation event not published'));
}

export interface ReleaseSuccess {
  __typename: 'ReleaseSuccess';
  reservation: ReservationRow;
}
export type ReleaseResult = ReleaseSuccess | NotFound | ReservationExpired | InvalidInput;

const reservationOf = rowMapper(reservations);

/** Gives an ACTIVE hold back to the pool before it expires. Releasing twice is harmless. */
export async function releaseReservation(deps: Deps, actor: Actor, id: string): Promise<ReleaseResult> {
  const bad = assertUuid('id', id);
  if (bad) return bad;
  const now = deps.now();
  const out = await deps.db.transaction(async (tx) => {
    // Hand-written and prepared (exec): drizzle's builder sends statements unprepared, and each
    // then costs a describe round trip and holds the ones issued after it.
    const [r] = rowsOf<Record<string, unknown>>(
      await exec(tx, sql`select * from reservations where id = ${id} and user_id = ${actor.userId} for update`),
    ).map(reservationOf);
    if (!r) return notFound('Reservation');
    if (r.status === 'RELEASED') return { __typename: 'ReleaseSuccess' as const, reservation: r, product: undefined };
    if (r.status === 'EXPIRED' || (r.status === 'ACTIVE' && r.expiresAt <= now)) return reservationExpired();
    if (r.status !== 'ACTIVE') {
      return invalid(`A ${r.status.toLowerCase().replace('_', ' ')} reservation cannot be released`, 'id');
    }
    // Sent together and with the COMMIT (withCommit), the product row (every shopper's) last: it
    // stays locked only while Postgres runs its update and commits, not for a round trip to this
    // process and back (on a busy api, the event loop's delay, which every reservation and
    // settlement batch of the sale waited out behind it).
    const at = timestamptz(now);
    const writes = Promise.all([
      exec(tx, sql`update reservations set status = 'RELEASED', updated_at = ${at} where id = ${id}`),
      exec(tx, sql`insert into stock_movements (product_id, kind, quantity, reservation_id, actor) values (${r.productId}, 'RELEASE', ${r.quantity}, ${r.id}, ${actor.userId})`),
      exec(tx, sql`
        update products set available_quantity = available_quantity + ${r.quantity}, reserved_quantity = reserved_quantity - ${r.quantity},
          ${stockBumpSql}
        where id = ${r.productId} returning *`),
    ]).then(([, , moved]) => rowsOf<Record<string, unknown>>(moved).map(productOf)[0]);
    const { after } = await withCommit(tx, writes);
    return { __typename: 'ReleaseSuccess' as const, reservation: { ...r, status: 'RELEASED' as const, updatedAt: now }, product: after };
  });
  if (out.__typename !== 'ReleaseSuccess') return out;
  if (out.product) {
    // The writes sent with the COMMIT: if they failed, nothing was committed and this throws.
    const product = await out.product;
    await returnToGate(deps, [out.reservation]);
    await announceStock(deps, product);
    await publishReservation(deps, out.reservation);
  }
  return { __typename: 'ReleaseSuccess', reservation: out.reservation };
}

/** After a commit that put units back on sale: tell the gate (failures converge by reconciliation). */
export async function returnToGate(deps: Deps, rows: Pick<ReservationRow, 'productId' | 'userId' | 'quantity'>[]) {
  for (const r of rows) {
    await deps.gate
      .release(r.productId, r.userId, r.quantity, true)
      .catch((err) => deps.log.warn({ err, productId: r.productId }, 'gate release failed; reconciliation will restore it'));
  }
}

export async function getReservation(deps: Deps, actor: Actor, id: string): Promise<ReservationRow | undefined> {
  if (assertUuid('id', id)) return undefined;
  const [row] = await deps.db
    .select()
    .from(reservations)
    .where(and(eq(reservations.id, id), eq(reservations.userId, actor.userId)));
  return row;
}

export interface CartView {
  cart: CartRow;
  reservations: ReservationRow[];
  expiresAt: Date | null;
}

/** The shopper's active cart with its live holds. */
export async function getCart(deps: Deps, actor: Actor): Promise<CartView | undefined> {
  const [cart] = await deps.db
    .select()
    .from(carts)
    .where(and(eq(carts.userId, actor.userId), eq(carts.status, 'ACTIVE')));
  if (!cart) return undefined;
  const live = await deps.db
    .select()
    .from(reservations)
    .where(and(eq(reservations.cartId, cart.id), eq(reservations.status, 'ACTIVE'), gt(reservations.expiresAt, deps.now())))
    .orderBy(asc(reservations.sequence));
  const expiresAt = live.length ? new Date(Math.min(...live.map((r) => r.expiresAt.getTime()))) : null;
  return { cart, reservations: live, expiresAt };
}
