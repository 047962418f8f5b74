import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, type Plugin, type YogaInitialContext } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { AuthError, type Verifier } from './auth.js';
import { type Actor, type Deps, RetryableError } from './domain/context.js';
import { getProducts } from './domain/inventory/products.js';
import type { ProductRow } from './adapters/db/schema/tables.js';
import { handleRest } from './rest/routes.js';
import { createFastPath, type FastPathMode } from './http/fast-path.js';
import { cachedVerifier } from './http/token-cache.js';
import type { Context } from './schema/builder.js';
import { schema } from './schema/index.js';

export interface AppOptions {
  verifier: Verifier;
  /** Show GraphiQL at /graphql (development). */
  graphiql?: boolean;
  /** The node:http fast path in front of Yoga (docs/performance.md); default 'jit'. */
  fastPath?: FastPathMode;
  /** How long a verified bearer token is trusted without verifying again, in ms; default 30000, 0 = off. */
  tokenCacheMs?: number;
}

export interface App {
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  server: Server;
  start(port: number, host?: string): Promise<number>;
  stop(): Promise<void>;
}

/** Authenticates a bearer token; never throws: a bad token is reported when a guarded field is reached. */
export async function authenticate(verifier: Verifier, header: string | null | undefined): Promise<{ actor?: Actor; authError?: string }> {
  if (!header) return {};
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return { authError: 'The Authorization header must be "Bearer <token>"' };
  try {
    return { actor: await verifier.verify(m[1]) };
  } catch (err) {
    return { authError: err instanceof AuthError ? err.message : 'Invalid token' };
  }
}

/** Collects the product ids asked for in one tick and loads them in one query. */
function productLoader(deps: Deps) {
  const cache = new Map<string, Promise<ProductRow | undefined>>();
  let batch: { ids: Set<string>; done: Promise<Map<string, ProductRow>> } | undefined;
  return (id: string) => {
    let hit = cache.get(id);
    if (hit) return hit;
    if (!batch) {
      const ids = new Set<string>();
      const done = new Promise<Map<string, ProductRow>>((resolve, reject) =>
        queueMicrotask(() => {
          batch = undefined;
          getProducts(deps.db, [...ids]).then((rows) => resolve(new Map(rows.map((r) => [r.id, r]))), reject);
        }),
      );
      batch = { ids, done };
    }
    batch.ids.add(id);
    hit = batch.done.then((m) => m.get(id));
    cache.set(id, hit);
    return hit;
  };
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P03', '08006', '08001', '08003', '40001', '40P01']);

/** True for faults a client may simply retry: the database or Redis unreachable, a serialisation conflict. */
export function isRetryable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof RetryableError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (/Connection is closed|max retries per request|Stream isn't writeable/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

export function buildApp(deps: Deps, appOpts: AppOptions): App {
  const requestIds = new WeakMap<Request, string>();
  const opts = { ...appOpts, verifier: cachedVerifier(appOpts.verifier, { ttlMs: appOpts.tokenCacheMs ?? 30_000 }) };

  const restPlugin: Plugin = {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname === '/graphql' || url.pathname === '/health') {
        if (url.pathname === '/health') endResponse(fetchAPI.Response.json({ status: 'ok' }));
        return;
      }
      const auth = await authenticate(opts.verifier, request.headers.get('authorization'));
      const requestId = requestIds.get(request) ?? randomUUID();
      try {
        const out = await handleRest(deps, {
          method: request.method,
          path: url.pathname,
          body: () => request.json(),
          ...auth,
        });
        if (out) {
          endResponse(
            fetchAPI.Response.json(out.body, { status: out.status, headers: { ...out.headers, 'x-request-id': requestId } }),
          );
        }
      } catch (err) {
        const retryable = isRetryable(err);
        if (!retryable) deps.log.error({ err, requestId, path: url.pathname }, 'REST request failed');
        endResponse(
          fetchAPI.Response.json(
            {
              error: retryable
                ? { code: 'UNAVAILABLE', message: 'A backing service is unavailable; nothing was changed, try again', request_id: requestId }
                : { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error', request_id: requestId },
            },
            { status: retryable ? 503 : 500, headers: retryable ? { 'retry-after': '1', 'x-request-id': requestId } : { 'x-request-id': requestId } },
          ),
        );
      }
    },
  };

  const requestIdPlugin: Plugin = {
    onRequest({ request }) {
      requestIds.set(request, request.headers.get('x-request-id')?.slice(0, 64) || randomUUID());
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
    plugins: [requestIdPlugin, restPlugin],
    context: async (init: YogaInitialContext & { connectionParams?: Record<string, unknown> }) => {
      const upgrade = (init as { req?: { headers?: Record<string, string | string[] | undefined> } }).req;
      const header =
        init.request?.headers.get('authorization') ??
        (typeof upgrade?.headers?.authorization === 'string' ? upgrade.headers.authorization : undefined) ??
        (typeof init.connectionParams?.authorization === 'string' ? init.connectionParams.authorization : undefined) ??
        (typeof init.connectionParams?.Authorization === 'string' ? init.connectionParams.Authorization : undefined);
      const auth = await authenticate(opts.verifier, header);
      return {
        deps,
        ...auth,
        requestId: (init.request && requestIds.get(init.request)) || randomUUID(),
        loadProduct: productLoader(deps),
      };
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

  const server = createServer(
    createFastPath({
      mode: opts.fastPath ?? 'jit',
      deps,
      verifier: opts.verifier,
      schema,
      yoga: yoga as never,
      authenticate,
      context: (auth, requestId) => ({ deps, ...auth, requestId, loadProduct: productLoader(deps) }),
    }),
  );

  // graphql-ws on the same path: every operation goes through yoga.getEnveloped, so
  // WebSocket, SSE and HTTP share one context, auth, validation and error masking.
  const wss = new WebSocketServer({ server, path: '/graphql' });
  const wsServer = useServer<Record<string, unknown>>(
    {
      execute: (args) => (args.rootValue as { execute: typeof import('graphql').execute }).execute(args),
      subscribe: (args) => (args.rootValue as { subscribe: typeof import('graphql').subscribe }).subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const { schema: s, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          connectionParams: ctx.connectionParams,
        });
        const args = {
          schema: s,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );

  return {
    fetch: yoga.fetch as App['fetch'],
    server,
    start(port, host) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      });
    },
    async stop() {
      // Complete open subscriptions with a close frame (1001 going away), then stop listening.
      await wsServer.dispose();
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
      });
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}
