import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import postgres from 'postgres';
import { causes } from '../../domain/context.js';

/**
 * Postgres stopped answering (a hung server, a partition that sends no reset): thrown into every
 * query on the pools' connections when the watchdog gives up on them, and by every connection
 * opened while it answers nothing. `inDoubt`: the connection was cut with statements in flight, so
 * a transaction's COMMIT may still take effect when the server wakes; false: nothing was sent.
 */
export class PostgresUnresponsiveError extends Error {
  readonly code = 'PG_UNRESPONSIVE';
  constructor(
    readonly timeoutMs: number,
    readonly inDoubt: boolean,
  ) {
    super(
      inDoubt
        ? `Postgres did not answer within ${timeoutMs} ms; the connection was cut with statements in flight`
        : `Postgres is not answering (no answer within ${timeoutMs} ms); no statement was sent`,
    );
    this.name = 'PostgresUnresponsiveError';
  }
}

/** True when `err` (or a cause) is a cut the statements of which may still take effect. */
export function isInDoubt(err: unknown): boolean {
  for (const e of causes(err)) if (e instanceof PostgresUnresponsiveError) return e.inDoubt;
  return false;
}

/** A prompt "no" from the host: Postgres is down, not hung (also what start-up waits out: client.ts). */
export const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'CONNECTION_CLOSED', 'CONNECTION_ENDED']);

/** postgres.js's reconnection delay (src/index.js `backoff`, in seconds), kept while Postgres answers. */
const driverBackoff = (retries: number) => (0.5 + Math.random() / 2) * Math.min(3 ** retries / 100, 20);

/** What postgres.js hands a `socket` factory (its parsed options). */
interface DriverOptions {
  host: string[];
  port: number[];
  path?: string | false;
  /** Shared by the pool's connections: `retries` sets the reconnection delay (`backoff`). */
  shared?: { retries: number };
}

export interface WatchdogOptions {
  url: string;
  /** A probe not answered within this long means Postgres is not answering (ms). */
  timeoutMs: number;
  /** Pause between probes (ms; default the smaller of 1 s and the timeout). */
  intervalMs?: number;
  log?: Logger;
}

/**
 * Notices a Postgres that stops answering, and stops this process from waiting on it.
 *
 * postgres.js has no query timeout, and a server that hangs (or sits behind a partition) keeps
 * its connections open: the kernel still acknowledges what is sent, so neither keep-alive nor
 * retransmission ever ends them, and every query waits until the server answers again — minutes,
 * or forever. The watchdog sends `select 1` on a connection of its own every second; when one is
 * not answered within `timeoutMs`, it cuts every connection of the pools (their queries fail with
 * a retryable `PostgresUnresponsiveError`, in doubt) and, until a probe is answered again, every
 * connection the pools open fails at once (the same error, not in doubt), with a short
 * reconnection delay, so requests fail in milliseconds instead of queueing for the whole outage.
 * A slow but answering server is left alone: the probe measures the server, not the pools' queues.
 *
 * Used as the pools' `socket` factory and `backoff` (postgres.js options).
 */
export class PostgresWatchdog {
  /** Times Postgres was found not answering (a probe past the timeout while it was answering). */
  trips = 0;
  private unanswered = false;
  private readonly sockets = new Set<Socket>();
  private readonly probeSockets = new Set<Socket>();
  private readonly probe: postgres.Sql;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly intervalMs: number;

  constructor(private readonly opts: WatchdogOptions) {
    this.intervalMs = opts.intervalMs ?? Math.min(1000, opts.timeoutMs);
    this.probe = postgres(opts.url, {
      max: 1,
      onnotice: () => {},
      fetch_types: false,
      // Its own deadline is the watchdog's (below), which cuts the probe's connection; this only
      // bounds an attempt that outlives it.
      connect_timeout: 2 * Math.ceil(opts.timeoutMs / 1000) + 1,
      // Reconnect at once after a cut: the driver's growing delay (up to 20 s) would hold back
      // the probe that notices the server is back.
      backoff: () => 0,
      socket: (o: DriverOptions) => this.open(o, this.probeSockets, false),
    } as postgres.Options<{}>);
  }

  /** Postgres is not answering now (a probe timed out and none has been answered since). */
  get unresponsive(): boolean {
    return this.unanswered;
  }

  /** postgres.js `socket` option for the pools. */
  readonly socket = (o: DriverOptions): Socket => this.open(o, this.sockets, true);

  /** postgres.js `backoff` option for the pools: retry at once while failing fast, else the driver's own. */
  readonly backoff = (retries: number): number => (this.unanswered ? 0.02 : driverBackoff(retries));

  start(): this {
    this.schedule();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.cut(this.probeSockets, true);
    await this.probe.end({ timeout: 0 }).catch(() => {});
  }

