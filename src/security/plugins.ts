import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { getOperationAST, GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../schema/builder.js';
import type { GraphqlLimitsConfig } from './config.js';

/**
 * Abuse limits on every GraphQL operation, checked at parse and validation time, so
 * a refused operation never executes: depth, cost, aliases, tokens, directives
 * (GraphQL Armor), and introspection when it is off. The same plugins run for HTTP,
 * SSE and graphql-ws, which all go through `yoga.getEnveloped`.
 */
export function abuseLimitPlugins(cfg: GraphqlLimitsConfig, production: boolean): Plugin[] {
  const armor = new EnvelopArmor({
    maxDepth: { n: cfg.maxDepth, ignoreIntrospection: true, flattenFragments: true },
    costLimit: { maxCost: cfg.maxCost, ignoreIntrospection: true },
    maxAliases: { n: cfg.maxAliases },
    maxTokens: { n: cfg.maxTokens },
    maxDirectives: { n: cfg.maxDirectives },
    blockFieldSuggestion: { enabled: production },
  });
  const plugins = armor.protect().plugins as Plugin[];
  if (!cfg.introspection) {
    plugins.push({
      onValidate({ addValidationRule }) {
        addValidationRule(NoSchemaIntrospectionCustomRule);
      },
    });
  }
  return plugins;
}

/** The persisted-operations manifest: sha256 hex of the document text -> document text. */
export class OperationManifest {
  private readonly byId = new Map<string, string>();

  constructor(entries: Record<string, string>) {
    for (const [id, text] of Object.entries(entries)) {
      if (typeof text !== 'string') throw new Error(`persisted operation "${id}" is not a string`);
      this.byId.set(id.replace(/^sha256:/, ''), text);
      // Also reachable by the hash of its exact text, so clients may send either.
      this.byId.set(sha256(text), text);
    }
  }

  static load(file: string): OperationManifest {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`PERSISTED_OPERATIONS_FILE ${file} is not a readable JSON manifest: ${(err as Error).message}`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error(`PERSISTED_OPERATIONS_FILE ${file} must be a JSON object of "<sha256>": "<operation text>"`);
    }
    return new OperationManifest(parsed as Record<string, string>);
  }

  get(id: string): string | undefined {
    return this.byId.get(id.replace(/^sha256:/, ''));
  }

  hasText(text: string): boolean {
    return this.byId.has(sha256(text));
  }

  get size(): number {
    return this.byId.size;
  }
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const refused = (message: string, code: string) =>
  new GraphQLError(message, { extensions: { code, http: { status: 400 } } });

/**
 * Resolves `documentId` (or Apollo's `extensions.persistedQuery.sha256Hash`) to the
 * operation text; in `only` mode refuses any operation text that is not in the manifest.
 */
export function resolvePersisted(
  mode: 'allow' | 'only',
  manifest: OperationManifest,
  params: { query?: string; documentId?: unknown; extensions?: Record<string, unknown> },
): string {
  const apq = (params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
  const id = typeof params.documentId === 'string' ? params.documentId : typeof apq === 'string' ? apq : undefined;
  if (id !== undefined) {
    const text = manifest.get(id);
    if (!text) throw refused(`No persisted operation with id "${id.slice(0, 80)}"`, 'PERSISTED_QUERY_NOT_FOUND');
    return text;
  }
  if (!params.query) throw refused('Send a persisted operation id (documentId)', 'PERSISTED_QUERY_NOT_FOUND');
  if (mode === 'only' && !manifest.hasText(params.query)) {
    throw refused('This server accepts only the operations its clients ship (persisted operations)', 'PERSISTED_QUERY_ONLY');
  }
  return params.query;
}

export function persistedOperationsPlugin(mode: 'allow' | 'only', manifest: OperationManifest): Plugin {
  return {
    onParams({ params, setParams }) {
      const query = resolvePersisted(mode, manifest, params as never);
      // Yoga refuses parameters it does not know, so the id goes once it is resolved.
      const { documentId: _id, ...rest } = params as typeof params & { documentId?: unknown };
      setParams({ ...rest, query });
    },
  };
}

/**
 * The read budget (queries and subscriptions; mutations are limited in their resolvers):
 * the error to answer when this shopper or IP is over it, else undefined. Yoga's
 * `readLimitPlugin` and the fast path both call it.
 */
export function readLimitError(kind: 'query' | 'mutation' | 'subscription' | undefined, ctx: Pick<Context, 'security' | 'actor' | 'ip'>): Promise<GraphQLError | undefined> | undefined {
  // Undefined at once (no promise to wait for) when nothing is to be taken.
  if (kind === 'mutation' || !ctx.security.config.rateLimit.enabled) return undefined;
  return ctx.security.read(ctx.actor, ctx.ip).then((limited) => {
    if (!limited) return undefined;
    const retryAfterSeconds = limited.retryAfterSeconds;
    return new GraphQLError(`Too many requests; try again in ${retryAfterSeconds} s`, {
      extensions: { code: 'RATE_LIMITED', retryAfterSeconds, http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } } },
    });
  });
}

