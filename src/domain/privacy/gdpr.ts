import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Tx } from '../../adapters/db/client.js';
import { auditLog } from '../../adapters/db/schema/audit.js';
import { blockedShoppers, carts, orderItems, orders, outbox, payments, refunds, reservations, stockMovements } from '../../adapters/db/schema/tables.js';
import { recordAudit } from '../audit.js';
import type { Actor, Deps } from '../context.js';
import { shippingAddressOf } from './address.js';

/**
 * One module's share of a shopper's personal data: what to export, how to erase it.
 * Every module that stores data about a shopper adds its source to PERSONAL_DATA
 * (notifications adds contact details), so export and erasure stay complete.
 */
export interface PersonalDataSource {
  name: string;
  export(deps: Deps, userId: string): Promise<unknown>;
  /** Removes personal data and replaces the shopper id with `pseudonym`, in the erase transaction. Returns rows touched. */
  erase(deps: Deps, tx: Tx, userId: string, pseudonym: string): Promise<number>;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

/** Carts, reservations, orders (with their shipping address opened), payments and refunds, stock movements. */
export const shoppingData: PersonalDataSource = {
  name: 'shopping',
  async export(deps, userId) {
    const cartRows = await deps.db.select().from(carts).where(eq(carts.userId, userId)).orderBy(asc(carts.createdAt));
    const resRows = await deps.db.select().from(reservations).where(eq(reservations.userId, userId)).orderBy(asc(reservations.createdAt));
    const orderRows = await deps.db.select().from(orders).where(eq(orders.userId, userId)).orderBy(asc(orders.createdAt));
    const ids = orderRows.map((o) => o.id);
    const items = ids.length ? await deps.db.select().from(orderItems).where(inArray(orderItems.orderId, ids)) : [];
    const pays = ids.length ? await deps.db.select().from(payments).where(inArray(payments.orderId, ids)).orderBy(asc(payments.createdAt)) : [];
    const backs = ids.length ? await deps.db.select().from(refunds).where(inArray(refunds.orderId, ids)).orderBy(asc(refunds.createdAt)) : [];
    const moves = await deps.db.select().from(stockMovements).where(eq(stockMovements.actor, userId)).orderBy(asc(stockMovements.at));
    return {
      carts: cartRows.map((c) => ({ id: c.id, status: c.status, createdAt: iso(c.createdAt), updatedAt: iso(c.updatedAt) })),
      reservations: resRows.map((r) => ({
        id: r.id,
        cartId: r.cartId,
        productId: r.productId,
        orderId: r.orderId,
        quantity: r.quantity,
        status: r.status,
        sequence: r.sequence,
        expiresAt: iso(r.expiresAt),
        createdAt: iso(r.createdAt),
      })),
      orders: orderRows.map((o) => ({
        id: o.id,
        cartId: o.cartId,
        status: o.status,
        paymentStatus: o.paymentStatus,
        total: { amount: o.totalAmount, currency: o.currency },
        paymentMethod: o.paymentMethod,
        shippingAddress: shippingAddressOf(deps, o),
        transactionId: o.transactionId,
        createdAt: iso(o.createdAt),
        items: items.filter((i) => i.orderId === o.id).map((i) => ({ productId: i.productId, quantity: i.quantity, unitAmount: i.unitAmount, currency: i.currency })),
        payments: pays
          .filter((p) => p.orderId === o.id)
          .map((p) => ({ attempt: p.attempt, gateway: p.gateway, paymentMethod: p.paymentMethod, amount: p.amount, currency: p.currency, status: p.status, transactionId: p.transactionId, at: iso(p.createdAt) })),
        refunds: backs
          .filter((r) => r.orderId === o.id)
          .map((r) => ({ gateway: r.gateway, amount: r.amount, currency: r.currency, status: r.status, transactionId: r.transactionId, refundId: r.refundId, at: iso(r.createdAt) })),
      })),
      stockMovements: moves.map((m) => ({ productId: m.productId, kind: m.kind, quantity: m.quantity, reservationId: m.reservationId, orderId: m.orderId, at: iso(m.at) })),
    };
  },
  async erase(_deps, tx, userId, pseudonym) {
    let n = 0;
    // Orders stay for accounting, without the address and under the pseudonym.
    n += (await tx.update(orders).set({ userId: pseudonym, shippingAddress: null, shippingAddressSealed: null }).where(eq(orders.userId, userId)).returning({ id: orders.id })).length;
    n += (await tx.update(reservations).set({ userId: pseudonym }).where(eq(reservations.userId, userId)).returning({ id: reservations.id })).length;
    n += (await tx.update(carts).set({ userId: pseudonym }).where(eq(carts.userId, userId)).returning({ id: carts.id })).length;
    n += (await tx.update(stockMovements).set({ actor: pseudonym }).where(eq(stockMovements.actor, userId)).returning({ id: stockMovements.id })).length;
    return n;
  },
};

/** Messages queued or sent for the shopper (their payloads may name them). */
export const outboxData: PersonalDataSource = {
  name: 'outbox',
  async export(deps, userId) {
    const rows = await deps.db.select().from(outbox).where(eq(outbox.userId, userId)).orderBy(asc(outbox.createdAt));
    return rows.map((r) => ({ topic: r.topic, status: r.status, payload: r.payload, createdAt: iso(r.createdAt), deliveredAt: iso(r.deliveredAt) }));
  },
  async erase(_deps, tx, userId, pseudonym) {
    return (await tx.update(outbox).set({ userId: pseudonym }).where(eq(outbox.userId, userId)).returning({ id: outbox.id })).length;
  },
};

/** What the shopper did that was audited. */
export const auditData: PersonalDataSource = {
  name: 'audit',
  async export(deps, userId) {
    const rows = await deps.db.select().from(auditLog).where(eq(auditLog.actor, userId)).orderBy(asc(auditLog.at));
    return rows.map((r) => ({ action: r.action, target: r.target, outcome: r.outcome, at: iso(r.at) }));
  },
  async erase(_deps, tx, userId, pseudonym) {
    return (await tx.update(auditLog).set({ actor: pseudonym }).where(and(eq(auditLog.actor, userId))).returning({ id: auditLog.id })).length;
  },
};

/**
 * Whether an operator blocked the shopper (blockShoppers), and why. Kept on erasure, under the
 * shopper's id: keeping a blocked account off the stock is fraud prevention, and a block moved to
 * the pseudonym would let the account back in.
 */
export const blockData: PersonalDataSource = {
  name: 'blocks',
  async export(deps, userId) {
    const [b] = await deps.db.select().from(blockedShoppers).where(eq(blockedShoppers.userId, userId));
    return b ? { blocked: true, reason: b.reason, blockedAt: iso(b.blockedAt) } : { blocked: false };
  },
  async erase() {
    return 0;
  },
};

/** Every source of personal data; modules append theirs. */
export const PERSONAL_DATA: PersonalDataSource[] = [shoppingData, outboxData, auditData, blockData];

export interface MyDataExport {
  format: 'flashsale.personal-data.v1';
  subject: string;
  exportedAt: string;
  data: Record<string, unknown>;
}

/** Everything held about the signed-in shopper, as one JSON-ready object. */
export async function exportMyData(deps: Deps, actor: Actor, requestId?: string): Promise<MyDataExport> {
  const data: Record<string, unknown> = {};
  for (const source of PERSONAL_DATA) data[source.name] = await source.export(deps, actor.userId);
  await recordAudit(deps.db, { actor: actor.userId, action: 'privacy.export', target: actor.userId, requestId });
  return { format: 'flashsale.personal-data.v1', subject: actor.userId, exportedAt: deps.now().toISOString(), data };
}

export interface EraseSuccess {
  __typename: 'EraseSuccess';
  erasedAt: Date;
  /** The id the shopper's kept records (orders, for accounting) now carry. */
  pseudonym: string;
  recordsPseudonymised: number;
}

/**
 * Erases the shopper's personal data: addresses removed, every record they own kept
 * (orders for accounting) under a random pseudonym no key can map back. One transaction.
 */
export async function eraseMyData(deps: Deps, actor: Actor, requestId?: string): Promise<EraseSuccess> {
  const pseudonym = `erased-${randomUUID()}`;
  const now = deps.now();
  const touched = await deps.db.transaction(async (tx) => {
    let n = 0;
    for (const source of PERSONAL_DATA) n += await source.erase(deps, tx, actor.userId, pseudonym);
    // The erasure itself is audited under the pseudonym, never the erased id.
    await recordAudit(tx, { actor: pseudonym, action: 'privacy.erase', target: pseudonym, details: { records: n }, requestId });
    return n;
  });
  deps.log.info({ pseudonym, records: touched }, 'personal data erased');
  return { __typename: 'EraseSuccess', erasedAt: now, pseudonym, recordsPseudonymised: touched };
}
