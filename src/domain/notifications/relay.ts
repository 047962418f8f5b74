import { createHash, randomUUID } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { rowsOf } from '../../adapters/db/client.js';
import { timestamptz } from '../../adapters/db/rows.js';
import { notificationDeliveries, type DeliveryRow } from '../../adapters/db/schema/notifications.js';
import { orderItems, orders, outbox, products, reservations } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { groupBy } from '../batches.js';
import { addressFor, contactsOf } from './contacts.js';
import { followersOf } from './follows.js';
import type { NotificationChannel, OutgoingMessage } from './port.js';
import { templates } from './templates/index.js';
import type { MessageView, OrderSummary } from './templates/layout.js';

export type OutboxRow = typeof outbox.$inferSelect;

/** Topics whose recipients are the followers of the product (aggregate id), not the event's shopper. */
const FOLLOWER_TOPICS = new Set(['product.sold_out', 'product.back_in_stock', 'product.sale_started', 'product.sale_rescheduled', 'product.sale_cancelled']);

/**
 * Exponential backoff with jitter: the n-th failed attempt waits a random time between
 * half and all of min(max, base * 2^(n-1)), so retries of many events spread out.
 */
export function backoffMs(attempt: number, base: number, max: number, random = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Claims up to `limit` due events, none for a shopper while an earlier event of the same order or
 * hold for them is pending: `FOR UPDATE SKIP LOCKED` so concurrent workers take
 * different rows, and a lease (`next_attempt_at` pushed forward) so a worker that dies
 * mid-batch leaves its rows to the others once the lease runs out. Each claim counts as
 * an attempt; the new attempt number is the fencing token for recording the outcome.
 * Due by the caller's clock (`deps.now()`, which retries are scheduled by) or the database's: most
 * events are written with the database's `now()` (microseconds), which a pass run within the same
 * millisecond would otherwise find not due yet, leaving a fresh event to the next pass.
 */
export async function claimDue(deps: Deps, limit: number): Promise<OutboxRow[]> {
  const { leaseSeconds } = deps.notifications.settings;
  const now = deps.now();
  const at = timestamptz(now);
  const lease = timestamptz(new Date(now.getTime() + leaseSeconds * 1000));
  const rows = rowsOf<Record<string, unknown>>(
    await deps.db.execute(sql`
      update outbox o set attempts = o.attempts + 1, next_attempt_at = ${lease}
      where o.id in (
        select d.id from outbox d
        where d.status = 'PENDING' and d.next_attempt_at <= greatest(${at}, now())
          -- Head of line for a shopper's own messages: not while an earlier event of the same order or
          -- hold for them is pending (retrying, or claimed by another worker), so none overtakes it
          -- across passes. Not for followers' broadcasts (no user_id): one follower's failing address,
          -- retried for minutes, must not hold "back in stock" or "sale started" from all the others.
          and (d.user_id is null or not exists (
            select 1 from outbox e
            where e.status = 'PENDING' and e.aggregate_id = d.aggregate_id and e.user_id = d.user_id and e.created_at < d.created_at
          ))
        order by d.next_attempt_at
        limit ${limit}
        for update skip locked
      )
      returning o.id, o.topic, o.aggregate_id, o.user_id, o.payload, o.attempts, o.created_at`),
  );
  return rows.map((r) => ({
    id: String(r.id),
    topic: String(r.topic),
    aggregateId: String(r.aggregate_id),
    userId: (r.user_id as string | null) ?? null,
    payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
    status: 'PENDING',
    attempts: Number(r.attempts),
    nextAttemptAt: now,
    lastError: null,
    createdAt: new Date(r.created_at as string),
    deliveredAt: null,
  }));
}

/**
 * One relay pass: claim a batch, deliver each event, record the outcomes. Returns how many were
 * claimed. Four lanes deliver side by side, but a product's or an order's events of one pass go
 * through one lane in the order they were written, so followers are not told "back in stock"
 * before "sold out"; and a shopper's event waits while an earlier one of its order or hold is pending
 * (`claimDue`; a shopper's own messages), so a shopper is not told "payment failed" after "order
 * confirmed" because the first message was retried.
 */
export async function relayOnce(deps: Deps): Promise<number> {
  const { batchSize } = deps.notifications.settings;
  const claimed = await claimDue(deps, batchSize);
  const byAggregate = groupBy(claimed, (ev) => ev.aggregateId);
  const groups = [...byAggregate.values()].map((g) => g.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()));
  let next = 0;
  const lane = async () => {
    while (next < groups.length) for (const ev of groups[next++]) await deliverEvent(deps, ev);
  };
  await Promise.all(Array.from({ length: Math.min(4, groups.length) }, lane));
  return claimed.length;
}

interface Planned {
  msg: OutgoingMessage;
  userId: string;
}

