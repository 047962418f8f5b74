import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { exec, rowsOf, withCommit } from '../../adapters/db/client.js';
import { isInDoubt } from '../../adapters/db/watchdog.js';
import { productOf, timestamptz } from '../../adapters/db/rows.js';
import type { ProductRow, ReservationRow } from '../../adapters/db/schema/tables.js';
import { type Actor, causes, type Deps } from '../context.js';
import { KeyedBatches } from '../batches.js';
import { announceStock, stockBumpSql } from '../inventory/products.js';
import { limitExceeded } from '../results.js';
import { HOLDING } from './reserve.js';

/**
 * Group commit for admitted reservations.
 *
 * Every reservation of a product moves the same `products` row, so its row lock serialises
 * them: one transaction per reservation caps a product at one commit (and one WAL flush)
 * per lock hand-over, about a hundred a second on a small machine, and the shoppers queue.
 * Instead, each process keeps a queue per product: the first admitted attempt commits as soon
 * as the event loop's current turn ends (with those admitted in the same turn); those admitted
 * while a commit is in flight wait for it and then commit together,
 * in one transaction with one conditional stock update for all of them. Nothing changes in
 * what is stored (one reservation and one stock movement per shopper, written with the
 * stock move they explain), only how many shoppers share a commit.
 *
 * A batch is three round trips: BEGIN, then two statements sent together (the shoppers' carts
 * locked; then the per-user limit, the conditional stock move, the reservations and the stock
 * movements in one statement), then COMMIT. A batch that cannot be taken whole (not enough
 * stock left for all of it, the sale closed, a shopper over the per-user limit, an idempotency
 * key already stored, any database error) is rolled back and each attempt
 * is committed on its own, in arrival order, through the single path, which words every
 * refusal and fault exactly as before.
 */

export interface Admitted {
  actor: Actor;
  productId: string;
  quantity: number;
  idempotencyKey?: string;
  reservationId: string;
  sequence: number;
}

export type Outcome = { __typename: 'ReserveSuccess'; reservation: ReservationRow } | ReturnType<typeof limitExceeded>;

interface Waiting extends Admitted {
  resolve(r: Outcome): void;
  reject(err: unknown): void;
}

/** At most this many attempts share one transaction, unless `RESERVE_BATCH_MAX` says otherwise. */
export const MAX_BATCH = 250;

/** A batch Postgres could not take whole: its attempts are committed one by one. */
class OneByOne extends Error {}

/** The batch statement's refusal: `division_by_zero`, which nothing else in it can raise. */
const BATCH_REFUSED = '22012';
function refused(err: unknown): boolean {
  for (const e of causes(err)) if (e.code === BATCH_REFUSED) return true;
  return false;
}

export class ReserveBatcher {
  private readonly queues: KeyedBatches<Waiting>;
  private readonly max: number;
  /** Batches committed and attempts they carried (for tests and the metrics page). */
  readonly stats = { batches: 0, attempts: 0, fallbacks: 0 };

  constructor(
    private readonly deps: Deps,
    /** Commits one attempt alone (the single path, with all its refusals and faults). */
    private readonly single: (a: Admitted) => Promise<unknown>,
  ) {
    this.max = deps.reserveBatchMax ?? MAX_BATCH;
    this.queues = new KeyedBatches(this.max, (productId, batch) => this.run(productId, batch));
  }

  /** Queues an admitted attempt; resolves when it is committed (or refused) in Postgres. */
  commit(a: Admitted): Promise<unknown> {
    return new Promise((resolve, reject) => this.queues.add(a.productId, { ...a, resolve, reject }));
  }

  private async run(productId: string, batch: Waiting[]): Promise<void> {
    try {
      // One attempt takes the batch statement too (two round trips where the single path takes
      // six): only with RESERVE_BATCH_MAX=1 does each attempt go the single path.
      if (this.max === 1) await this.alone(batch[0]);
      else await this.together(productId, batch);
    } catch (err) {
      // Not expected (both paths answer every attempt), but no shopper may be left waiting.
      for (const w of batch) w.reject(err);
    }
  }

