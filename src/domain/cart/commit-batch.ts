import { randomUUID } from 'node:crypto';
import { and, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import { rowsOf } from '../../adapters/db/client.js';
import { products, type ProductRow, type ReservationRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { announceStock, getProduct, stockBump } from '../inventory/products.js';
import { writeSoldOut } from '../notifications/events.js';
import { limitExceeded } from '../results.js';
import { HOLDING, handBack } from './reserve.js';

/**
 * Group commit for admitted reservations.
 *
 * Every reservation of a product moves the same `products` row, so its row lock serialises
 * them: one transaction per reservation caps a product at one commit (and one WAL flush)
 * per lock hand-over, about a hundred a second on a small machine, and the shoppers queue.
 * Instead, each process keeps a queue per product: the first admitted attempt commits at
 * once; those admitted while a commit is in flight wait for it and then commit together,
 * in one transaction with one conditional stock update for all of them. Nothing changes in
 * what is stored (one reservation and one stock movement per shopper, written with the
 * stock move they explain), only how many shoppers share a commit.
 *
 * A batch that cannot be taken whole (not enough stock left for all of it, the sale closed,
 * an idempotency key already stored, any database error) is rolled back and each attempt
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

/** Thrown inside a batch to roll it back and commit its attempts one by one. */
class OneByOne extends Error {}

export class ReserveBatcher {
  private queues = new Map<string, Waiting[]>();
  private readonly max: number;
  /** Batches committed and attempts they carried (for tests and the metrics page). */
  readonly stats = { batches: 0, attempts: 0, fallbacks: 0 };

  constructor(
    private readonly deps: Deps,
    /** Commits one attempt alone (the single path, with all its refusals and faults). */
    private readonly single: (a: Admitted) => Promise<unknown>,
    private readonly publish: (r: ReservationRow) => Promise<void>,
  ) {
    this.max = deps.reserveBatchMax ?? MAX_BATCH;
  }

  /** Queues an admitted attempt; resolves when it is committed (or refused) in Postgres. */
  commit(a: Admitted): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const q = this.queues.get(a.productId);
      const w: Waiting = { ...a, resolve, reject };
      if (q) {
        q.push(w);
        return;
      }
      this.queues.set(a.productId, [w]);
      void this.drain(a.productId);
    });
  }

  private async drain(productId: string): Promise<void> {
    const q = this.queues.get(productId)!;
    while (q.length) {
      const batch = q.splice(0, this.max);
      try {
        if (batch.length === 1) await this.alone(batch[0]);
        else await this.together(productId, batch);
      } catch (err) {
        // Not expected (both paths answer every attempt), but no shopper may be left waiting.
        for (const w of batch) w.reject(err);
      }
    }
    this.queues.delete(productId);
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
    let done: { outcomes: Outcome[]; product: ProductRow; stored: ReservationRow[]; refused: Waiting[] };
    try {
      done = await this.transaction(productId, batch);
    } catch (err) {
      if (!(err instanceof OneByOne)) this.deps.log.debug({ err, productId, size: batch.length }, 'batched reservations fell back to one by one');
      this.stats.fallbacks++;
      for (const w of batch) await this.alone(w);
      return;
    }
    this.stats.batches++;
    this.stats.attempts += batch.length;
    try {
      // Refused for the per-user limit: the gate gives the shopper's count and the stock back
      // before they are answered (as the single path does).
      for (const w of done.refused) await handBack(this.deps, productId, w.actor.userId, w.quantity, w.idempotencyKey, true);
    } catch (err) {
      this.deps.log.warn({ err, productId }, 'after a batched commit: gate release failed');
    }
    // The batch is committed: answer now. The news (one stock event, one event per reservation)
    // goes out after, all at once, and holds neither these answers nor the next batch: awaited
    // one by one, a batch's publishes cost a Redis round trip each while the queue waited.
    batch.forEach((w, i) => w.resolve(done.outcomes[i]));
    void this.spread(productId, done.product, done.stored);
  }

  /** After a commit: the stock event and the reservations' events, issued together (failures only logged). */
  private async spread(productId: string, product: ProductRow, stored: ReservationRow[]): Promise<void> {
    try {
      const sent: Promise<void>[] = [];
      if (stored.length) sent.push(announceStock(this.deps, product));
      for (const r of stored) sent.push(this.publish(r));
      await Promise.all(sent);
    } catch (err) {
      // Committed is committed: what follows only spreads the news.
      this.deps.log.warn({ err, productId }, 'after a batched commit: stock or reservation event failed');
    }
  }

  private async transaction(productId: string, batch: Waiting[]) {
    const now = this.deps.now();
    return this.deps.db.transaction(async (tx) => {
      const product = await getProduct(tx, productId);
      if (!product || product.startsAt > now || (product.endsAt && product.endsAt <= now)) throw new OneByOne();
      // Shoppers' active carts, locked in one order (user id) so concurrent batches cannot deadlock;
      // this serialises each shopper's reserves exactly as the single path does. Whole columns go
      // as one array parameter each (unnest): building a statement with a parameter per value
      // cost more CPU than the rest of the batch.
      const users = [...new Set(batch.map((w) => w.actor.userId))].sort();
      const cartRows = rowsOf<{ id: string; user_id: string }>(
        await tx.execute(sql`
          insert into carts (id, user_id, status)
          select c.id, c.user_id, 'ACTIVE' from unnest(${sql.param(users.map(() => randomUUID()))}::uuid[], ${sql.param(users)}::text[]) as c(id, user_id)
          on conflict (user_id) where status = 'ACTIVE' do update set updated_at = ${now.toISOString()}::timestamptz
          returning id, user_id`),
      );
      const cartOf = new Map(cartRows.map((c) => [c.user_id, c.id]));
      const heldRows = rowsOf<{ user_id: string; held: number }>(
        await tx.execute(sql`
          select user_id, coalesce(sum(quantity), 0)::int as held from reservations
          where product_id = ${productId} and user_id = any(${sql.param(users)}::text[]) and status = any(${sql.param([...HOLDING])}::text[])
          group by user_id`),
      );
      const held = new Map(heldRows.map((r) => [r.user_id, Number(r.held)]));
      // The per-user limit, in arrival order, counting earlier attempts of the same batch.
      const taken: Waiting[] = [];
      const refused: Waiting[] = [];
      for (const w of batch) {
        const h = held.get(w.actor.userId) ?? 0;
        if (h + w.quantity > product.perUserLimit) refused.push(w);
        else {
          held.set(w.actor.userId, h + w.quantity);
          taken.push(w);
        }
      }
      const units = taken.reduce((n, w) => n + w.quantity, 0);
      const mostHeld = Math.max(0, ...taken.map((w) => held.get(w.actor.userId)!));
      const expiresAt = new Date(now.getTime() + product.reservationTtlSeconds * 1000);
      let stored: ReservationRow[] = [];
      let after = product;
      if (taken.length) {
        stored = taken.map((w) => ({
          id: w.reservationId,
          cartId: cartOf.get(w.actor.userId)!,
          userId: w.actor.userId,
          productId,
          orderId: null,
          quantity: w.quantity,
          status: 'ACTIVE' as const,
          sequence: w.sequence,
          expiresAt,
          idempotencyKey: w.idempotencyKey ?? null,
          createdAt: now,
          updatedAt: now,
        }));
        const at = sql`${now.toISOString()}::timestamptz`;
        const col = <K extends keyof ReservationRow>(k: K) => sql.param(stored.map((r) => r[k]));
        await tx.execute(sql`
          insert into reservations (id, cart_id, user_id, product_id, quantity, status, sequence, expires_at, idempotency_key, created_at, updated_at)
          select r.id, r.cart_id, r.user_id, ${productId}, r.quantity, 'ACTIVE', r.sequence, ${expiresAt.toISOString()}::timestamptz, r.idempotency_key, ${at}, ${at}
          from unnest(${col('id')}::uuid[], ${col('cartId')}::uuid[], ${col('userId')}::text[], ${col('quantity')}::int[], ${col('sequence')}::bigint[], ${col('idempotencyKey')}::text[])
            as r(id, cart_id, user_id, quantity, sequence, idempotency_key)`);
        await tx.execute(sql`
          insert into stock_movements (product_id, kind, quantity, reservation_id, actor)
          select ${productId}, 'RESERVE', m.quantity, m.reservation_id, m.actor
          from unnest(${col('quantity')}::int[], ${col('id')}::uuid[], ${col('userId')}::text[]) as m(quantity, reservation_id, actor)`);
        // Last, so the product row stays locked only for this statement and the commit.
        const [moved] = await tx
          .update(products)
          .set({
            availableQuantity: sql`${products.availableQuantity} - ${units}`,
            reservedQuantity: sql`${products.reservedQuantity} + ${units}`,
            ...stockBump,
          })
          .where(
            and(
              eq(products.id, productId),
              sql`${products.availableQuantity} >= ${units}`,
              // The limit read above without a lock: checked again under it.
              sql`${products.perUserLimit} >= ${mostHeld}`,
              lte(products.startsAt, now),
              or(isNull(products.endsAt), gt(products.endsAt, now)),
            ),
          )
          .returning();
        // Not enough left for the whole batch (or the sale just closed): one by one, in order.
        if (!moved) throw new OneByOne();
        after = moved;
        if (moved.availableQuantity === 0) await writeSoldOut(tx, moved);
      }
      const byId = new Map(stored.map((r) => [r.id, r]));
      const outcomes: Outcome[] = batch.map((w) => {
        const r = byId.get(w.reservationId);
        return r ? { __typename: 'ReserveSuccess', reservation: r } : limitExceeded(product.perUserLimit);
      });
      return { outcomes, product: after, stored, refused };
    });
  }
}
