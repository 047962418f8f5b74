import type { Logger } from 'pino';

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
  return /reading 'write'/.test(err.message) && /nextWrite/.test(stack) && /postgres[/\\]src[/\\]connection\.js/.test(stack);
}

export function installProcessGuard(log: Logger): void {
  process.on('uncaughtException', (err) => {
    if (isPostgresJsClosedSocketWrite(err)) {
      log.warn({ err: err.message }, 'postgres.js wrote to a closed connection (known driver bug); the query was already failed, continuing');
      return;
    }
    log.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
}
