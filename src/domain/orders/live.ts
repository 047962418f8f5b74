import type { OrderRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { assertUuid, type InvalidInput, type NotFound, notFound } from '../results.js';
import { Latest, subscribeThenRead } from '../streams.js';
import { getOrder } from './checkout.js';

/**
 * States an order never leaves. COMPLETED is not one: a paid order is CANCELLED when it is refunded
 * (`refundOrder`, `cancelSale`, a refund made at the gateway), and its shopper's page shows it.
 */
export const FINAL_ORDER_STATES = new Set(['FAILED', 'CANCELLED']);

/**
 * A shopper's order, now and after every change of status or payment status, until a
 * final state (a paid order's stream stays open: a refund may still cancel it). Postgres is read once, then once per order event for it (and after a
 * pub/sub outage, when its event may have been lost).
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
  return (async function* () {
    try {
      yield order;
      while (!FINAL_ORDER_STATES.has(order.status)) {
        if ((await wake.take()) === undefined) return;
        const fresh = await getOrder(deps, actor, orderId);
        if (!fresh || (fresh.status === order.status && fresh.paymentStatus === order.paymentStatus)) continue;
        order = fresh;
        yield order;
      }
    } finally {
      watch.end();
    }
  })();
}