/** Renews the lease if this worker still holds the claim (attempt number unchanged). */
async function stillMine(deps: Deps, ev: OutboxRow): Promise<boolean> {
  const lease = new Date(deps.now().getTime() + deps.notifications.settings.leaseSeconds * 1000);
  const rows = await deps.db
    .update(outbox)
    .set({ nextAttemptAt: lease })
    .where(and(eq(outbox.id, ev.id), eq(outbox.attempts, ev.attempts), eq(outbox.status, 'PENDING')))
    .returning({ id: outbox.id });
  return rows.length === 1;
}

/** Fans one claimed event out to its recipients' accepted channels and records the outcome. */
export async function deliverEvent(deps: Deps, ev: OutboxRow): Promise<void> {
  const { maxAttempts, retryBaseMs, retryMaxMs } = deps.notifications.settings;
  let errors: string[] = [];
  try {
    const template = templates[ev.topic];
    if (!template) {
      await finish(deps, ev, 'DEAD', `No template for topic "${ev.topic}"`);
      return;
    }
    const planned = await plan(deps, ev);
    const done = new Map<string, DeliveryRow>();
    if (planned.length) {
      const rows = await deps.db.select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, ev.id));
      for (const r of rows) done.set(r.messageKey, r);
    }
    for (const p of planned) {
      const prior = done.get(p.msg.key);
      if (prior?.status === 'SENT') continue;
      const sender = deps.notifications.notifier[p.msg.channel];
      if (!(await stillMine(deps, ev))) return; // the lease ran out and another worker took over
      try {
        if (prior?.status === 'SENDING' && sender.findSent) {
          // The last attempt died mid-send: ask the provider before sending again.
          const found = await sender.findSent(p.msg);
          if (found) {
            await markSent(deps, p.msg.key, sender.transport, found.providerId);
            continue;
          }
        }
        await deps.db
          .insert(notificationDeliveries)
          .values({
            id: randomUUID(),
            outboxId: ev.id,
            userId: p.userId,
            channel: p.msg.channel,
            messageKey: p.msg.key,
            transport: sender.transport,
            status: 'SENDING',
            attempts: 1,
          })
          .onConflictDoUpdate({
            target: notificationDeliveries.messageKey,
            set: { status: 'SENDING', attempts: sql`${notificationDeliveries.attempts} + 1`, transport: sender.transport, updatedAt: deps.now() },
          });
        const receipt = await sender.send(p.msg);
        await markSent(deps, p.msg.key, sender.transport, receipt.providerId);
      } catch (err) {
        const why = describe(err);
        errors.push(`${p.msg.channel}: ${why}`);
        await deps.db
          .update(notificationDeliveries)
          .set({ status: 'FAILED', lastError: why.slice(0, 1000), updatedAt: deps.now() })
          .where(eq(notificationDeliveries.messageKey, p.msg.key));
      }
    }
  } catch (err) {
    errors = [`relay: ${describe(err)}`];
  }
  if (errors.length === 0) return finish(deps, ev, 'DELIVERED', null);
  const lastError = errors.join('; ').slice(0, 2000);
  if (ev.attempts >= maxAttempts) {
    deps.log.warn({ outboxId: ev.id, topic: ev.topic, attempts: ev.attempts, lastError }, 'notification dead-lettered');
    return finish(deps, ev, 'DEAD', lastError);
  }
  const wait = backoffMs(ev.attempts, retryBaseMs, retryMaxMs);
  await deps.db
    .update(outbox)
    .set({ lastError, nextAttemptAt: new Date(deps.now().getTime() + wait) })
    .where(and(eq(outbox.id, ev.id), eq(outbox.attempts, ev.attempts), eq(outbox.status, 'PENDING')));
}

async function markSent(deps: Deps, key: string, transport: string, providerId: string) {
  const now = deps.now();
  await deps.db
    .update(notificationDeliveries)
    .set({ status: 'SENT', transport, providerId, lastError: null, sentAt: now, updatedAt: now })
    .where(eq(notificationDeliveries.messageKey, key));
}

async function finish(deps: Deps, ev: OutboxRow, status: 'DELIVERED' | 'DEAD', lastError: string | null) {
  await deps.db
    .update(outbox)
    .set({ status, lastError, deliveredAt: status === 'DELIVERED' ? deps.now() : null })
    .where(and(eq(outbox.id, ev.id), eq(outbox.attempts, ev.attempts), eq(outbox.status, 'PENDING')));
}

function describe(err: unknown): string {
  const e = err as { message?: string; responseCode?: number; status?: number; code?: string | number };
  const code = e?.responseCode ?? e?.status ?? e?.code;
  return `${code !== undefined ? `[${code}] ` : ''}${e?.message ?? String(err)}`.replace(/\s+/g, ' ').trim();
}

/**
 * The stable key of one message: the outbox row id and the channel, plus a hash of the
 * recipient when one event goes to many (followers). It never changes across retries.
 */
