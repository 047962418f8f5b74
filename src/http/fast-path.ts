import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import {
  type DocumentNode,
  type ExecutionResult,
  execute as executeJs,
  getNamedType,
  getOperationAST,
  type GraphQLInputType,
  isInputObjectType,
  typeFromAST,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  parse,
  specifiedRules,
  validate,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';

/** Whether an input type (through lists and nested input objects) has a field with a default value. */
function hasInputFieldDefaults(type: GraphQLInputType, seen: Set<unknown>): boolean {
  const named = getNamedType(type);
  if (!isInputObjectType(named) || seen.has(named)) return false;
  seen.add(named);
  return Object.values(named.getFields()).some((f) => f.defaultValue !== undefined || hasInputFieldDefaults(f.type, seen));
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown })?.then === 'function';
import type { Verifier } from '../auth.js';
import type { Deps } from '../domain/context.js';
import { handleRest } from '../rest/routes.js';
import type { Context } from '../schema/builder.js';

/**
 * A fast path in front of Yoga for the hottest requests of a flash sale.
 *
 * Yoga turns every Node request into a WHATWG Request, runs a dozen plugin hooks,
 * parses, validates and executes, and turns a WHATWG Response back into Node's: most
 * of a small request's cost is that machinery, not our code. This listener answers,
 * straight on node:http:
 * - `POST /graphql` with a JSON body, for queries and mutations: parse + validate once
 *   per distinct document (cached), execute the compiled document (graphql-jit, or
 *   graphql-js with `mode: 'graphql-js'`), mask errors with Yoga's own `maskError`,
 *   and serialise once. Same schema, same resolvers, same auth scopes, same domain code.
 * - `GET /inventory/{id}`: the REST mirror's answer from the in-memory stock copy.
 *
 * Everything else, and anything the fast path is unsure of (a document that does not
 * parse or validate, a subscription, variables that do not coerce, SSE or multipart
 * accepts, CORS requests, batched or persisted-operation bodies), goes to Yoga unchanged:
 * request errors are always Yoga's own. See docs/performance.md.
 */
export type FastPathMode = 'off' | 'graphql-js' | 'jit';

export interface FastPathOptions {
  mode: FastPathMode;
  deps: Deps;
  verifier: Verifier;
  schema: GraphQLSchema;
  /** Yoga's handler: what every request the fast path does not take goes to. */
  yoga: RequestListener & { maskedErrorsOpts?: MaskOpts | null };
  /** Builds the same per-request context fields Yoga's context factory does. */
  context: (auth: { actor?: Context['actor']; authError?: string }, requestId: string) => Context;
  authenticate: (verifier: Verifier, header: string | null | undefined) => Promise<{ actor?: Context['actor']; authError?: string }>;
  /** Distinct documents remembered (parse + validate + compile); default 500. */
  maxDocuments?: number;
  /** Bodies larger than this go to Yoga; default 64 KiB. */
  maxBodyBytes?: number;
}

interface MaskOpts {
  maskError: (error: unknown, message: string, isDev?: boolean) => Error;
  errorMessage: string;
  isDev?: boolean;
}

type Runner = (ctx: Context, variables: Record<string, unknown> | undefined) => ExecutionResult | Promise<ExecutionResult>;

/** A known document: how to run it, or `undefined` when Yoga must answer it. */
type Plan = Runner | undefined;

const INVENTORY_PATH = /^\/inventory\/([^/?]+)$/;
const JSON_TYPE = 'application/json; charset=utf-8';

/** True when Yoga's regular JSON result processor is what this Accept header selects. */
function plainJsonAccept(accept: string | undefined): boolean {
  if (!accept || accept === '*/*') return true;
  return accept === 'application/json' || accept.startsWith('application/json,') || accept.startsWith('application/json;');
}

/** How many requests each path answered (tests check the fast path really ran). */
export interface FastPathStats {
  fast: number;
  yoga: number;
}