  private async alone(w: Waiting): Promise<void> {
    try {
      w.resolve((await this.single(w)) as Outcome);
    } catch (err) {
      w.reject(err);
    }
  }

  private async together(productId: string, batch: Waiting[]): Promise<void> {
    batch.sort((a, b) => a.sequence - b.sequence);
    let done: { outcomes: Outcome[]; product: ProductRow; stored: ReservationRow[] };
    try {
      done = await this.transaction(productId, batch);
    } catch (err) {
      // Cut with the COMMIT perhaps on its way (Postgres stopped answering): the batch may be
      // stored yet, so none of it is retried here; each attempt's caller settles its own doubt.
      if (isInDoubt(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      if (!(err instanceof OneByOne)) this.deps.log.debug({ err, productId, size: batch.length }, 'batched reservations fell back to one by one');
      this.stats.fallbacks++;
      for (const w of batch) await this.alone(w);
      return;
    }
    this.stats.batches++;
    this.stats.attempts += batch.length;
    // The batch is committed: answer now. The news (one stock event for the batch) goes out
    // after and holds neither these answers nor the next batch. No reservation event: a new
    // hold's id is first known from this answer, so nobody can be watching it yet (see
    // newHoldsUnannounced in reserve.ts).
    batch.forEach((w, i) => w.resolve(done.outcomes[i]));
    void this.spread(productId, done.product, done.stored);
  }

  /** After a commit: the stock event (a failure only logged). */
  private async spread(productId: string, product: ProductRow, stored: ReservationRow[]): Promise<void> {
    try {
      if (stored.length) await announceStock(this.deps, product);
    } catch (err) {
      // Committed is committed: what follows only spreads the news.
      this.deps.log.warn({ err, productId }, 'after a batched commit: stock event failed');
    }
  }

  private async transaction(productId: string, batch: Waiting[]) {
    const now = this.deps.now();
    const at = timestamptz(now);
    // Shoppers' active carts, locked in one order (user id) so concurrent batches cannot deadlock;
    // this serialises each shopper's reserves exactly as the single path does. Whole columns go
    // as one array parameter each (unnest): building a statement with a parameter per value
    // cost more CPU than the rest of the batch.
    const users = [...new Set(batch.map((w) => w.actor.userId))].sort();
    const param = <T>(values: T[]) => sql.param(values);
    const lockCarts = sql`
      insert into carts (id, user_id, status)
      select c.id, c.user_id, 'ACTIVE' from unnest(${param(users.map(() => randomUUID()))}::uuid[], ${param(users)}::text[]) as c(id, user_id)
      on conflict (user_id) where status = 'ACTIVE' do update set updated_at = ${at}`;
    // Then one statement does the rest: the per-user limit (what each shopper holds, read after
    // their carts are locked, plus this batch's attempts), the conditional stock move, and only
    // if it matched, the reservations (in their shoppers' active carts) and their stock movements.
    // The product row is locked by the update, held for this statement and the commit.
    const ids = param(batch.map((w) => w.reservationId));
    const userIds = param(batch.map((w) => w.actor.userId));
    const quantities = param(batch.map((w) => w.quantity));
    const sequences = param(batch.map((w) => w.sequence));
    const keys = param(batch.map((w) => w.idempotencyKey ?? null));
    const units = batch.reduce((n, w) => n + w.quantity, 0);
    const commitAll = sql`
      with attempt as (
        select * from unnest(${ids}::uuid[], ${userIds}::text[], ${quantities}::int[], ${sequences}::bigint[], ${keys}::text[])
          as a(id, user_id, quantity, sequence, idempotency_key)
      ), wanted as (
        select a.user_id, sum(a.quantity) + coalesce((
          select sum(r.quantity) from reservations r
          where r.product_id = ${productId} and r.user_id = a.user_id and r.status = any(${param([...HOLDING])}::text[])
        ), 0) as total
        from attempt a group by a.user_id
      ), moved as (
        update products set
          available_quantity = available_quantity - ${units},
          reserved_quantity = reserved_quantity + ${units},
          ${stockBumpSql}
        where id = ${productId}
          and available_quantity >= ${units}
          and starts_at <= ${at}
          and (ends_at is null or ends_at > ${at})
          and not exists (select 1 from wanted w where w.total > products.per_user_limit)
        returning *
      ), stored as (
        insert into reservations (id, cart_id, user_id, product_id, quantity, status, sequence, expires_at, idempotency_key, created_at, updated_at)
        select a.id, a.cart_id, a.user_id, ${productId}, a.quantity, 'ACTIVE', a.sequence, ${at} + make_interval(secs => m.reservation_ttl_seconds), a.idempotency_key, ${at}, ${at}
        -- Each attempt's cart looked up by the one-active-cart-per-user index (a subplan per
        -- attempt). As a join, the generic plan of the prepared statement (planned while carts
        -- was small) read every active cart into a hash: 20,000 in case 6, ~60 % of the
        -- statement's time, growing with the sale.
        from (select a.*, (select c.id from carts c where c.user_id = a.user_id and c.status = 'ACTIVE') as cart_id from attempt a) a
        cross join moved m
        where a.cart_id is not null
        returning id, cart_id
      ), movement as (
        insert into stock_movements (product_id, kind, quantity, reservation_id, actor)
        select ${productId}, 'RESERVE', a.quantity, a.id, a.user_id from attempt a
        where exists (select 1 from moved)
      ), sold_out as (
        insert into outbox (id, topic, aggregate_id, user_id, payload)
        select ${randomUUID()}::uuid, 'product.sold_out', m.id, null, json_build_object('productId', m.id, 'name', m.name, 'version', m.version)::jsonb
        from moved m where m.available_quantity = 0
      )
      -- Not enough left for the whole batch, the sale not open, a shopper over the limit (or the
      -- product gone), or a reservation without its cart: the division fails (division_by_zero), the
      -- transaction aborts, its COMMIT rolls back, and the batch goes one by one.
      select m.*, (select json_object_agg(s.id, s.cart_id) from stored s) as fs_carts,
             1 / (case when m.id is null or (select count(*) from stored) <> ${batch.length} then 0 else 1 end) as fs_whole
      from (select 1) as one left join moved m on true`;
    // Sent together, and with the COMMIT (withCommit): the second statement starts after the first
    // has taken the cart locks, in its own snapshot, so it sees every reservation committed before
    // them; and the product row it locks is held only while Postgres runs it and commits, not for
    // the answer's trip here and COMMIT's back (on a busy api process, the event loop's delay).
    let result: unknown;
    try {
      const { after } = await (this.deps.reserveDb ?? this.deps.db).transaction((tx) => withCommit(tx, Promise.all([exec(tx, lockCarts), exec(tx, commitAll)]).then(([, r]) => r)));
      result = await after;
    } catch (err) {
      throw refused(err) ? new OneByOne() : err;
    }
    const [row] = rowsOf<Record<string, unknown>>(result);
    const cartsJson = row.fs_carts;
    const cartOf = new Map(Object.entries((typeof cartsJson === 'string' ? JSON.parse(cartsJson) : cartsJson) as Record<string, string>));
    const moved = productOf(row);
    const expiresAt = new Date(now.getTime() + moved.reservationTtlSeconds * 1000);
    const stored: ReservationRow[] = batch.map((w) => ({
      id: w.reservationId,
      cartId: cartOf.get(w.reservationId)!,
      userId: w.actor.userId,
      productId,
      orderId: null,
      quantity: w.quantity,
      status: 'ACTIVE' as const,
      sequence: w.sequence,
      expiresAt,
      idempotencyKey: w.idempotencyKey ?? null,
      revoked: null,
      createdAt: now,
      updatedAt: now,
    }));
    const outcomes: Outcome[] = stored.map((reservation) => ({ __typename: 'ReserveSuccess', reservation }));
    return { outcomes, product: moved, stored };
  }
}
