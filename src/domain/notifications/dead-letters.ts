import { and, desc, eq } from 'drizzle-orm';
import { notificationDeliveries, type DeliveryRow } from '../../adapters/db/schema/notifications.js';
import { outbox } from '../../adapters/db/schema/tables.js';
import type { Deps } from '../context.js';
import { assertIntRange, assertUuid, type InvalidInput, type NotFound, notFound } from '../results.js';
import type { OutboxRow } from './relay.js';

export interface DeadLetter extends OutboxRow {
  deliveries: DeliveryRow[];
}

/** Outbox events that ran out of attempts, newest first, with their per-channel delivery records. */
export async function listDeadLetters(deps: Deps, limit = 100): Promise<DeadLetter[] | InvalidInput> {
  const bad = assertIntRange('limit', limit, 1, 1000);
  if (bad) return bad;
  const rows = await deps.db.select().from(outbox).where(eq(outbox.status, 'DEAD')).orderBy(desc(outbox.createdAt)).limit(limit);
  const out: DeadLetter[] = [];
  for (const r of rows) {
    out.push({ ...r, deliveries: await deps.db.select().from(notificationDeliveries).where(eq(notificationDeliveries.outboxId, r.id)) });
  }
  return out;
}

export interface ReplaySuccess {
  __typename: 'ReplaySuccess';
  event: OutboxRow;
}
export type ReplayResult = ReplaySuccess | NotFound | InvalidInput;

/**
 * Puts a dead letter back in the queue with a fresh budget of attempts. Messages it
 * already delivered on some channels are not sent again (their delivery records are SENT).
 */
export async function replayDeadLetter(deps: Deps, id: string): Promise<ReplayResult> {
  const bad = assertUuid('id', id);
  if (bad) return bad;
  const [row] = await deps.db
    .update(outbox)
    .set({ status: 'PENDING', attempts: 0, nextAttemptAt: deps.now() })
    .where(and(eq(outbox.id, id), eq(outbox.status, 'DEAD')))
    .returning();
  if (!row) return notFound('Dead letter');
  deps.log.info({ outboxId: id, topic: row.topic }, 'dead letter replayed');
  return { __typename: 'ReplaySuccess', event: row };
}
