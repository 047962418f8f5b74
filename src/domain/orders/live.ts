import type { OrderRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { assertUuid, type InvalidInput, type NotFound, notFound } from '../results.js';
import { Latest, subscribeThenRead } from '../streams.js';
import { getOrder } from './checkout.js';
import { refundsOfOrders } from './refund.js';

/**
 * States an order never leaves. COMPLETED is not one: a paid order is CANCELLED when it is refunded
 * (`refundOrder`, `cancelSale`, a refund made at the gateway), and its shopper's page shows it.
 */
export const FINAL_ORDER_STATES = new Set(['FAILED', 'CANCELLED']);

/** The order's refunds as the page shows them: each one's status (a change is worth telling). */
async function refundsSeen(deps: Deps, orderId: string): Promise<string> {
  return ((await refundsOfOrders(deps, [orderId])).get(orderId) ?? []).map((r) => `${r.id}:${r.status}`).join(',');
}

/**
 * A shopper's order, now and after every change of status or payment status, and after each of its
 * refunds is made or fails for good, until a final state with no refund pending (a paid order's
 * stream stays open: a refund may still cancel it; a cancelled one stays open until its refund's
 * outcome, which `cancelSale`'s refunds and a refund the gateway failed at first reach later).
 * Postgres is read once, then once per order event for it (and after a pub/sub outage, when its
 * event may have been lost).
 */
export async function watchOrder(
  deps: Deps,
  actor: Actor,
  orderId: string,
  signal: AbortSignal,
): Promise<InvalidInput | NotFound | AsyncGenerator<OrderRow>> {
  const bad = assertUuid('orderId', orderId);
  if (bad) return bad;
  const watch = await subscribeThenRead(
    (s) => deps.events.subscribe('order', orderId, s),
    () => getOrder(deps, actor, orderId),
    signal,
  );
  if (!watch) return notFound('Order');
  const { first, events, local } = watch;
  const wake = new Latest<true>();
  void (async () => {
    for await (const _e of events) wake.put(true);
  })().catch(() => {});
  const stopResync = deps.events.onResync?.(() => wake.put(true));
  local.signal.addEventListener(
    'abort',
    () => {
      wake.close();
      stopResync?.();
    },
    { once: true },
  );
  let order = first;
  let seen = '';
  /** Over once final with no refund pending: nothing about it changes any more. */
  const over = () => FINAL_ORDER_STATES.has(order.status) && !seen.includes(':PENDING');
  return (async function* () {
    try {
      // Read after subscribing, as the order was: a refund's outcome from now on wakes the loop.
      seen = await refundsSeen(deps, orderId);
      yield order;
      while (!over()) {
        if ((await wake.take()) === undefined) return;
        const fresh = await getOrder(deps, actor, orderId);
        if (!fresh) continue;
        const refunded = await refundsSeen(deps, orderId);
        if (fresh.status === order.status && fresh.paymentStatus === order.paymentStatus && refunded === seen) continue;
        order = fresh;
        seen = refunded;
        yield order;
      }
    } finally {
      watch.end();
    }
  })();
}
