import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { AuthError, type Verifier } from './auth.js';
import { sdkOperationTexts } from './security/sdk-operations.js';
import { type Actor, causes, type Deps, RetryableError } from './domain/context.js';
import { attachGraphqlWs, type LiveWsStats } from './live/ws.js';
import { handleRest, REST_MAX_BODY_BYTES } from './rest/routes.js';
import { readJson } from './http/body.js';
import { webhooksPlugin } from './rest/webhooks.js';
import { createFastPath, type FastPathMode } from './http/fast-path.js';
import { requestIdFrom } from './http/request-id.js';
import { cachedVerifier } from './http/token-cache.js';
import type { Context } from './schema/builder.js';
import { schema } from './schema/index.js';
import { inventoryMemo } from './schema/inventory.js';
import { productLoader } from './schema/loaders.js';
import type { ProductRow } from './adapters/db/schema/tables.js';
import { reserveMemo } from './schema/reservation.js';
import { defaultSecurityConfig, type SecurityConfig } from './security/config.js';
import { Security } from './security/guard.js';
import { clientIp, nodeRequestOf } from './security/ip.js';
import { auditPlugin } from './security/audit.js';
import {
  abuseLimitPlugins,
  OperationManifest,
  persistedOperationsPlugin,
  readLimitPlugin,
  resolvePersisted,
  securityHeaders,
  securityHeadersPlugin,
  corsAllowListPlugin,
  wsOriginCheck,
} from './security/plugins.js';
import { createOps, type RuntimeOps } from './ops/index.js';
import type { OpsConfig } from './ops/config.js';
import { webPlugin, type WebOptions } from './web/static.js';

export interface AppOptions {
  verifier: Verifier;
  /** Show GraphiQL at /graphql (development). */
  graphiql?: boolean;
  /** Drop a WebSocket whose unsent backlog passes this many bytes (default 1 MiB). */
  wsMaxBufferedBytes?: number;
  /** Ping each WebSocket this often, spread over the interval; one that has not answered its last ping is dropped (default 12 s). */
  wsKeepAliveMs?: number;
  /** Rate limits, bot challenge, GraphQL limits (config.security); without it rate limits and the challenge are off. */
  security?: SecurityConfig;
  /** Serve HTTPS and WSS with this certificate and key (PEM). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  production?: boolean;
  /** Operations settings and handles (issue 7: /ready, /metrics, shedding, request logs). */
  ops?: { config?: OpsConfig; runtime?: RuntimeOps };
  /** Serve the storefront at `/` (and the dev sign-in) from this built folder. */
  web?: WebOptions;
  /** The node:http fast path in front of Yoga (docs/performance.md); default 'jit'. */
  fastPath?: FastPathMode;
  /** Replay remembered answers of memoised fields while they hold; default true. */
  fastPathReplay?: boolean;
  /** How long a verified bearer token is trusted without verifying again, in ms; default 30000, 0 = off. */
  tokenCacheMs?: number;
  /** The fast path plans the SDK's operations at startup, before their first request; default true. */
  fastPathWarm?: boolean;
}

export interface App {
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  server: Server;
  start(port: number, host?: string): Promise<number>;
  /** Live-update figures (sockets, shared streams, dropped slow consumers). */
  live(): LiveWsStats;
  /** Graceful: stop accepting, complete open subscriptions, close sockets with 1001. */
  stop(): Promise<void>;
}

type Authenticated = { actor?: Actor; authError?: string };

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Authenticates a bearer token; never throws: a bad token is reported when a guarded field
 * is reached. Answers at once (no promise) when there is no token, a malformed header, or a
 * token the verifier remembers; otherwise once the token is verified.
 */
export function authenticate(verifier: Verifier, header: string | null | undefined): Authenticated | Promise<Authenticated> {
  if (!header) return {};
  const m = BEARER.exec(header);
  if (!m) return { authError: 'The Authorization header must be "Bearer <token>"' };
  const known = verifier.peek?.(m[1]);
  if (known) return known instanceof AuthError ? { authError: known.message } : { actor: known };
  return verifier.verify(m[1]).then(
    (actor) => ({ actor }),
    (err) => ({ authError: err instanceof AuthError ? err.message : 'Invalid token' }),
  );
}