export function messageKey(outboxId: string, channel: NotificationChannel, recipient?: string): string {
  const base = `${outboxId}.${channel.toLowerCase()}`;
  return recipient ? `${base}.${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}` : base;
}

/** Who gets this event, on which channels, with what text. */
async function plan(deps: Deps, ev: OutboxRow): Promise<Planned[]> {
  const fanOut = FOLLOWER_TOPICS.has(ev.topic);
  // A sale-start notice goes to those who followed before the sale opened.
  const before = ev.topic === 'product.sale_started' ? await saleStart(deps, ev.aggregateId) : undefined;
  const recipients = fanOut ? await followersOf(deps, ev.aggregateId, before) : ev.userId ? [ev.userId] : [];
  if (recipients.length === 0) return [];
  const contacts = await contactsOf(deps, recipients);
  if (contacts.size === 0) return [];
  const rendered = templates[ev.topic].render(await loadView(deps, ev));
  const out: Planned[] = [];
  for (const userId of recipients) {
    const c = contacts.get(userId);
    if (!c) continue;
    for (const channel of c.channels) {
      const to = addressFor(c, channel);
      if (!to) continue;
      out.push({
        userId,
        msg: {
          key: messageKey(ev.id, channel, fanOut ? userId : undefined),
          channel,
          topic: ev.topic,
          to,
          subject: rendered.subject,
          text: channel === 'SMS' ? rendered.sms : rendered.text,
          html: channel === 'EMAIL' ? rendered.html : undefined,
        },
      });
    }
  }
  return out;
}

async function saleStart(deps: Deps, productId: string): Promise<Date | undefined> {
  const [p] = await deps.db.select({ startsAt: products.startsAt }).from(products).where(eq(products.id, productId));
  return p?.startsAt;
}

type Payload = Record<string, unknown>;

/** The facts a template shows, read now from the tables (the payload fills gaps). */
async function loadView(deps: Deps, ev: OutboxRow): Promise<MessageView> {
  const p = (ev.payload ?? {}) as Payload;
  if (ev.topic.startsWith('order.') || ev.topic.startsWith('payment.')) {
    const orderId = String(p.orderId ?? ev.aggregateId);
    return { order: await orderSummary(deps, orderId, p) };
  }
  if (ev.topic.startsWith('reservation.')) {
    const id = String(p.reservationId ?? ev.aggregateId);
    const [r] = await deps.db
      .select({ r: reservations, name: products.name })
      .from(reservations)
      .innerJoin(products, eq(products.id, reservations.productId))
      .where(eq(reservations.id, id));
    return {
      reservation: {
        id,
        productName: r?.name ?? String(p.productId ?? 'your item'),
        quantity: r?.r.quantity ?? Number(p.quantity ?? 1),
        expiresAt: r?.r.expiresAt ?? (p.expiresAt ? new Date(String(p.expiresAt)) : null),
        orderId: r?.r.orderId ?? (p.orderId as string | null) ?? null,
        revoked: r?.r.revoked ?? (p.revoked as 'SALE_CANCELLED' | 'BLOCKED' | undefined) ?? null,
      },
    };
  }
  const productId = String(p.productId ?? ev.aggregateId);
  const [prod] = await deps.db.select().from(products).where(eq(products.id, productId));
  const name = prod?.name ?? String(p.name ?? productId);
  if (ev.topic === 'product.sale_rescheduled') {
    // The window this change set (the event's own), not whatever a later change made of it.
    const at = (v: unknown) => (typeof v === 'string' ? new Date(v) : null);
    return { product: { id: productId, name, startsAt: at(p.startsAt) ?? prod?.startsAt ?? null, endsAt: at(p.endsAt), open: p.open === true } };
  }
  return { product: { id: productId, name, startsAt: prod?.startsAt ?? null } };
}

async function orderSummary(deps: Deps, orderId: string, p: Payload): Promise<OrderSummary> {
  const [o] = await deps.db.select().from(orders).where(eq(orders.id, orderId));
  const items = o
    ? await deps.db
        .select({ name: products.name, quantity: orderItems.quantity, unitAmount: orderItems.unitAmount })
        .from(orderItems)
        .innerJoin(products, eq(products.id, orderItems.productId))
        .where(eq(orderItems.orderId, orderId))
    : ((p.items as { name?: string; productId: string; quantity: number; unitAmount: number }[] | undefined) ?? []).map((i) => ({
        name: i.name ?? i.productId,
        quantity: i.quantity,
        unitAmount: i.unitAmount,
      }));
  return {
    id: orderId,
    items,
    total: o?.totalAmount ?? Number(p.total ?? 0),
    currency: o?.currency ?? String(p.currency ?? 'USD'),
    transactionId: o?.transactionId ?? (p.transactionId as string | null) ?? null,
    declineCode: (p.declineCode as string | null) ?? null,
  };
}
