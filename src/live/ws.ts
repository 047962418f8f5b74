/**
 * graphql-ws (the `graphql-transport-ws` protocol) on `/graphql`, built on graphql-ws's
 * `makeServer` with our own socket handling, for three reasons:
 *
 * - Shared stock tickers. A `stockChanged` subscription is public and the same for
 *   everyone who sends the same operation and variables, so all sockets running it
 *   share one execution: each event is executed and serialised once, then the same
 *   bytes (only the envelope's operation id differs) are written to every socket.
 *   Everything else (countdowns, order status, queries, bad input) goes through
 *   graphql-ws as usual, and every operation goes through `yoga.getEnveloped`, so
 *   WebSocket, SSE and HTTP share one context, auth, validation and error masking.
 * - Slow consumers. Every write checks the socket's unsent backlog
 *   (`bufferedAmount`); past `maxBufferedBytes` the socket is dropped, so a client
 *   that stops reading cannot make the server hold its messages without bound.
 * - One keep-alive timer for every socket instead of one per socket, and a graceful
 *   `dispose()` that completes open subscriptions and closes sockets with 1001.
 */
import type { IncomingMessage, Server } from 'node:http';
import { type DocumentNode, type ExecutionArgs, type ExecutionResult, getOperationAST, Kind } from 'graphql';
import { CloseCode, type Context as GwContext, handleProtocols, makeServer, type SubscribePayload } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Deps } from '../domain/context.js';
import { inventoryOf } from '../domain/inventory/products.js';
import { rawPending, textFrame, writeFrame } from './frames.js';

export interface LiveWsOptions {
  /** Turns a subscribe message into query text (persisted operations); throws a GraphQLError to refuse it. */
  resolveQuery?: (params: { query?: string; extensions?: Record<string, unknown> | null; operationName?: string | null }) => string;
  server: Server;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  yoga: YogaServerInstance<any, any>;
  deps: Deps;
  /** Drop a socket whose unsent backlog exceeds this (bytes). */
  maxBufferedBytes: number;
  /** Ping every socket this often (spread over the interval); one that did not answer its previous ping is dropped. */
  keepAliveMs?: number;
  /** Open sockets one client IP (`ipOf`) may hold in this process; past it the upgrade is answered 429. 0 or unset: no limit. */
  maxPerIp?: number;
  ipOf?: (req: IncomingMessage) => string | undefined;
  /** Whether the upgrade's `Origin` may open a socket (CORS_ORIGINS); refused upgrades are answered 403. Unset: any origin. */
  originAllowed?: (req: IncomingMessage) => boolean;
  path?: string;
}

export interface LiveWsStats {
  sockets: number;
  sharedGroups: number;
  sharedSubscribers: number;
  /** Sockets dropped because their backlog passed the bound. */
  droppedSlow: number;
  /** Upgrades refused because their IP held `maxPerIp` sockets already. */
  refusedPerIp: number;
  /** Upgrades refused because their page's origin is not allowed (`originAllowed`). */
  refusedOrigin: number;
}

export interface LiveWs {
  stats(): LiveWsStats;
  /** Completes open shared streams, closes every socket with 1001 and waits (at most `graceMs`) for them to go. */
  dispose(graceMs?: number): Promise<void>;
}

interface Conn {
  socket: WebSocket;
  request: IncomingMessage;
  gw?: GwContext<Record<string, unknown>, Extra>;
  alive: boolean;
  /** The client IP counted against `maxPerIp`, when limited. */
  ip?: string;
  /** The keep-alive slot this socket is pinged in. */
  pingSlot: Set<Conn>;
  /** Operation ids this socket runs on a shared group. */
  shared: Map<string, Group>;
  /** Interception happens in arrival order. */
  chain: Promise<void>;
}

interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
  conn: Conn;
}

interface Member {
  conn: Conn;
  id: string;
  /** `{"id":"…","type":"next","payload":` precomputed for this socket, as UTF-8 bytes. */
  head: Buffer;
  /** The group's `seq` of the last result written to this member (0: none yet). */
  seq: number;
}

