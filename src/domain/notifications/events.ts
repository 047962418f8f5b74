import { randomUUID } from 'node:crypto';
import { type SQL, sql } from 'drizzle-orm';
import { rowsOf, type Tx } from '../../adapters/db/client.js';
import { timestamptz } from '../../adapters/db/rows.js';
import type { ProductRow } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';

/**
 * Outbox events this module writes itself. Each is written in the same transaction as
 * the change it announces (or, for the time-driven ones, with the marker row that makes
 * it happen exactly once).
 */

/**
 * The statement that writes one outbox row (a hand-written statement, for transactions on the hot
 * paths; the payload goes as JSON text and is stored as jsonb).
 */
export function outboxInsert(topic: string, aggregateId: string, userId: string | null, payload: Record<string, unknown>): SQL {
  return sql`
    insert into outbox (id, topic, aggregate_id, user_id, payload)
    values (${randomUUID()}, ${topic}, ${aggregateId}, ${userId}, ${JSON.stringify(payload)}::text::jsonb)`;
}

/** In the reserve transaction that took a product's last unit. */
export async function writeSoldOut(tx: Tx, product: Pick<ProductRow, 'id' | 'name' | 'version'>): Promise<void> {
  await tx.execute(outboxInsert('product.sold_out', product.id, null, { productId: product.id, name: product.name, version: product.version }));
}

/**
 * In the transaction of an operator's restock (setStock) that put units back on sale when none were
 * left: the product's followers are told it is back (a hold expiring on a sold-out product is not
 * told: that comes back for a moment, as the sold-out message says).
 */
export async function writeBackInStock(tx: Tx, product: Pick<ProductRow, 'id' | 'name' | 'version' | 'availableQuantity'>): Promise<void> {
  await tx.execute(
    outboxInsert('product.back_in_stock', product.id, null, { productId: product.id, name: product.name, version: product.version, available: product.availableQuantity }),
  );
}

/**
 * In the transaction that moved a product's sale window (`rescheduleSale`): its followers are told
 * the new window. `open`: the sale was already open (only its end moved). Not written for a sale
 * brought forward to open now: the start notice tells them that.
 */
export async function writeSaleRescheduled(
  tx: Tx,
  product: Pick<ProductRow, 'id' | 'name' | 'version' | 'startsAt' | 'endsAt'>,
  open: boolean,
): Promise<void> {
  await tx.execute(
    outboxInsert('product.sale_rescheduled', product.id, null, {
      productId: product.id,
      name: product.name,
      version: product.version,
      startsAt: product.startsAt.toISOString(),
      endsAt: product.endsAt ? product.endsAt.toISOString() : null,
      open,
    }),
  );
}

/**
 * One `reservation.expiring` reminder per hold that expires within `withinSeconds`:
 * the marker row and the outbox row are written by one statement, so a hold is
 * reminded exactly once however many workers run this at once.
 */
export async function writeExpiryReminders(deps: Deps, withinSeconds: number, batch = 500): Promise<number> {
  if (withinSeconds <= 0) return 0;
  const now = deps.now();
  const at = timestamptz(now);
  const until = timestamptz(new Date(now.getTime() + withinSeconds * 1000));
  const rows = rowsOf<{ id: string }>(
    await deps.db.execute(sql`
      with due as (
        insert into reservation_reminders (reservation_id)
        select r.id from reservations r
        where r.status in ('ACTIVE', 'CHECKED_OUT') and r.expires_at > ${at} and r.expires_at <= ${until}
          and not exists (select 1 from reservation_reminders m where m.reservation_id = r.id)
        order by r.expires_at
        limit ${batch}
        on conflict do nothing
        returning reservation_id
      )
      insert into outbox (id, topic, aggregate_id, user_id, payload)
      select gen_random_uuid(), 'reservation.expiring', r.id::text, r.user_id,
        jsonb_build_object('reservationId', r.id, 'productId', r.product_id, 'quantity', r.quantity,
                           'orderId', r.order_id, 'expiresAt', r.expires_at)
      from due join reservations r on r.id = due.reservation_id
      returning id`),
  );
  return rows.length;
}

/**
 * One `product.sale_started` notice per product whose sale opened in the last hour and
 * that someone followed before it opened (the marker makes it once per product).
 */
export async function writeSaleStartNotices(deps: Deps): Promise<number> {
  const now = deps.now();
  const at = timestamptz(now);
  const since = timestamptz(new Date(now.getTime() - 3_600_000));
  const rows = rowsOf<{ id: string }>(
    await deps.db.execute(sql`
      with due as (
        insert into sale_start_notices (product_id)
        select p.id from products p
        where p.starts_at <= ${at} and p.starts_at > ${since} and (p.ends_at is null or p.ends_at > ${at})
          and exists (select 1 from product_follows f where f.product_id = p.id and f.created_at <= p.starts_at)
          and not exists (select 1 from sale_start_notices n where n.product_id = p.id)
        on conflict do nothing
        returning product_id
      )
      insert into outbox (id, topic, aggregate_id, user_id, payload)
      select gen_random_uuid(), 'product.sale_started', p.id, null, jsonb_build_object('productId', p.id, 'name', p.name)
      from due join products p on p.id = due.product_id
      returning id`),
  );
  return rows.length;
}