const CONNECTION_CODES = new Set(['PG_UNRESPONSIVE', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P03', '08006', '08001', '08003', '40001', '40P01']);

/** True for faults a client may simply retry: the database or Redis unreachable, a serialisation conflict. */
export function isRetryable(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof RetryableError) return true;
    if (typeof e.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
    // ioredis: a connection gone or timed out; on a Redis Cluster also a node gone (CLUSTERDOWN
    // once the others notice; before that, an auto-pipeline's commands for its slots sent elsewhere
    // come back MOVED to it), slots being moved, or the slot map not loadable.
    if (
      typeof e.message === 'string' &&
      /Connection is closed|max retries per request|Stream isn't writeable|Command timed out|^(MOVED|ASK) \d+ |CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|Too many Cluster redirections|None of startup nodes is available/i.test(e.message)
    ) {
      return true;
    }
  }
  return false;
}

export function buildApp(deps: Deps, appOpts: AppOptions): App {
  const requestIds = new WeakMap<Request, string>();
  const opts = { ...appOpts, verifier: cachedVerifier(appOpts.verifier, { ttlMs: appOpts.tokenCacheMs ?? 30_000 }) };
  // Aborted on stop(): every open subscription completes.
  const closing = new AbortController();
  const securityConfig = opts.security ?? defaultSecurityConfig();
  const security = new Security(deps, securityConfig);
  const ipOf = (headerXff: string | null | undefined, serverContext: unknown) =>
    clientIp(headerXff, nodeRequestOf(serverContext)?.socket?.remoteAddress, securityConfig.trustProxy);
  /** The same for a node:http request (the fast path, WebSocket upgrades). */
  const ipOfNode = (req: IncomingMessage) => ipOf(req.headers['x-forwarded-for'] as string | undefined, { req });
  const gqlLimits = securityConfig.graphql;
  const manifest = gqlLimits.persistedOperations !== 'off' ? OperationManifest.load(gqlLimits.persistedOperationsFile!) : undefined;
  const ops = createOps(deps, opts.ops?.config, opts.ops?.runtime);

  /** The per-request context: Yoga's context factory and the fast path both build it here. */
  const contextOf = (auth: { actor?: Actor; authError?: string }, requestId: string, ip: string | undefined): Context => {
    // Made on first use: answers replayed or built by the fast path never need it.
    let products: ((id: string) => Promise<ProductRow | undefined>) | undefined;
    return {
      deps,
      ...auth,
      security,
      ip,
      requestId,
      loadProduct: (id) => (products ??= productLoader(deps))(id),
      closing: closing.signal,
    };
  };

  /** A REST mirror request: authentication, the route (rate limits and bot checks inside), faults mapped to 503/500. Undefined: not a REST route. */
  async function answerRest(req: { method: string; path: string; body?: () => Promise<unknown>; authorization: string | null | undefined; ip: string | undefined; requestId: string }) {
    const auth = await authenticate(opts.verifier, req.authorization);
    try {
      return await handleRest(deps, { method: req.method, path: req.path, body: req.body ?? (async () => undefined), ...auth, security, ip: req.ip });
    } catch (err) {
      const retryable = isRetryable(err);
      if (!retryable) deps.log.error({ err, requestId: req.requestId, path: req.path }, 'REST request failed');
      // Our own retryable faults say what happened (a reserve cut in doubt says to retry with its key).
      const message = err instanceof RetryableError ? err.message : 'A backing service is unavailable; nothing was changed, try again';
      return {
        status: retryable ? 503 : 500,
        headers: retryable ? { 'retry-after': String(err instanceof RetryableError ? err.retryAfterSeconds : 1) } : undefined,
        body: {
          error: retryable
            ? { code: 'UNAVAILABLE', message, request_id: req.requestId }
            : { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error', request_id: req.requestId },
        },
      };
    }
  }

  const restPlugin: Plugin = {
    async onRequest({ request, url, endResponse, fetchAPI, serverContext }) {
      // /health never gets here: Yoga's own health check answers it first (200, empty body).
      if (url.pathname === '/graphql') return;
      const requestId = requestIds.get(request) ?? randomUUID();
      const out = await answerRest({
        method: request.method,
        path: url.pathname,
        body: () => readJson(request, REST_MAX_BODY_BYTES),
        authorization: request.headers.get('authorization'),
        ip: ipOf(request.headers.get('x-forwarded-for'), serverContext),
        requestId,
      });
      if (out) {
        endResponse(fetchAPI.Response.json(out.body, { status: out.status, headers: { ...out.headers, 'x-request-id': requestId } }));
      }
    },
  };

  const requestIdPlugin: Plugin = {
    onRequest({ request }) {
      requestIds.set(request, requestIdFrom(request.headers.get('x-request-id')));
    },
    onResponse({ request, response }) {
      const id = requestIds.get(request);
      if (id) response.headers.set('x-request-id', id);
    },
  };

  const yoga = createYoga<Record<string, unknown>, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: opts.graphiql ?? false,
    landingPage: false,
    logging: false,
    batching: gqlLimits.maxBatch > 0 ? { limit: gqlLimits.maxBatch } : false,
    // Yoga's own default is 25 MB; our operations are a few KB (five in a batch at most).
    maxRequestBodySize: gqlLimits.maxBodyBytes,
    // CORS_ORIGINS: `*` keeps Yoga's default (any origin), `off` sends no CORS headers, a list
    // is answered by corsAllowListPlugin below.
    cors: securityConfig.corsOrigins === '*' ? undefined : false,
    plugins: [
      requestIdPlugin,
      // Load shedding, request logs and metrics come first: a shed request costs nothing more.
      ...ops.plugins,
      securityHeadersPlugin(!!opts.tls),
      ...(Array.isArray(securityConfig.corsOrigins) ? [corsAllowListPlugin(securityConfig.corsOrigins)] : []),
      webhooksPlugin(deps),
      ...(opts.web ? [webPlugin(opts.web)] : []),
      restPlugin,
      ...(manifest ? [persistedOperationsPlugin(gqlLimits.persistedOperations as 'allow' | 'only', manifest)] : []),
      ...abuseLimitPlugins(gqlLimits, opts.production ?? false),
      readLimitPlugin(),
      auditPlugin(),
    ],
    context: async (init: YogaInitialContext & { connectionParams?: Record<string, unknown> }) => {
      const upgrade = (init as { req?: { headers?: Record<string, string | string[] | undefined> } }).req;
      const header =
        init.request?.headers.get('authorization') ??
        (typeof upgrade?.headers?.authorization === 'string' ? upgrade.headers.authorization : undefined) ??
        (typeof init.connectionParams?.authorization === 'string' ? init.connectionParams.authorization : undefined) ??
        (typeof init.connectionParams?.Authorization === 'string' ? init.connectionParams.Authorization : undefined);
      const auth = await authenticate(opts.verifier, header);
      const xff = init.request?.headers.get('x-forwarded-for') ?? (upgrade?.headers?.['x-forwarded-for'] as string | undefined);
      return contextOf(auth, (init.request && requestIds.get(init.request)) || randomUUID(), ipOf(xff, init));
    },
    maskedErrors: {
      maskError(error, message) {
        const original = (error as GraphQLError).originalError;
        if (error instanceof GraphQLError && !original) {
          // A request error (syntax, validation, variable coercion): the client's to fix.
          if (error.extensions?.code) return error;
          return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: { ...error.extensions, code: 'INVALID_INPUT' } });
        }
        if (original instanceof GraphQLError) {
          if (original.extensions?.code) return original;
          // graphql-js's own input errors (e.g. an Int out of range) are the client's to fix.
          return new GraphQLError((error as GraphQLError).message, { nodes: (error as GraphQLError).nodes, path: (error as GraphQLError).path, extensions: { code: 'INVALID_INPUT' } });
        }
        if (isRetryable(original ?? error)) {
          const retryAfter = original instanceof RetryableError ? original.retryAfterSeconds : 1;
          return new GraphQLError(
            original instanceof RetryableError ? original.message : 'A backing service is unavailable; nothing was changed, try again',
            { path: (error as GraphQLError).path, extensions: { code: 'UNAVAILABLE', retryable: true, retryAfterSeconds: retryAfter } },
          );
        }
        deps.log.error({ err: original ?? error }, 'unexpected error in a GraphQL request');
        return new GraphQLError(message, { path: (error as GraphQLError).path, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      },
    },
  });

  // FAST_PATH (default jit): a node:http listener in front of Yoga for the hottest
  // requests (known JSON queries and mutations, GET /inventory/{id}). It applies what
  // the plugins above apply, through the same functions: request id, shedding, metrics
  // and logs (ops.requests), security headers, persisted operations, GraphQL Armor and
  // every other parse/validation rule (Yoga's own envelop, once per document), the read
  // limit, the audit, and the same context (client IP included). What it cannot do
  // cheaply goes to Yoga. Anything added to the plugin list must be added there too:
  // see docs/performance.md.
  const handler = createFastPath({
    mode: opts.fastPath ?? 'jit',
    deps,
    verifier: opts.verifier,
    schema,
    yoga: yoga as never,
    authenticate,
    context: contextOf,
    ipOf: ipOfNode,
    rest: (req) => answerRest(req),
    requests: ops.requests,
    // With an origin list every answer varies by Origin (corsAllowListPlugin says so on Yoga's).
    headers: { ...securityHeaders(!!opts.tls), ...(Array.isArray(securityConfig.corsOrigins) ? { vary: 'Origin' } : {}) },
    persisted: manifest ? { mode: gqlLimits.persistedOperations as 'allow' | 'only', manifest } : undefined,
    // Bodies over this go to Yoga, which refuses those over GRAPHQL_MAX_BODY_BYTES.
    maxBodyBytes: Math.min(64 * 1024, gqlLimits.maxBodyBytes),
    // Root fields whose answers may be replayed while their memo token holds (the stock
    // snapshot; sold out): every check above still runs for each request.
    memo: opts.fastPathReplay === false ? undefined : { inventory: inventoryMemo, reserve: reserveMemo },
  });
  // The SDK's queries and mutations (what storefronts send) planned now, not by the first shopper
  // to send each one: a sale's first reserves, checkouts and pays would each wait for the compile.
  if (opts.fastPathWarm !== false) {
    const t0 = performance.now();
    const planned = handler.warm(sdkOperationTexts(['query', 'mutation']));
    deps.log.debug({ planned, ms: Math.round(performance.now() - t0) }, "the SDK's operations planned for the fast path");
  }

  const server: Server = opts.tls
    ? (createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) as unknown as Server)
    : createServer(handler);

  // graphql-ws on the same path (src/live/ws.ts): shared stock tickers, bounded per-socket buffers.
  const live = attachGraphqlWs({
    server,
    yoga,
    deps,
    maxBufferedBytes: opts.wsMaxBufferedBytes ?? 1024 * 1024,
    keepAliveMs: opts.wsKeepAliveMs,
    // Per-IP limits are rate limits: off with RATE_LIMIT=off (load tests from one address).
    maxPerIp: securityConfig.rateLimit.enabled ? securityConfig.rateLimit.wsPerIp : 0,
    ipOf: ipOfNode,
    // CORS_ORIGINS (a list, or off) applies to WebSocket upgrades too: browsers do not enforce it there.
    originAllowed: securityConfig.corsOrigins === '*' ? undefined : wsOriginCheck(securityConfig.corsOrigins, securityConfig.trustProxy),
    // Persisted operations apply to WebSocket operations as to HTTP ones.
    resolveQuery: manifest
      ? (params) => resolvePersisted(gqlLimits.persistedOperations as 'allow' | 'only', manifest, params as never)
      : undefined,
  });
  // Open HTTP requests (SSE streams among them), so shutdown can wait for them to end.
  let inFlight = 0;
  server.on('request', (_req, res) => {
    inFlight++;
    res.once('close', () => inFlight--);
  });
  ops.watchWebSockets(() => live.stats());

  return {
    fetch: yoga.fetch as App['fetch'],
    server,
    start(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          ops.shedder.forgetLag();
          resolve((server.address() as AddressInfo).port);
        });
      });
    },
    live: () => live.stats(),
    async stop() {
      // 1. Stop accepting connections.
      const listening = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      // 2. Close every WebSocket with a 1001 close frame (clients reconnect elsewhere and resubscribe).
      await live.dispose(2000);
      // 3. Complete what is left: SSE streams end.
      closing.abort();
      // 4. Give SSE responses a moment to finish, then close what is left.
      const deadline = Date.now() + 1000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      server.closeIdleConnections?.();
      server.closeAllConnections?.();
      await listening;
      ops.stop();
    },
  };
}