/** Read budget for queries and subscriptions; mutations are limited in their resolvers. */
export function readLimitPlugin(): Plugin<Context> {
  const check = async (args: { document: unknown; operationName?: string | null; contextValue: Context }, stop: (r: { errors: GraphQLError[] }) => void) => {
    const op = getOperationAST(args.document as never, args.operationName ?? undefined);
    const refused = await readLimitError(op?.operation, args.contextValue);
    if (refused) stop({ errors: [refused] });
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      await check(args as never, setResultAndStopExecution as never);
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      await check(args as never, setResultAndStopExecution as never);
    },
  };
}

/** The headers every HTTP response carries (GraphQL, REST, health); HSTS only over TLS. */
export function securityHeaders(tls: boolean): Record<string, string> {
  return {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': "frame-ancestors 'none'",
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-site',
    'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    ...(tls ? { 'strict-transport-security': 'max-age=31536000; includeSubDomains' } : {}),
  };
}

/** Headers on every HTTP response (GraphQL, REST, health), from `securityHeaders`. */
export function securityHeadersPlugin(tls: boolean): Plugin {
  const headers = Object.entries(securityHeaders(tls));
  return {
    onResponse({ response }) {
      const h = response.headers;
      for (const [name, value] of headers) {
        // A response that brings its own policy (the storefront's pages) keeps it.
        if (name === 'content-security-policy' && h.has(name)) continue;
        h.set(name, value);
      }
    },
  };
}

/**
 * Whether a WebSocket upgrade's page may open a socket under CORS_ORIGINS (`off` or a list; `*`
 * needs no check). Browsers do not apply CORS to WebSockets, so the server does: an upgrade
 * without an `Origin` (native apps, servers) passes; one from a listed origin passes; one from the
 * API's own origin passes (its `Host`, or with TRUST_PROXY the proxy's `X-Forwarded-Host`), as its
 * pages, the built-in storefront among them, need no CORS for HTTP either; any other is refused.
 */
export function wsOriginCheck(origins: 'off' | readonly string[], trustProxy: number): (req: IncomingMessage) => boolean {
  const allowed = new Set(origins === 'off' ? [] : origins);
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (allowed.has(origin)) return true;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false; // "null" (a sandboxed page, a file), or not an origin at all
    }
    // Host names compare without case (the URL parser lowercases the origin's).
    const forwarded = trustProxy > 0 ? String(req.headers['x-forwarded-host'] ?? '').split(',')[0].trim().toLowerCase() : '';
    return host !== '' && (host === forwarded || host === req.headers.host?.toLowerCase());
  };
}

/**
 * CORS for a list of allowed origins (CORS_ORIGINS): a listed origin gets its own origin back
 * (with `Vary: Origin`), its preflights are answered 204 with the methods and headers asked
 * for; any other origin gets no CORS headers, so browsers keep its pages from reading answers
 * (same-origin pages, the storefront among them, need none). Requests are served either way:
 * nothing here is a credential check (the API authenticates by bearer token, never a cookie).
 */
export function corsAllowListPlugin(origins: readonly string[]): Plugin {
  const allowed = new Set(origins);
  const headersFor = (request: Request): Record<string, string> | undefined => {
    const origin = request.headers.get('origin');
    if (!origin || !allowed.has(origin)) return undefined;
    return { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true' };
  };
  return {
    onRequest({ request, fetchAPI, endResponse }) {
      if (request.method !== 'OPTIONS') return;
      const headers: Record<string, string> = { 'content-length': '0', vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' };
      const cors = headersFor(request);
      if (cors) {
        Object.assign(headers, cors, { 'access-control-allow-methods': 'GET, POST, OPTIONS', 'access-control-max-age': '600' });
        const asked = request.headers.get('access-control-request-headers');
        if (asked) headers['access-control-allow-headers'] = asked;
      }
      endResponse(new fetchAPI.Response(null, { status: 204, headers }));
    },
    onResponse({ request, response }) {
      const cors = headersFor(request);
      const vary = response.headers.get('vary');
      if (!vary?.split(',').some((v) => v.trim().toLowerCase() === 'origin')) response.headers.set('vary', vary ? `${vary}, Origin` : 'Origin');
      if (cors) for (const [k, v] of Object.entries(cors)) response.headers.set(k, v);
    },
  };
}