interface Group {
  key: string;
  members: Set<Member>;
  /** The serialised payload of the last result and the envelope's closing `}` (UTF-8), sent at once to members who join later. */
  last?: Buffer;
  /** Results received so far; `last` is result number `seq`. */
  seq: number;
  /** Whole frames of result `seq`, by operation id: members with the same id share one buffer. */
  frames: Map<string, Buffer>;
  /** A fan-out is running. */
  flushing: boolean;
  stop?: () => void;
  ended: boolean;
}

const OPEN = 1;
/**
 * Members written per event-loop turn in a shared fan-out: the loop yields between chunks
 * (setImmediate), so a fan-out to 10,000 sockets does not hold up other sockets' messages,
 * HTTP requests or pub/sub for its whole length, and a newer stock event that arrives
 * meanwhile goes to the members not written yet.
 */
const FANOUT_CHUNK = 1000;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
/** How often the keep-alive pings its next slice of the sockets. */
const KEEPALIVE_TICK_MS = 100;

type Enveloped = ReturnType<YogaServerInstance<Record<string, unknown>, Record<string, unknown>>['getEnveloped']>;

/** `stockChanged(productId: …)` alone at the root of a subscription: the product id it watches. */
function sharedStockProduct(doc: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): string | undefined {
  const op = getOperationAST(doc, operationName ?? undefined);
  if (!op || op.operation !== 'subscription' || op.selectionSet.selections.length !== 1) return undefined;
  if (doc.definitions.some((d) => d.kind !== Kind.OPERATION_DEFINITION && d.kind !== Kind.FRAGMENT_DEFINITION)) return undefined;
  const field = op.selectionSet.selections[0];
  if (field.kind !== Kind.FIELD || field.name.value !== 'stockChanged' || field.directives?.length) return undefined;
  const arg = field.arguments?.find((a) => a.name.value === 'productId');
  if (!arg) return undefined;
  const v = arg.value;
  if (v.kind === Kind.STRING || v.kind === Kind.INT) return v.value;
  if (v.kind === Kind.VARIABLE) {
    const got = variables?.[v.name.value];
    if (typeof got === 'string' || (typeof got === 'number' && Number.isInteger(got))) return String(got);
  }
  return undefined;
}

