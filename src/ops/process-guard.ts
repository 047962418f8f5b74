import type { Logger } from 'pino';

/** A stack frame in postgres.js's connection code. */
const POSTGRES_JS_CONNECTION = /postgres[/\\]src[/\\]connection\.js/;

/**
 * postgres.js 3.4.9 can throw from a `setImmediate` after a connection closed under it
 * (Postgres restarted): `TypeError: Cannot read properties of null (reading 'write')` in
 * `nextWrite` (porsager/postgres#1154, #1208; fixes open upstream as #1168 / #1209). The
 * query on that connection has already been rejected with CONNECTION_CLOSED, so the
 * throw carries no work; without this guard it kills the process. This handler survives
 * exactly that signature and nothing else: any other uncaught exception still logs and
 * exits with status 1, as Node would. Remove once postgres.js ships the guard.
 */
export function isPostgresJsClosedSocketWrite(err: unknown): boolean {
  if (!(err instanceof TypeError)) return false;
  const stack = err.stack ?? '';
  return /reading 'write'/.test(err.message) && /nextWrite/.test(stack) && POSTGRES_JS_CONNECTION.test(stack);
}

/** postgres.js's own errors for a lost connection (src/errors.js `connection`). */
const DRIVER_CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED', 'CONNECT_TIMEOUT']);

/**
 * A rejection nobody handles, of a query postgres.js runs itself: every new connection's first
 * statement is its array-types query (`fetch_types`), whose promise the driver drops
 * (porsager/postgres#1192, #1205, #1223; open upstream). When Postgres shuts down or restarts
 * just as a connection opens, that query fails (57P01 "terminating connection due to
 * administrator command", or the connection closing under it), the rejection is unhandled, and
 * Node ends the process: found by the fault test "Postgres restarted mid-sale", where the worker
 * died in about one run in six. Recognised by what it is, a connection loss reported by
 * postgres.js (its connection errors, or a server error of class 08 or 57P0x / a cancelled
 * statement raised in its connection code); our own queries are all awaited, so their failures
 * never arrive here.
 */
export function isPostgresJsConnectionLoss(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !POSTGRES_JS_CONNECTION.test(err.stack ?? '')) return false;
  if (DRIVER_CONNECTION_CODES.has(code)) return true;
  return err.name === 'PostgresError' && (/^08/.test(code) || /^57P0[1-3]$/.test(code) || code === '57014');
}

export function installProcessGuard(log: Logger): void {
  process.on('uncaughtException', (err, origin) => {
    if (isPostgresJsClosedSocketWrite(err)) {
      log.warn({ err: err.message }, 'postgres.js wrote to a closed connection (known driver bug); the query was already failed, continuing');
      return;
    }
    // A rejection (not a throw: nothing was unwound), of the driver's own query: the connection
    // is gone and postgres.js opens another for the next query.
    if (origin === 'unhandledRejection' && isPostgresJsConnectionLoss(err)) {
      log.warn({ err: err.message, code: (err as { code?: string }).code }, 'postgres.js lost a connection while running its own startup query (known driver bug); continuing');
      return;
    }
    log.fatal({ err }, origin === 'unhandledRejection' ? 'unhandled rejection; exiting' : 'uncaught exception; exiting');
    process.exit(1);
  });
}
