import type { ReservationRow } from '../../adapters/db/schema/tables.js';
import type { Actor, Deps } from '../context.js';
import { assertUuid, type InvalidInput, type NotFound, notFound } from '../results.js';
import { everySecond, Latest, subscribeThenRead } from '../streams.js';
import { getReservation } from './reserve.js';

export interface Countdown {
  reservation: ReservationRow;
  secondsLeft: number;
}

export const FINAL_RESERVATION_STATES = new Set(['PURCHASED', 'EXPIRED', 'RELEASED']);

/** After the hold's time is up, how often to look in Postgres should the EXPIRED event be lost. */
const OVERDUE_CHECK_MS = 5000;

/**
 * A shopper's reservation, now, then every whole second, then its final state
 * (PURCHASED, EXPIRED or RELEASED). The row is read from Postgres once, and again
 * only when a reservation event for it arrives (or, as a safety net, every few
 * seconds once it is overdue): the seconds are counted in memory on one
 * process-wide clock, not by a query per subscriber per second.
 */
export async function watchCountdown(
  deps: Deps,
  actor: Actor,
  reservationId: string,
  signal: AbortSignal,
): Promise<InvalidInput | NotFound | AsyncGenerator<Countdown>> {
  const bad = assertUuid('reservationId', reservationId);
  if (bad) return bad;
  const watch = await subscribeThenRead(
    (s) => deps.events.subscribe('reservation', reservationId, s),
    () => getReservation(deps, actor, reservationId),
    signal,
  );
  if (!watch) return notFound('Reservation');
  const { first, events, local } = watch;
  const wake = new Latest<true>();
  let eventPending = false;
  void (async () => {
    for await (const _e of events) {
      eventPending = true;
      wake.put(true);
    }
  })().catch(() => {});
  const stopTicks = everySecond(() => wake.put(true));
  // After a pub/sub outage the EXPIRED/PURCHASED event may be lost: look again.
  const stopResync = deps.events.onResync?.(() => {
    eventPending = true;
    wake.put(true);
  });
  local.signal.addEventListener(
    'abort',
    () => {
      wake.close();
      stopTicks();
      stopResync?.();
    },
    { once: true },
  );
  let r = first;
  return (async function* () {
    try {
      let lastCheck = Date.now();
      for (;;) {
        const final = FINAL_RESERVATION_STATES.has(r.status);
        const msLeft = r.expiresAt.getTime() - deps.now().getTime();
        yield { reservation: r, secondsLeft: final ? 0 : Math.max(0, Math.ceil(msLeft / 1000)) };
        if (final) return;
        if ((await wake.take()) === undefined) return;
        const overdue = r.expiresAt.getTime() - deps.now().getTime() < -1000 && Date.now() - lastCheck >= OVERDUE_CHECK_MS;
        if (eventPending || overdue) {
          eventPending = false;
          lastCheck = Date.now();
          r = (await getReservation(deps, actor, reservationId)) ?? r;
        }
      }
    } finally {
      stopTicks();
      watch.end();
    }
  })();
}