export function attachGraphqlWs(opts: LiveWsOptions): LiveWs {
  const { yoga, deps, maxBufferedBytes } = opts;
  const keepAliveMs = opts.keepAliveMs ?? 12_000;
  const maxPerIp = opts.maxPerIp ?? 0;
  /** Open sockets per client IP (only with `maxPerIp`). */
  const perIp = new Map<string, number>();
  let refusedPerIp = 0;
  let refusedOrigin = 0;
  const { originAllowed } = opts;
  const limitPerIp = maxPerIp > 0 && opts.ipOf ? opts.ipOf : undefined;
  const wss = new WebSocketServer({
    server: opts.server,
    path: opts.path ?? '/graphql',
    handleProtocols,
    verifyClient:
      originAllowed || limitPerIp
        ? ({ req }: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string, headers?: Record<string, string>) => void) => {
            // A page on an origin CORS_ORIGINS does not allow (browsers send Origin with every
            // upgrade; native apps and servers send none): no socket, as no CORS answer for HTTP.
            if (originAllowed && !originAllowed(req)) {
              refusedOrigin++;
              done(false, 403, 'This origin may not open WebSockets to this API (CORS_ORIGINS)');
              return;
            }
            // Counted when a socket opens, so handshakes in flight at the same moment can pass the limit
            // by their number; the limit is against an address holding thousands, not one more.
            const ip = limitPerIp?.(req);
            if (ip !== undefined && (perIp.get(ip) ?? 0) >= maxPerIp) {
              refusedPerIp++;
              done(false, 429, 'Too many WebSocket connections from this address', { 'retry-after': '10' });
              return;
            }
            done(true);
          }
        : undefined,
    maxPayload: 256 * 1024,
    perMessageDeflate: false,
  });
  const conns = new Set<Conn>();
  const groups = new Map<string, Group>();
  const tickMs = Math.max(1, Math.min(KEEPALIVE_TICK_MS, keepAliveMs));
  /** The keep-alive's slots (see below): one is visited per tick. */
  const pingSlots: Set<Conn>[] = Array.from({ length: Math.max(1, Math.round(keepAliveMs / tickMs)) }, () => new Set());
  let pingTick = 0;
  let dealt = 0;
  let droppedSlow = 0;
  let disposing = false;

  /** Whether a socket may be written to: open, and its backlog within the bound (else it is dropped). */
  const writable = (conn: Conn): boolean => {
    const s = conn.socket;
    if (s.readyState !== OPEN) return false;
    const backlog = s.bufferedAmount + rawPending(s);
    if (backlog > maxBufferedBytes) {
      droppedSlow++;
      deps.log.info({ bufferedAmount: backlog, limit: maxBufferedBytes }, 'dropping a slow WebSocket consumer');
      leaveAll(conn);
      s.terminate();
      return false;
    }
    return true;
  };

  /** Writes to a socket unless its backlog is past the bound, in which case the socket is dropped. */
  const write = (conn: Conn, data: string): boolean => {
    if (!writable(conn)) return false;
    conn.socket.send(data);
    return true;
  };

  /** Writes a shared `next` (the member's head, then `body`) as one pre-built frame (`frame`, when the caller has it). */
  const writeNext = (m: Member, body: Buffer, frame = textFrame(m.head, body)): boolean => {
    if (!writable(m.conn)) return false;
    if (!writeFrame(m.conn.socket, frame)) m.conn.socket.send(Buffer.concat([m.head, body]), { binary: false });
    return true;
  };

  /**
   * The frame of the group's latest result for member `m`: built once per result and operation
   * id, so members with the same id (every subscriber of a given client app, typically "1")
   * are written the very same buffer, with no allocation or copy per socket.
   */
  const frameOf = (g: Group, m: Member): Buffer => {
    let f = g.frames.get(m.id);
    if (!f) g.frames.set(m.id, (f = textFrame(m.head, g.last!)));
    return f;
  };

  /**
   * Brings every member of a group up to its latest result: passes over the members in order,
   * a chunk per event-loop turn, writing the group's newest result to each member that has
   * not had it. A result that arrives during a pass goes to the members after that point at
   * once; the next pass gives it to those written before. So a member never gets an older
   * result after a newer one, and under load a late member skips a stale result instead of
   * waiting for it (fewer writes, later members not further behind). One pass runs at a time.
   */
  const flush = async (g: Group): Promise<void> => {
    if (g.flushing) return;
    g.flushing = true;
    try {
      for (let passSeq = g.seq; !g.ended; passSeq = g.seq) {
        const members = [...g.members];
        for (let i = 0; i < members.length; i += FANOUT_CHUNK) {
          if (i > 0) {
            await nextTurn();
            if (g.ended) return;
          }
          const body = g.last!;
          const end = Math.min(members.length, i + FANOUT_CHUNK);
          for (let j = i; j < end; j++) {
            const m = members[j];
            // A member that left during an earlier turn is skipped.
            if (m.seq < g.seq && m.conn.shared.get(m.id) === g) {
              m.seq = g.seq;
              writeNext(m, body, frameOf(g, m));
            }
          }
        }
        if (g.seq === passSeq) return;
      }
    } catch (err) {
      deps.log.warn({ err }, 'shared stock fan-out failed');
    } finally {
      g.flushing = false;
    }
  };

  const server = makeServer<Record<string, unknown>, Extra>({
    onConnect: (ctx) => {
      ctx.extra.conn.gw = ctx;
      return true;
    },
    execute: (args) => (args.rootValue as { execute: (a: ExecutionArgs) => unknown }).execute(args) as never,
    subscribe: (args) => (args.rootValue as { subscribe: (a: ExecutionArgs) => unknown }).subscribe(args) as never,
    onSubscribe: async (ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params,
        connectionParams: ctx.connectionParams,
      }) as Enveloped;
      let document: DocumentNode;
      try {
        document = parse(opts.resolveQuery ? opts.resolveQuery(params) : params.query);
      } catch (err) {
        return [err as never];
      }
      const errors = validate(schema, document);
      if (errors.length) return errors as never;
      return {
        schema,
        operationName: params.operationName,
        document,
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
    },
  });

  // ---- shared stock groups -------------------------------------------------------

  const leave = (conn: Conn, id: string) => {
    const g = conn.shared.get(id);
    if (!g) return;
    conn.shared.delete(id);
    for (const m of g.members) {
      if (m.conn === conn && m.id === id) {
        g.members.delete(m);
        break;
      }
    }
    if (g.members.size === 0 && !g.ended) {
      g.ended = true;
      groups.delete(g.key);
      g.stop?.();
    }
  };

  function leaveAll(conn: Conn) {
    for (const id of [...conn.shared.keys()]) leave(conn, id);
  }

  const endGroup = (g: Group, frame: ((m: Member) => string) | undefined) => {
    g.ended = true;
    if (groups.get(g.key) === g) groups.delete(g.key);
    for (const m of g.members) {
      m.conn.shared.delete(m.id);
      if (frame) write(m.conn, frame(m));
    }
    g.members.clear();
  };

  const startGroup = (g: Group, params: SubscribePayload) => {
    // Anonymous context: stock is public, and a shared stream must not carry one shopper's identity.
    const env = yoga.getEnveloped({ params, connectionParams: {} }) as Enveloped;
    const abort = new AbortController();
    g.stop = () => abort.abort();
    void (async () => {
      const document = env.parse(params.query);
      const contextValue = await env.contextFactory();
      const result = (await env.subscribe({
        schema: env.schema,
        document,
        operationName: params.operationName,
        variableValues: params.variables,
        contextValue,
      })) as AsyncIterable<ExecutionResult> | ExecutionResult;
      if (!(Symbol.asyncIterator in result)) {
        const json = JSON.stringify(result);
        endGroup(g, (m) => `{"id":${JSON.stringify(m.id)},"type":"next","payload":${json}}`);
        return;
      }
      const it = result[Symbol.asyncIterator]();
      abort.signal.addEventListener('abort', () => void it.return?.(), { once: true });
      for (;;) {
        const next = await it.next();
        if (next.done || g.ended) break;
        // Executed once, serialised and encoded once, for every socket of the group.
        g.last = Buffer.from(`${JSON.stringify(next.value)}}`);
        g.seq++;
        g.frames.clear();
        void flush(g);
      }
      while (g.flushing) await nextTurn();
      if (!g.ended) endGroup(g, (m) => `{"id":${JSON.stringify(m.id)},"type":"complete"}`);
    })().catch((err) => {
      deps.log.warn({ err }, 'shared stock stream failed');
      if (!g.ended) {
        const payload = JSON.stringify([{ message: 'The stock stream failed; subscribe again', extensions: { code: 'UNAVAILABLE', retryable: true } }]);
        endGroup(g, (m) => `{"id":${JSON.stringify(m.id)},"type":"error","payload":${payload}}`);
      }
    });
  };

  /** Takes a `subscribe` message onto a shared group when it can; returns false to leave it to graphql-ws. */
  const intercept = async (conn: Conn, raw: string): Promise<boolean> => {
    if (!raw.includes('"subscribe"') && !(conn.shared.size && raw.includes('"complete"'))) return false;
    let msg: { type?: unknown; id?: unknown; payload?: SubscribePayload };
    try {
      msg = JSON.parse(raw);
    } catch {
      return false;
    }
    if (typeof msg.id !== 'string') return false;
    const id = msg.id;
    if (msg.type === 'complete') {
      if (!conn.shared.has(id)) return false;
      leave(conn, id);
      return true;
    }
    if (msg.type !== 'subscribe' || !conn.gw?.acknowledged || disposing) return false;
    if (conn.shared.has(id) || id in conn.gw.subscriptions) {
      conn.socket.close(CloseCode.SubscriberAlreadyExists, `Subscriber for ${id} already exists`);
      return true;
    }
    const p = msg.payload;
    if (!p || typeof p.query !== 'string' || (p.variables != null && typeof p.variables !== 'object')) return false;
    const key = `${p.operationName ?? ''}\u0000${JSON.stringify(p.variables ?? {})}\u0000${p.query}`;
    let g = groups.get(key);
    if (!g) {
      const env = yoga.getEnveloped({ params: p, connectionParams: {} }) as Enveloped;
      let document: DocumentNode;
      try {
        document = env.parse(p.query);
      } catch {
        return false;
      }
      const productId = sharedStockProduct(document, p.operationName, p.variables);
      if (productId === undefined || env.validate(env.schema, document).length) return false;
      // Unknown products (and faults) take the ordinary path, which reports them.
      const known = await inventoryOf(deps, productId).catch(() => undefined);
      if (!known || conn.socket.readyState !== OPEN) return false;
      g = groups.get(key);
      if (!g) {
        g = { key, members: new Set(), ended: false, seq: 0, flushing: false, frames: new Map() };
        groups.set(key, g);
        startGroup(g, p);
      }
    }
    const m: Member = { conn, id, head: Buffer.from(`{"id":${JSON.stringify(id)},"type":"next","payload":`), seq: g.seq };
    g.members.add(m);
    conn.shared.set(id, g);
    if (g.last) writeNext(m, g.last);
    return true;
  };

  // ---- sockets ------------------------------------------------------------------

  wss.on('error', (err) => deps.log.error({ err }, 'WebSocket server error'));
  wss.on('connection', (socket, request) => {
    if (disposing) {
      socket.close(1001, 'Server shutting down');
      return;
    }
    const conn: Conn = { socket, request, alive: true, shared: new Map(), chain: Promise.resolve(), pingSlot: pingSlots[dealt++ % pingSlots.length] };
    conns.add(conn);
    conn.pingSlot.add(conn);
    if (maxPerIp > 0 && opts.ipOf) {
      conn.ip = opts.ipOf(request);
      if (conn.ip !== undefined) perIp.set(conn.ip, (perIp.get(conn.ip) ?? 0) + 1);
    }
    socket.on('pong', () => (conn.alive = true));
    socket.once('error', () => socket.terminate());
    let deliver: ((raw: string) => Promise<void>) | undefined;
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: async (data) => {
          write(conn, data);
        },
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) => {
          deliver = cb;
        },
      },
      { socket, request, conn },
    );
    socket.on('message', (data) => {
      const raw = String(data);
      conn.chain = conn.chain
        .then(() => intercept(conn, raw))
        .then((handled) => {
          if (!handled && deliver) {
            deliver(raw).catch((err) => {
              deps.log.error({ err }, 'graphql-ws message handling failed');
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            });
          }
        })
        .catch((err) => deps.log.error({ err }, 'WebSocket message interception failed'));
    });
    socket.once('close', (code, reason) => {
      conns.delete(conn);
      conn.pingSlot.delete(conn);
      if (conn.ip !== undefined) {
        const left = (perIp.get(conn.ip) ?? 1) - 1;
        if (left > 0) perIp.set(conn.ip, left);
        else perIp.delete(conn.ip);
      }
      leaveAll(conn);
      void closed(code, String(reason));
    });
  });

  // Keep-alive, spread over the interval: sockets are dealt round-robin into slots, one slot is
  // visited per tick, so each socket is pinged once per `keepAliveMs` (and dropped if it has not
  // answered its previous ping) and each tick pings about the same number of sockets, however they
  // arrived. One sweep over every socket at once (before 2026-12-03) wrote 10,000 pings in one go
  // and read 10,000 pongs right after: stock updates waited behind it, ~200-300 ms at 10,000 sockets.
  const keepAlive =
    keepAliveMs > 0
      ? setInterval(() => {
          const slot = pingSlots[pingTick++ % pingSlots.length];
          for (const c of slot) {
            if (!c.alive) {
              c.socket.terminate();
              continue;
            }
            c.alive = false;
            if (c.socket.readyState === OPEN) c.socket.ping();
          }
        }, tickMs)
      : undefined;
  keepAlive?.unref();

  return {
    stats() {
      let sharedSubscribers = 0;
      for (const g of groups.values()) sharedSubscribers += g.members.size;
      return { sockets: conns.size, sharedGroups: groups.size, sharedSubscribers, droppedSlow, refusedPerIp, refusedOrigin };
    },
    async dispose(graceMs = 2000) {
      disposing = true;
      if (keepAlive) clearInterval(keepAlive);
      // Sockets close with 1001 (going away) and no `complete`: a graphql-ws client takes
      // that as "reconnect", so a rolling deploy moves live screens to another process
      // instead of ending them. (A `complete` would tell the client the stream is over.)
      for (const g of [...groups.values()]) {
        g.stop?.();
        endGroup(g, undefined);
      }
      for (const c of conns) c.socket.close(1001, 'Server shutting down');
      const deadline = Date.now() + graceMs;
      while (conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      for (const c of conns) c.socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
