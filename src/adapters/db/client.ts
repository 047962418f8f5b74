import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { entityKind, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import { causes } from '../../domain/context.js';
import type { Logger } from 'pino';
import postgres from 'postgres';
import { lockDataDir } from './data-dir-lock.js';
import { PostgresWatchdog, REFUSED } from './watchdog.js';
import * as tables from './schema/tables.js';

export type Schema = typeof tables;
/** The one database type the domain sees, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  /**
   * Connections of their own for reservations' commits (Postgres only, `RESERVE_CONNECTIONS`): a
   * reserve never queues for a connection behind the checkouts and pays of a sale.
   */
  reserveDb?: Db;
  kind: 'pglite' | 'postgres';
  /** Human-readable location for logs (no credentials). */
  where: string;
  /** How many statements this process has sent through drizzle (metrics, and tests proving reads come from memory). */
  queryCount(): number;
  /** Postgres only, `POSTGRES_TIMEOUT_MS` > 0: notices a server that stops answering (watchdog.ts). */
  watchdog?: PostgresWatchdog;
  close(): Promise<void>;
}

export const migrationsFolder = fileURLToPath(new URL('../../../drizzle', import.meta.url));

/** Rows of a `db.execute()` result: postgres-js returns an array, PGlite `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}

const kindOf = (tx: DbOrTx) => (tx.constructor as { [entityKind]?: string })[entityKind];
/** A transaction on postgres.js (not PGlite, not a plain database handle). */
const isPostgresJsTx = (tx: DbOrTx) => kindOf(tx) === 'PostgresJsTransaction';

/**
 * A transaction's last statements, sent with its COMMIT: call it as the callback's last step with
 * the statements already issued, return from the callback, and await `after` once the transaction
 * has returned. On postgres.js the callback then returns without waiting for their answer, so
 * postgres.js writes COMMIT right behind them (one round trip): the rows they lock (a sale's product
 * row, shared by every payer) stay locked only while Postgres runs them and commits, not also for
 * their answer's trip to this process and COMMIT's trip back, which on a busy api process is the
 * event loop's delay. If one of them fails, Postgres turns the COMMIT into a rollback and `after`
 * rejects with its error: nothing was committed. On PGlite (in process) they are awaited here.
 */
export async function withCommit<T>(tx: Tx, statements: Promise<T>): Promise<{ after: Promise<T> }> {
  if (isPostgresJsTx(tx)) {
    statements.catch(() => {}); // awaited by the caller after the commit; not an unhandled rejection meanwhile
    return { after: statements };
  }
  return { after: Promise.resolve(await statements) };
}

/**
 * Runs a hand-written statement in `tx` (a transaction or the database handle) as drizzle's
 * `execute` would, but on postgres.js as a prepared statement (kept per connection). Drizzle sends
 * such statements unprepared, and postgres.js then describes each one that has parameters in a
 * round trip of its own before running it, and holds the statements issued after it until then: in
 * a transaction, statements "sent together" went out one round trip at a time, two each (a batch of
 * 13 payment settlements took 200 ms on a busy api); outside one, each statement held its pool
 * connection for the extra round trip. Same rows, same statement count; on PGlite, drizzle's own
 * `execute`.
 */
export function exec(tx: DbOrTx, query: SQL): Promise<unknown> {
  const driver = tx as unknown as { session?: { client?: { unsafe?: PostgresUnsafe }; logger?: { logQuery(q: string, p: unknown[]): void } }; dialect?: { sqlToQuery(q: SQL): { sql: string; params: unknown[] } } };
  const unsafe = driver.session?.client?.unsafe;
  const kind = kindOf(tx);
  if (!unsafe || !driver.dialect || (kind !== 'PostgresJsTransaction' && kind !== 'PostgresJsDatabase')) return tx.execute(query);
  const { sql: text, params } = driver.dialect.sqlToQuery(query);
  driver.session!.logger?.logQuery(text, params);
  return unsafe.call(driver.session!.client, text, params as never[], { prepare: true }) as Promise<unknown>;
}
type PostgresUnsafe = (query: string, params?: never[], options?: { prepare?: boolean }) => unknown;

/** Counts statements sent through drizzle. */
function queryCounter() {
  let n = 0;
  return { logger: { logQuery: () => void n++ }, count: () => n };
}

export interface DatabaseOptions {
  databaseUrl?: string;
  /** PGlite data folder; `memory://` keeps it in memory (tests). */
  dataDir?: string;
  maxConnections?: number;
  /** Connections kept for reservations' commits, beside the main pool (0: they share it). */
  reserveConnections?: number;
  /**
   * Postgres only: a probe unanswered this long (ms) means the server stopped answering, and the
   * pools' connections are cut (watchdog.ts); 0 or unset: no watchdog.
   */
  unresponsiveAfterMs?: number;
  /**
   * Postgres only: how long (ms) to wait at start-up for a Postgres that is not reachable yet (down,
   * starting, its host name not resolving yet) before giving up; 0 gives up at once.
   */
  startupWaitMs?: number;
  /** Where the watchdog (and the start-up wait) says so. */
  log?: Logger;
}

/**
 * Faults that mean Postgres is not up (yet), as opposed to a wrong URL, password or migration: the
 * watchdog's prompt refusals, a connection that timed out or was cut, and a server shutting down
 * (57P01) or still starting (57P03).
 */