  private schedule() {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.check().then(() => this.schedule()), this.intervalMs);
    this.timer.unref();
  }

  /** One probe, and what follows from its outcome. */
  async check(): Promise<void> {
    const answered = this.probe.unsafe('select 1').then(
      () => 'answered' as const,
      // The server's own error, or the host refusing the connection (Postgres down or restarting),
      // is an answer: the pools see it themselves. The driver giving up on a connection that got
      // no answer (CONNECT_TIMEOUT) is silence, as is the watchdog's own cut.
      (err: { code?: string; name?: string }) => (err?.name === 'PostgresError' || REFUSED.has(err?.code ?? '') ? ('answered' as const) : ('late' as const)),
    );
    let timer: NodeJS.Timeout | undefined;
    // A busy process is not a hung server. The deadline is checked after the event loop's I/O
    // (setImmediate), so an answer already waiting on the socket is read first; and when the timer
    // itself fired late by half the timeout or more (the loop was held up: a long GC, a CPU-bound
    // stretch), the probe may not even have been written yet, so it gets one more grace period.
    const late = new Promise<'late'>((resolve) => {
      const wait = (ms: number, graces: number) => {
        const from = performance.now();
        timer = setTimeout(() => {
          if (graces > 0 && performance.now() - from - ms >= this.opts.timeoutMs / 2) wait(Math.min(this.opts.timeoutMs, 1000), graces - 1);
          else setImmediate(() => resolve('late'));
        }, ms);
      };
      wait(this.opts.timeoutMs, 1);
    });
    const outcome = await Promise.race([answered, late]);
    clearTimeout(timer);
    if (this.stopped) return;
    if (outcome === 'late') {
      this.cut(this.probeSockets, true); // the probe's own query fails; the next probe connects anew
      if (!this.unanswered) {
        this.unanswered = true;
        this.trips++;
        const cut = this.sockets.size;
        this.cut(this.sockets, true);
        this.opts.log?.error({ timeoutMs: this.opts.timeoutMs, connectionsCut: cut }, 'Postgres is not answering: its connections were cut and requests that need it fail (retryably) until it answers again');
      }
    } else if (this.unanswered) {
      this.unanswered = false;
      this.opts.log?.warn('Postgres answers again; connections reopen');
    }
  }

  private open(o: DriverOptions, into: Set<Socket>, pool: boolean): Socket {
    const socket = o.path ? connect(o.path) : connect(o.port[0], o.host[0]);
    // postgres.js names a connection error by these (src/errors.js).
    Object.assign(socket, o.path ? {} : { host: o.host[0], port: o.port[0] });
    into.add(socket);
    socket.once('close', () => into.delete(socket));
    if (pool) closeCleanlyAfterErrors(socket, o);
    if (pool && this.unanswered) {
      // After postgres.js has attached its listeners (it awaits the factory's answer first).
      setImmediate(() => kill(socket, new PostgresUnresponsiveError(this.opts.timeoutMs, false)));
    }
    return socket;
  }

  private cut(sockets: Set<Socket>, inDoubt: boolean) {
    for (const s of sockets) kill(s, new PostgresUnresponsiveError(this.opts.timeoutMs, inDoubt));
    sockets.clear();
  }
}

/**
 * Ends a pool connection so that every query on it fails, with `err` for what it has in flight.
 * Not `socket.destroy(err)`: postgres.js fails a connection's queries on its 'error' event but
 * takes it out of the pool only on 'close', which comes a turn of the event loop later, and a close
 * after an error fails nothing more. A query handed to the connection in between (a caller whose
 * query just failed retrying at once) was written to a dead socket and never settled: under a
 * sale's load, a payment settlement's BEGIN did, and every later settlement of that process queued
 * behind it for good (fault scenario 2b). So: the error first (what is in flight fails with `err`),
 * then a destroy without one, whose close fails whatever reached the connection meanwhile
 * (CONNECTION_CLOSED: never sent).
 */
/**
 * The same window when the socket meets an error by itself (ECONNRESET from a proxy or a load
 * balancer, EPIPE, EHOSTUNREACH): Node emits 'error', then 'close' with `hadError` once the handle
 * has closed, a turn later, and postgres.js fails nothing on a close after an error, so a query a
 * caller handed to the connection in between (a retry of the query that just failed) waited
 * forever (test/postgres-reset.test.ts; the same in postgres.js without our socket factory). Such a
 * close is delivered as a clean one, which fails what reached the connection meanwhile
 * (CONNECTION_CLOSED, never sent); the retry count that sets the reconnection delay still counts
 * the error, as postgres.js would have.
 */
function closeCleanlyAfterErrors(socket: Socket, o: DriverOptions) {
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'close' && args[0] === true) {
      if (o.shared) o.shared.retries++;
      return emit('close', false);
    }
    return emit(event, ...args);
  }) as Socket['emit'];
}

function kill(socket: Socket, err: PostgresUnresponsiveError) {
  if (socket.destroyed) return;
  // Opened this very turn: postgres.js attaches its listeners once the factory's answer is awaited.
  if (socket.listenerCount('error') === 0) return void setImmediate(() => kill(socket, err));
  socket.emit('error', err);
  socket.destroy();
}