export function createFastPath(opts: FastPathOptions): RequestListener & { stats: FastPathStats } {
  const { yoga, deps } = opts;
  const stats: FastPathStats = { fast: 0, yoga: 0 };
  if (opts.mode === 'off') return Object.assign((req: IncomingMessage, res: ServerResponse) => yoga(req, res), { stats });
  const maxDocuments = opts.maxDocuments ?? 500;
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;
  const plans = new Map<string, Plan>();
  const mask = yoga.maskedErrorsOpts;

  function plan(query: string, operationName: string | undefined): Plan {
    const key = operationName ? `${operationName}\u0000${query}` : query;
    if (plans.has(key)) return plans.get(key);
    let out: Plan;
    try {
      const document: DocumentNode = parse(query);
      const errors = validate(opts.schema, document, specifiedRules);
      const op = errors.length === 0 ? getOperationAST(document, operationName) : null;
      if (op && op.operation !== 'subscription') {
        const definitions = op.variableDefinitions ?? [];
        const js: Runner = (ctx, variables) =>
          executeJs({ schema: opts.schema, document, operationName, contextValue: ctx, variableValues: variables }) as
            | ExecutionResult
            | Promise<ExecutionResult>;
        const compiled = opts.mode === 'jit' ? compileQuery(opts.schema, document, operationName, { disablingCapturingStackErrors: true }) : undefined;
        // graphql-jit 0.8 does not fill input-object field defaults (ReserveInput.quantity = 1):
        // documents whose variables reach such a field are coerced by graphql-js first.
        const coerceFirst = definitions.some((d) => {
          const t = typeFromAST(opts.schema, d.type as never);
          return !t || d.defaultValue !== undefined || hasInputFieldDefaults(t as GraphQLInputType, new Set());
        });
        if (compiled && isCompiledQuery(compiled)) {
          out = (ctx, variables) => {
            // Values graphql-js refuses are a request error: the caller hands them to Yoga.
            let coerced: Record<string, unknown> = variables ?? {};
            if (coerceFirst) {
              const v = getVariableValues(opts.schema, definitions, variables ?? {});
              if (v.errors) return { errors: v.errors };
              coerced = v.coerced;
            }
            const r = compiled.query(undefined, ctx, coerced);
            // graphql-jit re-coerces; where it disagrees (a custom scalar given its parsed
            // value) nothing ran yet: let graphql-js execute the raw variables instead.
            if (!isPromise(r) && r.data === undefined) return js(ctx, variables);
            return r;
          };
        } else {
          out = js;
        }
      }
    } catch {
      out = undefined;
    }
    if (plans.size >= maxDocuments) plans.clear();
    plans.set(key, out);
    return out;
  }

  function send(req: IncomingMessage, res: ServerResponse, status: number, body: string, contentType: string, requestId: string, extra?: Record<string, string>) {
    const headers: Record<string, string | number> = {
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId,
      ...extra,
    };
    res.writeHead(status, headers);
    res.end(body);
  }

  function requestIdOf(req: IncomingMessage): string {
    const given = req.headers['x-request-id'];
    return (typeof given === 'string' && given.slice(0, 64)) || randomUUID();
  }

  /** Hands a request whose body was already read to Yoga (it reads `req.body` when set). */
  function toYoga(req: IncomingMessage, res: ServerResponse, body?: Buffer) {
    stats.yoga++;
    if (body) (req as IncomingMessage & { body?: unknown }).body = body.length ? new Uint8Array(body.buffer, body.byteOffset, body.length) : undefined;
    yoga(req, res);
  }

  async function inventory(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const out = await handleRest(deps, { method: 'GET', path, body: async () => undefined });
    if (!out) return toYoga(req, res);
    stats.fast++;
    send(req, res, out.status, JSON.stringify(out.body), JSON_TYPE, requestIdOf(req), out.headers);
  }

  function maskErrors(errors: readonly GraphQLError[]): unknown[] {
    return errors.map((e) => {
      const masked = (mask ? mask.maskError(e, mask.errorMessage, mask.isDev) : e) as GraphQLError;
      const json = masked.toJSON ? masked.toJSON() : { message: masked.message };
      if (json.extensions) {
        const { http: _h, unexpected: _u, ...ext } = json.extensions as Record<string, unknown>;
        if (Object.keys(ext).length) (json as { extensions?: unknown }).extensions = ext;
        else delete (json as { extensions?: unknown }).extensions;
      }
      return json;
    });
  }

  async function graphql(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    let body: { query?: unknown; variables?: unknown; operationName?: unknown; extensions?: unknown };
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return toYoga(req, res, raw);
    }
    if (
      !body ||
      typeof body !== 'object' ||
      Array.isArray(body) ||
      typeof body.query !== 'string' ||
      (body.operationName != null && typeof body.operationName !== 'string') ||
      (body.variables != null && (typeof body.variables !== 'object' || Array.isArray(body.variables))) ||
      body.extensions != null
    ) {
      return toYoga(req, res, raw);
    }
    const run = plan(body.query, (body.operationName as string | null) ?? undefined);
    if (!run) return toYoga(req, res, raw);
    const requestId = requestIdOf(req);
    const auth = await opts.authenticate(opts.verifier, req.headers.authorization);
    const ctx = opts.context(auth, requestId);
    let result: ExecutionResult;
    try {
      result = await run(ctx, (body.variables as Record<string, unknown> | null) ?? undefined);
    } catch (err) {
      // A thrown fault outside any resolver: report it the way Yoga masks it.
      const e = err instanceof GraphQLError ? err : new GraphQLError((err as Error)?.message ?? 'Unexpected error', { originalError: err as Error });
      result = { data: null, errors: [e] };
    }
    if (result.data === undefined) {
      // A request error (variables that do not coerce): nothing ran; Yoga words it.
      return toYoga(req, res, raw);
    }
    stats.fast++;
    const out: Record<string, unknown> = result.errors?.length ? { errors: maskErrors(result.errors), data: result.data } : { data: result.data };
    send(req, res, 200, JSON.stringify(out), JSON_TYPE, requestId);
  }

  const listener: RequestListener = (req, res) => {
    const url = req.url ?? '/';
    const method = req.method;
    if (method === 'GET' && url.startsWith('/inventory/')) {
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (INVENTORY_PATH.test(path) && !req.headers.origin) {
        inventory(req, res, path).catch((err) => {
          if (!res.headersSent) toYoga(req, res);
          else deps.log.error({ err }, 'fast path failed after answering');
        });
        return;
      }
    }
    if (
      method === 'POST' &&
      (url === '/graphql' || url.startsWith('/graphql?')) &&
      !req.headers.origin &&
      (req.headers['content-type'] ?? '').startsWith('application/json') &&
      plainJsonAccept(req.headers.accept)
    ) {
      const chunks: Buffer[] = [];
      let size = 0;
      let tooBig = false;
      // A client that goes away mid-body: nothing to answer, and nothing to crash on.
      req.on('error', () => {});
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) tooBig = true;
        chunks.push(c);
      });
      req.on('end', () => {
        const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        if (tooBig) return toYoga(req, res, raw);
        graphql(req, res, raw).catch((err) => {
          // Authentication or serialisation failed before anything was written.
          deps.log.error({ err }, 'fast path failed');
          if (!res.headersSent) {
            send(req, res, 500, JSON.stringify({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }), JSON_TYPE, requestIdOf(req));
          }
        });
      });
      return;
    }
    toYoga(req, res);
  };
  return Object.assign(listener, { stats });
}