const NOT_UP = new Set([...REFUSED, 'ETIMEDOUT', 'CONNECT_TIMEOUT', 'CONNECTION_DESTROYED', '57P01', '57P03']);
const notUp = (err: unknown) => [...causes(err)].some((e) => NOT_UP.has(String(e.code)) || (e instanceof AggregateError && e.errors.some(notUp)));

/**
 * Applies the committed migrations, waiting up to `waitMs` for a Postgres that is not up yet (a
 * deploy that starts everything at once, a database restarting): retried with backoff (0.25 s, then
 * doubling up to 5 s), each wait logged. A fault that waiting cannot fix (authentication, a missing
 * database, a failing migration) is thrown at once.
 */
async function migrateWhenUp(url: string, waitMs: number, log?: Logger): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    const migrator = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
    try {
      // Several processes start together (api replicas and a worker on a new database, or a
      // rolling deploy that brings a migration): one migrates while the others wait, then
      // find it done. Without the lock, concurrent CREATE TABLEs failed all but one process.
      // A session lock on the migrator's one connection, released when it closes.
      await migrator.unsafe(`select pg_advisory_lock(${MIGRATION_LOCK})`);
      await migratePostgres(drizzlePostgres(migrator), { migrationsFolder });
      if (attempt > 1) log?.info({ attempts: attempt }, 'Postgres is up');
      return;
    } catch (err) {
      const left = deadline - Date.now();
      if (!notUp(err) || left <= 0) throw err;
      const retryInMs = Math.min(left, 5000, 250 * 2 ** (attempt - 1));
      log?.warn({ err: (err as Error).message, attempt, retryInMs, giveUpInMs: left }, 'Postgres is not reachable yet: waiting for it (POSTGRES_STARTUP_WAIT_MS)');
      await new Promise((r) => setTimeout(r, retryInMs));
    } finally {
      await migrator.end({ timeout: 1 }).catch(() => {});
    }
  }
}

/** The advisory lock processes take to migrate one at a time (a fixed bigint: "fsmigr" in ASCII). */
export const MIGRATION_LOCK = 112645942896498;

/** Builds the database and applies the committed migrations over their own connection. */
export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  if (opts.databaseUrl) {
    await migrateWhenUp(opts.databaseUrl, opts.startupWaitMs ?? 0, opts.log);
    // Several hosts (postgres://a,b/db): postgres.js picks among them itself, which a socket of
    // the watchdog's would bypass; such a URL runs without the watchdog.
    const severalHosts = /^[^:]+:\/\/[^/?]*,/.test(opts.databaseUrl);
    if (severalHosts && opts.unresponsiveAfterMs) opts.log?.warn('DATABASE_URL names several hosts: the Postgres watchdog (POSTGRES_TIMEOUT_MS) is off');
    const watchdog = opts.unresponsiveAfterMs && !severalHosts ? new PostgresWatchdog({ url: opts.databaseUrl, timeoutMs: opts.unresponsiveAfterMs, log: opts.log }) : undefined;
    // The watchdog opens the pools' connections, to cut them when Postgres stops answering.
    // postgres.js's types leave out its documented `socket` option.
    const watched = (watchdog ? { socket: watchdog.socket, backoff: watchdog.backoff } : {}) as Partial<postgres.Options<{}>>;
    const client = postgres(opts.databaseUrl, {
      max: opts.maxConnections ?? 20,
      onnotice: () => {},
      // Fail fast when Postgres is gone instead of queueing forever.
      connect_timeout: 5,
      ...watched,
    });
    const reserving = opts.reserveConnections ? postgres(opts.databaseUrl, { max: opts.reserveConnections, onnotice: () => {}, connect_timeout: 5, ...watched }) : undefined;
    watchdog?.start();
    const url = new URL(opts.databaseUrl);
    const counter = queryCounter();
    return {
      db: drizzlePostgres(client, { schema: tables, logger: counter.logger }) as unknown as Db,
      reserveDb: reserving && (drizzlePostgres(reserving, { schema: tables, logger: counter.logger }) as unknown as Db),
      kind: 'postgres',
      queryCount: counter.count,
      where: `${url.hostname}:${url.port || 5432}${url.pathname}`,
      watchdog,
      close: async () => {
        await watchdog?.stop();
        await Promise.all([client.end({ timeout: 5 }), reserving?.end({ timeout: 5 })]);
      },
    };
  }
  const dataDir = opts.dataDir ?? './.data';
  const inMemory = dataDir.startsWith('memory://');
  if (!inMemory) mkdirSync(dataDir, { recursive: true });
  const release = inMemory ? () => {} : lockDataDir(dataDir);
  try {
    // Loaded only for the embedded database: a process on Postgres never uses PGlite.
    const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
      import('@electric-sql/pglite'),
      import('drizzle-orm/pglite'),
      import('drizzle-orm/pglite/migrator'),
    ]);
    const client = await PGlite.create(inMemory ? undefined : dataDir);
    const counter = queryCounter();
    const db = drizzlePglite(client, { schema: tables, logger: counter.logger });
    await migratePglite(db, { migrationsFolder });
    return {
      db: db as unknown as Db,
      kind: 'pglite',
      queryCount: counter.count,
      where: dataDir,
      close: async () => {
        try {
          await client.close();
        } finally {
          release();
        }
      },
    };
  } catch (err) {
    release();
    throw err;
  }
}
