import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import {
  type DocumentNode,
  type ExecutionResult,
  execute as executeJs,
  type FieldNode,
  type GraphQLField,
  getArgumentValues,
  getNamedType,
  getOperationAST,
  type GraphQLInputType,
  isInputObjectType,
  Kind,
  typeFromAST,
  getVariableValues,
  GraphQLError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { compileQuery, isCompiledQuery } from 'graphql-jit';
import { processRegularResult } from 'graphql-yoga';
import type { Verifier } from '../auth.js';
import type { Deps } from '../domain/context.js';
import { describeOperation, type OperationInfo, type RequestState, type RequestTracking } from '../ops/index.js';
import type { RestResponse } from '../rest/routes.js';
import type { Context } from '../schema/builder.js';
import { auditedFields, recordAuditRows } from '../security/audit.js';
import { type OperationManifest, readLimitError, resolvePersisted } from '../security/plugins.js';
import { requestIdFrom } from './request-id.js';

/** Whether an input type (through lists and nested input objects) has a field with a default value. */
function hasInputFieldDefaults(type: GraphQLInputType, seen: Set<unknown>): boolean {
  const named = getNamedType(type);
  if (!isInputObjectType(named) || seen.has(named)) return false;
  seen.add(named);
  return Object.values(named.getFields()).some((f) => f.defaultValue !== undefined || hasInputFieldDefaults(f.type, seen));
}

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown })?.then === 'function';

/**
 * A fast path in front of Yoga for the hottest requests of a flash sale.
 *
 * Yoga turns every Node request into a WHATWG Request, runs a dozen plugin hooks,
 * parses, validates and executes, and turns a WHATWG Response back into Node's: most
 * of a small request's cost is that machinery, not our code. This listener answers,
 * straight on node:http:
 * - `POST /graphql` with a JSON body, for queries and mutations: parse + validate once
 *   per distinct document through Yoga's own envelop (so the GraphQL Armor limits,
 *   introspection rule and any other parse/validation plugin apply), execute the
 *   compiled document (graphql-jit, or graphql-js with `mode: 'graphql-js'`), mask
 *   errors with Yoga's own `maskError` and shape the response with Yoga's own
 *   `processRegularResult`. Same schema, resolvers, auth scopes and domain code.
 * - `GET /inventory/{id}`: the REST mirror's own answer (`rest`).
 *
 * Every check Yoga's plugins make on those requests runs here too, through the same
 * functions: request id, load shedding, request metrics and logs (`requests`, the ops
 * layer), security headers (`headers`), persisted operations (`persisted`), the read
 * rate limit (`readLimitError`), the admin audit (`recordAuditRows`), and the client IP
 * under the trusted-proxy rule (`ipOf`).
 *
 * Everything else, and anything the fast path is unsure of (a document that does not
 * parse or validate or exceeds a limit, a subscription, variables that do not coerce,
 * SSE or multipart accepts, CORS requests, batched bodies, unknown body fields), goes to
 * Yoga unchanged: request errors are always Yoga's own. See docs/performance.md.
 */
export type FastPathMode = 'off' | 'graphql-js' | 'jit';

type Auth = { actor?: Context['actor']; authError?: string };

/** What a field's memo may look at: the caller's identity as authenticated, and the domain. */
export type MemoContext = Pick<Context, 'deps' | 'actor' | 'authError'>;

/**
 * A root field whose answer the fast path may replay: given the field's arguments and the
 * caller, a token that stays the same (===) for exactly as long as the field's answer to
 * these arguments and this kind of caller stays the same, or undefined when the answer must
 * be computed. It is declared beside the field's resolver (e.g. `inventoryMemo`), which
 * must then depend on nothing the token does not cover (no side effects, no per-shopper
 * data). See docs/performance.md, "Replayed answers".
 */
export type FieldMemo = ((args: Record<string, unknown>, ctx: MemoContext) => unknown) & { keyed?: KeyedMemo };

/**
 * A root field whose answer is the same for every idempotency key that was never used: the SDK
 * sends a fresh key with each reserve, so its bodies differ by the key alone, and a sold-out
 * reserve's answer (`SoldOut`) is the same for all of them. Remembered under the body with the
 * key's value left out; replayed when the token (taken as if there were no key) holds and
 * `unused` says this shopper's key was never admitted.
 */
export interface KeyedMemo {
  /** The argument holding the key, as a path into the field's arguments (`['input', 'idempotencyKey']`). */
  path: readonly string[];
  /** The memo token as if the arguments carried no key; undefined: the answer must be computed. */
  token(args: Record<string, unknown>, ctx: MemoContext): unknown;
  /** Whether this answer (the field's value) is one to remember for every unused key. */
  remember(value: unknown): boolean;
  /** Whether `key` was never used by this caller (then the remembered answer holds for it). */
  unused(args: Record<string, unknown>, key: string, ctx: MemoContext): Promise<boolean>;
}

/** The key's value in a JSON body, and the body without it, when it is spelled plainly once. */
function keyOf(body: string, path: readonly string[]): { key: string; rest: string } | undefined {
  const name = `"${path[path.length - 1]}":"`;
  const at = body.indexOf(name);
  if (at < 0 || body.indexOf(name, at + 1) >= 0) return undefined;
  const from = at + name.length;
  const to = body.indexOf('"', from);
  if (to <= from || to - from > 128) return undefined;
  // Printable ASCII without escapes: the JSON text is the key itself.
  for (let i = from; i < to; i++) {
    const c = body.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x5c) return undefined;
  }
  return { key: body.slice(from, to), rest: body.slice(0, from) + body.slice(to) };
}

/** The value at `path` in the arguments, or undefined. */
function argAt(args: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = args;
  for (const k of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** What `getEnveloped` gives back: Yoga's parse and validate with every plugin's hooks. */
interface Enveloped {
  schema: GraphQLSchema;
  parse(source: string): DocumentNode;
  validate(schema: GraphQLSchema, document: DocumentNode): readonly GraphQLError[];
}

export interface FastPathOptions {
  mode: FastPathMode;
  deps: Deps;
  verifier: Verifier;
  schema: GraphQLSchema;
  /** Yoga's handler: what every request the fast path does not take goes to. */
  yoga: RequestListener & { maskedErrorsOpts?: MaskOpts | null; getEnveloped(initial: Record<string, unknown>): unknown };
  /** Builds the same per-request context Yoga's context factory does. */
  context: (auth: Auth, requestId: string, ip: string | undefined) => Context;
  /** Answers at once (no promise) when it can: no token, or one the verifier remembers. */
  authenticate: (verifier: Verifier, header: string | null | undefined) => Auth | Promise<Auth>;
  /** The client's IP under the same trusted-proxy rule as Yoga's context (socket address or X-Forwarded-For). */
  ipOf: (req: IncomingMessage) => string | undefined;
  /** The REST mirror's answer for a path (authentication, rate limits and failures included), as Yoga's REST plugin gives it. */
  rest: (req: { method: string; path: string; authorization: string | undefined; ip: string | undefined; requestId: string }) => Promise<RestResponse | undefined>;
  /** Load shedding, request metrics and logs: the ops layer Yoga's ops plugin calls. */
  requests?: RequestTracking;
  /** Headers every response carries (the security headers). */
  headers?: Record<string, string>;
  /** Persisted operations, enforced as Yoga's persisted-operations plugin does. */
  persisted?: { mode: 'allow' | 'only'; manifest: OperationManifest };
  /** Distinct documents remembered (parse + validate + compile); default 500. */
  maxDocuments?: number;
  /** Bodies larger than this go to Yoga; default 64 KiB. */
  maxBodyBytes?: number;
  /** Root fields whose answers may be replayed while their memo token holds, by field name. */
  memo?: Record<string, FieldMemo>;
  /** Distinct request bodies whose answers are remembered; default 1000 (bodies over 4 KiB never are). */
  maxMemos?: number;
}

/** A root field of a replayable document, with what its memo needs. */
interface MemoField {
  memo: FieldMemo;
  node: FieldNode;
  def: GraphQLField<unknown, unknown>;
}

/** A remembered answer: valid while every root field's memo gives the same tokens. */
interface Replay {
  plan: Runnable;
  media: string;
  vars: Record<string, unknown> | undefined;
  args: Record<string, unknown>[];
  tokens: unknown[];
  result: ExecutionResult;
  status: number;
  body: string;
  headers: Record<string, string>;
}

interface MaskOpts {
  maskError: (error: unknown, message: string, isDev?: boolean) => Error;
  errorMessage: string;
  isDev?: boolean;
}

/** What the checks before execution decided: stop with this result, or run (`done` takes the outcome). */
type Checked = { stop: ExecutionResult } | { done?(result: ExecutionResult): void };

/** A document the fast path runs itself. */
interface Runnable {
  kind: 'run';
  op: OperationDefinitionNode;
  info: OperationInfo;
  /** Admin mutation fields to audit. */
  audit: FieldNode[];
  /** Every root field has a memo (and nothing is audited): the answer may be replayed. */
  memo?: MemoField[];
  /** The variables to execute with, or undefined when they do not coerce (a request error: Yoga words it). */
  coerce(variables: Record<string, unknown> | undefined): Record<string, unknown> | undefined;
  run(ctx: Context, raw: Record<string, unknown> | undefined, coerced: Record<string, unknown>): ExecutionResult | Promise<ExecutionResult>;
}

/** What to do with one document (cached per operation name and text). */
type Plan =
  | Runnable
  /** Refused before parsing, as Yoga refuses it (a persisted-operations refusal). */
  | { kind: 'refuse'; error: GraphQLError }
  /** Yoga answers it (the reason is counted in `stats.handed`). */
  | { kind: 'yoga'; reason: string };

const INVENTORY_PATH = /^\/inventory\/([^/?]+)$/;
const JSON_TYPE = 'application/json; charset=utf-8';
const JSON_HEADERS: Record<string, string> = { 'content-type': JSON_TYPE };
/** The body fields Yoga accepts (`documentId` too when persisted operations are on). */
const PARAMS = new Set(['query', 'variables', 'operationName', 'extensions']);
/** Stands in for Yoga's Request while planning: its parse hooks ask whether it is a GET. */
const PLAN_REQUEST = { method: 'POST' };

/** A WHATWG Response stand-in: Yoga's `processRegularResult` builds one; the fast path writes it to node:http. */
class Captured {
  constructor(
    readonly body: string,
    readonly init: { status: number; headers: Record<string, string> },
  ) {}
}
const CAPTURE = { Response: Captured } as unknown as Parameters<typeof processRegularResult>[1];

const GRAPHQL_RESPONSE = 'application/graphql-response+json';
/** Request bodies larger than this are never remembered (a memo's key is the body). */
const MEMO_MAX_BODY = 4096;

/**
 * The media type Yoga's regular result processor answers with for this Accept header, or
 * undefined when Yoga would pick another processor (SSE, multipart) or the header needs
 * Yoga's full negotiation (quality values, anything unusual). Yoga takes the first listed type
 * it can produce, so the first entry decides: `application/json` (also for no header or the
 * wildcard) or `application/graphql-response+json` (the GraphQL-over-HTTP media type our SDK
 * asks for first).
 */
function regularMediaType(accept: string | undefined): string | undefined {
  if (!accept || accept === '*/*') return 'application/json';
  if (accept.includes('q=')) return undefined;
  const comma = accept.indexOf(',');
  const first = (comma < 0 ? accept : accept.slice(0, comma)).split(';')[0].trim();
  return first === 'application/json' || first === GRAPHQL_RESPONSE ? first : undefined;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** Sets a header in a flat [name, value, ...] list: in place where the name is already there (`at` knows the common ones), else appended. */
function putHeader(out: (string | number)[], at: Map<string, number>, from: number, name: string, value: string | number): void {
  let i = at.get(name);
  for (let j = from; i === undefined && j < out.length; j += 2) if (out[j] === name) i = j + 1;
  if (i !== undefined) out[i] = value;
  else out.push(name, value);
}

/** What the operations layer reads of a fast-path answer (a class: no closures per request). */
class Ended {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly requestId: string,
    readonly contentType: string | undefined,
    private readonly body: string,
  ) {}
  async json(): Promise<unknown> {
    return JSON.parse(this.body);
  }
}

/** How many requests each path answered (tests check the fast path really ran). */
export interface FastPathStats {
  /** Answered by the fast path (shed, rate-limited and refused ones included). */
  fast: number;
  /** Answered by Yoga: everything the fast path does not take, and what it hands over. */
  yoga: number;
  /** Of `yoga`: requests the fast path read and deliberately handed over, by reason. */
  handed: Record<string, number>;
  /** Of `fast`: answers replayed from a memo (every check still ran). */
  replayed: number;
  /** Documents parsed, validated and compiled to run here (at startup by `warm`, or at their first request). */
  compiled: number;
}

export function createFastPath(opts: FastPathOptions): RequestListener & { stats: FastPathStats; warm(queries: readonly string[]): number } {
  const { yoga, deps, requests } = opts;
  const stats: FastPathStats = { fast: 0, yoga: 0, handed: {}, replayed: 0, compiled: 0 };
  if (opts.mode === 'off') return Object.assign((req: IncomingMessage, res: ServerResponse) => yoga(req, res), { stats, warm: () => 0 });
  const maxDocuments = opts.maxDocuments ?? 500;
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;
  const plans = new Map<string, Plan>();
  const mask = yoga.maskedErrorsOpts;
  const common = opts.headers ?? {};
  const persisted = opts.persisted;
  const memos = new Map<string, Replay>();
  /** Keyed answers, under the body without the key's value (see KeyedMemo). */
  const keyedMemos = new Map<string, Replay>();
  const maxMemos = opts.maxMemos ?? 1000;

  /** The root fields' memos when every root field has one (plain fields, no directives), else undefined. */
  function memoFields(op: OperationDefinitionNode): MemoField[] | undefined {
    const memo = opts.memo;
    const root = op.operation === 'query' ? opts.schema.getQueryType() : op.operation === 'mutation' ? opts.schema.getMutationType() : undefined;
    if (!memo || !root) return undefined;
    const out: MemoField[] = [];
    for (const sel of op.selectionSet.selections) {
      if (sel.kind !== Kind.FIELD || sel.directives?.length) return undefined;
      if (sel.name.value === '__typename') continue;
      const def = root.getFields()[sel.name.value];
      const fn = Object.hasOwn(memo, sel.name.value) ? memo[sel.name.value] : undefined;
      if (!fn || !def) return undefined;
      out.push({ memo: fn, node: sel, def });
    }
    return out.length ? out : undefined;
  }

  function compile(document: DocumentNode, op: OperationDefinitionNode, operationName: string | undefined): Runnable {
    stats.compiled++;
    const definitions = op.variableDefinitions ?? [];
    const js: Runnable['run'] = (ctx, raw) =>
      executeJs({ schema: opts.schema, document, operationName, contextValue: ctx, variableValues: raw }) as ExecutionResult | Promise<ExecutionResult>;
    // graphql-jit 0.8 does not fill input-object field defaults (ReserveInput.quantity = 1):
    // documents whose variables reach such a field are given graphql-js's coerced values.
    const coercedForJit = definitions.some((d) => {
      const t = typeFromAST(opts.schema, d.type as never);
      return !t || d.defaultValue !== undefined || hasInputFieldDefaults(t as GraphQLInputType, new Set());
    });
    const compiled = opts.mode === 'jit' ? compileQuery(opts.schema, document, operationName, { disablingCapturingStackErrors: true }) : undefined;
    const run: Runnable['run'] =
      compiled && isCompiledQuery(compiled)
        ? (ctx, raw, coerced) => {
            const r = compiled.query(undefined, ctx, coercedForJit ? coerced : (raw ?? {}));
            // graphql-jit re-coerces; where it disagrees (a custom scalar given its parsed
            // value) nothing ran yet: let graphql-js execute the raw variables instead.
            if (!isPromise(r) && r.data === undefined) return js(ctx, raw, coerced);
            return r;
          }
        : js;
    const audit = auditedFields(opts.schema, op);
    return {
      kind: 'run',
      op,
      info: describeOperation(op),
      audit,
      memo: audit.length ? undefined : memoFields(op),
      // Coerced before any check runs, so a request Yoga must word is handed over untouched.
      coerce: definitions.length
        ? (variables) => {
            const v = getVariableValues(opts.schema, definitions, variables ?? {});
            return v.errors ? undefined : v.coerced;
          }
        : () => ({}),
      run,
    };
  }

  /** Parses, validates and compiles a document through Yoga's own envelop; Yoga answers what fails. */
  function prepare(query: string, operationName: string | undefined): Plan {
    try {
      // Yoga's parse and validate with every plugin's hooks: GraphQL Armor's token, depth,
      // alias, cost and directive limits, introspection off, hidden field suggestions.
      const env = yoga.getEnveloped({ request: PLAN_REQUEST, params: { query, operationName } }) as Enveloped;
      const document = env.parse(query);
      if (env.validate(env.schema, document).length) return { kind: 'yoga', reason: 'invalid' };
      const op = getOperationAST(document, operationName);
      if (!op) return { kind: 'yoga', reason: 'invalid' };
      if (op.operation === 'subscription') return { kind: 'yoga', reason: 'subscription' };
      return compile(document, op, operationName);
    } catch {
      // Over a limit, a syntax error, no such operation: Yoga words the error.
      return { kind: 'yoga', reason: 'invalid' };
    }
  }

  function plan(query: string, operationName: string | undefined): Plan {
    const key = operationName ? `${operationName}\u0000${query}` : query;
    let out = plans.get(key);
    if (out) return out;
    try {
      // Persisted operations: for operation text, Yoga's rule depends on the text alone.
      if (persisted) resolvePersisted(persisted.mode, persisted.manifest, { query });
      out = prepare(query, operationName);
    } catch (err) {
      out = { kind: 'refuse', error: err as GraphQLError };
    }
    if (plans.size >= maxDocuments) plans.clear();
    plans.set(key, out);
    return out;
  }

  /**
   * A body that has passed the fast path's size while being read: Yoga gets a stream of what was
   * read and then the rest, which the request's own listeners write into it as it comes (pausing
   * the request while the stream is full); a request that fails mid-body fails the stream.
   */
  function overflow(req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): PassThrough {
    const rest = new PassThrough();
    for (const c of chunks) rest.write(c);
    rest.on('drain', () => req.resume());
    req.on('error', (err) => rest.destroy(err));
    toYoga(req, res, rest, undefined, 'size');
    return rest;
  }

  /**
   * Hands a request to Yoga; a body already read (or begun) is passed on as a stream (Yoga reads
   * `req.body` when set). Not as a Uint8Array: @whatwg-node looks at a set body with
   * `Object.keys`, one string per byte, which made a 30 MB body take 12 s and 800 MB.
   */
  function toYoga(req: IncomingMessage, res: ServerResponse, body?: Buffer | Readable, state?: RequestState, reason?: string) {
    stats.yoga++;
    if (reason) stats.handed[reason] = (stats.handed[reason] ?? 0) + 1;
    // Yoga's ops plugin tracks the request itself from here.
    if (state) requests?.abandon(state);
    if (body) (req as IncomingMessage & { body?: unknown }).body = Buffer.isBuffer(body) ? (body.length ? Readable.from([body]) : undefined) : body;
    yoga(req, res);
  }

  /** The common headers as a flat [name, value, ...] list, and where each name stands in it. */
  const commonPairs: (string | number)[] = Object.entries(common).flatMap(([k, v]) => [k.toLowerCase(), v]);
  const commonAt = new Map(Object.keys(common).map((k, i) => [k.toLowerCase(), 2 * i + 1]));

  /**
   * Writes an answer with the headers Yoga's plugins add (request id, security headers,
   * Retry-After when shed), and ends the request's tracking. Headers go to node:http as one
   * flat list (no per-request header object); a name given twice keeps its last value, as
   * in an object.
   */
  function send(req: IncomingMessage, res: ServerResponse, state: RequestState | undefined, path: string, requestId: string, status: number, body: string, headers: Record<string, string>) {
    stats.fast++;
    const out = commonPairs.slice();
    let contentType: string | undefined;
    for (const k in headers) {
      const name = k.toLowerCase();
      if (name === 'content-type') contentType = headers[k];
      putHeader(out, commonAt, commonPairs.length, name, headers[k]);
    }
    out.push('content-length', Buffer.byteLength(body), 'x-request-id', requestId);
    if (state && requests) {
      const more = requests.end(state, new Ended(req.method ?? 'GET', path, status, requestId, contentType, body));
      for (const k in more) putHeader(out, commonAt, commonPairs.length, k, more[k]);
    }
    res.writeHead(status, out);
    res.end(body);
  }

  async function inventory(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const begun = requests?.begin('GET', path);
    const requestId = requestIdFrom(req.headers['x-request-id']);
    let out: RestResponse | undefined;
    try {
      out = begun?.refusal ?? (await opts.rest({ method: 'GET', path, authorization: req.headers.authorization, ip: opts.ipOf(req), requestId }));
    } catch (err) {
      // `rest` maps the route's faults itself; this is a bug: answer as the REST plugin's last resort does.
      deps.log.error({ err, requestId, path }, 'fast path failed');
      out = { status: 500, body: { error: { code: 'INTERNAL_SERVER_ERROR', message: 'Unexpected error', request_id: requestId } } };
    }
    if (!out) return toYoga(req, res, undefined, begun?.state, 'rest');
    send(req, res, begun?.state, path, requestId, out.status, out.json ?? JSON.stringify(out.body), out.headers ? { 'content-type': JSON_TYPE, ...out.headers } : JSON_HEADERS);
  }

  /** Answers an execution result the way Yoga's JSON result processor does (status, headers, body). */
  function answer(req: IncomingMessage, res: ServerResponse, state: RequestState | undefined, requestId: string, result: ExecutionResult, media: string) {
    const r = processRegularResult(result as never, CAPTURE, media) as unknown as Captured;
    send(req, res, state, '/graphql', requestId, r.init.status, r.body, r.init.headers);
  }

  const masked = (errors: readonly GraphQLError[]) =>
    mask ? errors.map((e) => mask.maskError(e, mask.errorMessage, mask.isDev) as GraphQLError) : errors;

  /** What a field's memo is given about this caller. */
  const memoContext = (auth: Auth): MemoContext => ({ deps, actor: auth.actor, authError: auth.authError });

  /** The memo tokens of a replayable document's root fields for this caller; undefined when any field's answer must be computed. */
  function tokensOf(fields: MemoField[], args: Record<string, unknown>[], auth: Auth): unknown[] | undefined {
    const ctx = memoContext(auth);
    const out: unknown[] = [];
    for (let i = 0; i < fields.length; i++) {
      const t = fields[i].memo(args[i], ctx);
      if (t === undefined) return undefined;
      out.push(t);
    }
    return out;
  }

  /** Whether the fields' tokens for this caller are still `tokens` (a remembered answer holds). */
  function holds(fields: MemoField[], args: Record<string, unknown>[], tokens: unknown[], auth: Auth): boolean {
    const now = tokensOf(fields, args, auth);
    return !!now && now.every((t, i) => t === tokens[i]);
  }

  /**
   * Answers from a remembered answer with every check of a normal run, in the same order:
   * shedding and the attempt count, the read limit, then the outcome counters and the
   * request log; only parsing, coercion, execution and serialisation are skipped.
   */
  /**
   * The checks before execution, in the order of Yoga's execute hooks: shedding and the
   * attempt count (`requests.execution`), then the read limit (`ctx` is built only for it).
   * Returns the result to answer when the request stops there, else what takes the outcome;
   * a promise only while the read limit is being asked.
   */
  function checks(state: RequestState | undefined, p: Runnable, vars: Record<string, unknown> | undefined, ctx: () => Context): Checked | Promise<Checked> {
    const exec = requests?.execution(state, p.info, p.op, vars);
    if (exec?.stop) return { stop: exec.stop };
    const pending = p.info.kind === 'mutation' ? undefined : readLimitError(p.info.kind, ctx());
    if (!pending) return { done: exec?.done };
    return pending.then((limited): Checked => (limited ? { stop: { errors: [limited] } } : { done: exec?.done }));
  }

  /** A keyed run's answer may be remembered: the field's value is one to keep, and its token held through the run. */
  function keyedStill(k: { field: MemoField }, memo: { args: Record<string, unknown>[]; tokens: unknown[] }, r: ExecutionResult, auth: Auth): boolean {
    const name = k.field.node.alias?.value ?? k.field.node.name.value;
    const value = (r.data as Record<string, unknown>)[name];
    return k.field.memo.keyed!.remember(value) && k.field.memo.keyed!.token(memo.args[0], memoContext(auth)) === memo.tokens[0];
  }

  /** The keyed field of the memo documents (the first one's path; every keyed memo names its key the same way). */
  const keyedPath = Object.values(opts.memo ?? {}).find((m) => m.keyed)?.keyed?.path;
  const keyedSplit = (body: string) => (keyedPath ? keyOf(body, keyedPath) : undefined);

  /** A keyed answer's one root field: its token (taken as if keyless) holds, and this caller never used `key`. */
  async function keyedHolds(m: Replay, key: string, auth: Auth): Promise<boolean> {
    const f = m.plan.memo![0];
    const ctx = memoContext(auth);
    if (f.memo.keyed!.token(m.args[0], ctx) !== m.tokens[0]) return false;
    return f.memo.keyed!.unused(m.args[0], key, ctx).catch(() => false);
  }

  async function replay(req: IncomingMessage, res: ServerResponse, state: RequestState | undefined, m: Replay, auth: Auth, media: string): Promise<void> {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const p = m.plan;
    let result: ExecutionResult | undefined;
    try {
      const pending = checks(state, p, m.vars, () => opts.context(auth, requestId, opts.ipOf(req)));
      const checked = isPromise(pending) ? await pending : pending;
      if ('stop' in checked) result = checked.stop;
      else checked.done?.(m.result);
    } catch (err) {
      result = { errors: masked([err as GraphQLError]) };
    }
    if (result) return answer(req, res, state, requestId, result, media);
    stats.replayed++;
    send(req, res, state, '/graphql', requestId, m.status, m.body, m.headers);
  }

  async function graphql(req: IncomingMessage, res: ServerResponse, raw: Buffer, state: RequestState | undefined, media: string): Promise<void> {
    // The same bytes are the same document, operation and variables: a remembered answer
    // is replayed while its fields' memo tokens hold for this caller.
    const key = opts.memo && raw.length <= MEMO_MAX_BODY ? raw.toString('latin1') : undefined;
    const remembered = key !== undefined ? memos.get(key) : undefined;
    let auth: Auth | undefined;
    if (remembered && remembered.media === media) {
      const known = opts.authenticate(opts.verifier, req.headers.authorization);
      auth = isPromise(known) ? await known : known;
      if (holds(remembered.plan.memo!, remembered.args, remembered.tokens, auth)) return replay(req, res, state, remembered, auth, media);
    }
    // The same body but for an idempotency key: replayed when the key was never used by this caller.
    const split = key !== undefined && !remembered && keyedMemos.size ? keyedSplit(key) : undefined;
    const keyedHit = split && keyedMemos.get(split.rest);
    if (split && keyedHit && keyedHit.media === media) {
      if (!auth) {
        const known = opts.authenticate(opts.verifier, req.headers.authorization);
        auth = isPromise(known) ? await known : known;
      }
      if (await keyedHolds(keyedHit, split.key, auth)) return replay(req, res, state, keyedHit, auth, media);
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return toYoga(req, res, raw, state, 'body');
    }
    if (!isObject(body)) return toYoga(req, res, raw, state, 'body');
    for (const k in body) {
      if (body[k] != null && !PARAMS.has(k) && !(k === 'documentId' && persisted)) return toYoga(req, res, raw, state, 'body');
    }
    const { variables, operationName, extensions } = body;
    if (
      (operationName != null && typeof operationName !== 'string') ||
      (variables != null && !isObject(variables)) ||
      // Extensions only mean something here as a persisted-query id.
      (extensions != null && (!persisted || !isObject(extensions)))
    ) {
      return toYoga(req, res, raw, state, 'body');
    }
    const requestId = requestIdFrom(req.headers['x-request-id']);
    let query = body.query;
    if (persisted && (body.documentId != null || (extensions as { persistedQuery?: unknown } | undefined)?.persistedQuery != null)) {
      try {
        query = resolvePersisted(persisted.mode, persisted.manifest, body as never);
      } catch (err) {
        // Refused before anything ran, as Yoga refuses it (its request errors are masked too).
        return answer(req, res, state, requestId, { errors: masked([err as GraphQLError]) }, media);
      }
    }
    if (typeof query !== 'string') return toYoga(req, res, raw, state, 'body');
    const p = plan(query, (operationName as string | null) ?? undefined);
    if (p.kind === 'yoga') return toYoga(req, res, raw, state, p.reason);
    if (p.kind === 'refuse') return answer(req, res, state, requestId, { errors: masked([p.error]) }, media);
    const vars = (variables as Record<string, unknown> | null) ?? undefined;
    const coerced = p.coerce(vars);
    if (!coerced) return toYoga(req, res, raw, state, 'variables');

    if (!auth) {
      const known = opts.authenticate(opts.verifier, req.headers.authorization);
      auth = isPromise(known) ? await known : known;
    }
    let result: ExecutionResult;
    // A replayable document: its arguments and tokens before the run (undefined: not this time).
    let memo: { args: Record<string, unknown>[]; tokens: unknown[] } | undefined;
    // A keyed answer to remember (one root field with a keyed memo, its key given): under the body less the key.
    let keyed: { rest: string; field: MemoField; key: string } | undefined;
    if (key !== undefined && p.memo) {
      try {
        const args = p.memo.map((f) => getArgumentValues(f.def, f.node, coerced));
        const tokens = tokensOf(p.memo, args, auth);
        if (tokens) memo = { args, tokens };
        const f = p.memo[0];
        const given = !memo && p.memo.length === 1 && f.memo.keyed ? argAt(args[0], f.memo.keyed.path) : undefined;
        // The body is cut only when there is an answer to remember (not for a reserve with stock left).
        const t = typeof given === 'string' ? f.memo.keyed!.token(args[0], memoContext(auth)) : undefined;
        const cut = t !== undefined ? (split ?? keyedSplit(key)) : undefined;
        if (cut && cut.key === given) {
          memo = { args, tokens: [t] };
          keyed = { rest: cut.rest, field: f, key: cut.key };
        }
      } catch {
        // Arguments that do not coerce: the run words the error, nothing is remembered.
      }
    }
    try {
      const ctx = opts.context(auth, requestId, opts.ipOf(req));
      // In the order of Yoga's execute hooks: the checks, then execution, the ops and audit
      // hooks on the unmasked result, then masking.
      const pending = checks(state, p, vars, () => ctx);
      const checked = isPromise(pending) ? await pending : pending;
      if ('stop' in checked) result = checked.stop;
      else {
        const r = await p.run(ctx, vars, coerced);
        checked.done?.(r);
        if (p.audit.length) await recordAuditRows(opts.schema, ctx, p.audit, r, vars);
        result = r.errors?.length ? { errors: masked(r.errors), data: r.data } : { data: r.data };
        // Remembered only when it ran without errors and the tokens held through the run
        // (an answer computed while the stock changed is not kept).
        if (memo && !r.errors?.length && r.data && (keyed ? keyedStill(keyed, memo, r, auth) : holds(p.memo!, memo.args, memo.tokens, auth))) {
          const out = processRegularResult(result as never, CAPTURE, media) as unknown as Captured;
          const into = keyed ? keyedMemos : memos;
          if (into.size >= maxMemos) into.clear();
          into.set(keyed ? keyed.rest : key!, { plan: p, media, vars, args: memo.args, tokens: memo.tokens, result, status: out.init.status, body: out.body, headers: out.init.headers });
          return send(req, res, state, '/graphql', requestId, out.init.status, out.body, out.init.headers);
        }
      }
    } catch (err) {
      // A fault in a check or outside any resolver (Redis down under the read limit):
      // Yoga reports what its execute hooks throw as a masked request error; so does this.
      result = { errors: masked([err as GraphQLError]) };
    }
    answer(req, res, state, requestId, result, media);
  }

  const listener: RequestListener = (req, res) => {
    let media: string | undefined;
    const url = req.url ?? '/';
    const method = req.method;
    if (method === 'GET' && url.startsWith('/inventory/')) {
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (INVENTORY_PATH.test(path) && !req.headers.origin) {
        inventory(req, res, path).catch((err) => deps.log.error({ err }, 'fast path failed after answering'));
        return;
      }
    }
    if (
      method === 'POST' &&
      (url === '/graphql' || url.startsWith('/graphql?')) &&
      !req.headers.origin &&
      (req.headers['content-type'] ?? '').startsWith('application/json') &&
      (media = regularMediaType(req.headers.accept)) !== undefined
    ) {
      // A body larger than the fast path takes goes to Yoga unread, which answers by its own
      // limit (413 at once for a declared length over it) as it does every other request.
      if (Number(req.headers['content-length']) > maxBody) return toYoga(req, res, undefined, undefined, 'size');
      const chunks: Buffer[] = [];
      let size = 0;
      // A client that goes away mid-body: nothing to answer, and nothing to crash on.
      req.on('error', () => {});
      // Past the fast path's size (no declared length), Yoga gets what was read and the rest as it
      // comes (its limit counts it), through `rest`, not a buffer of it all. The listeners stay
      // anonymous closures: named ones (tsx keepNames) cost an Object.defineProperty each per request,
      // and keeping them in an object or array to remove them later made every POST ~60 % dearer.
      let rest: PassThrough | undefined;
      req.on('data', (c: Buffer) => {
        if (rest) {
          if (!rest.write(c)) req.pause();
          return;
        }
        size += c.length;
        chunks.push(c);
        if (size > maxBody) rest = overflow(req, res, chunks);
      });
      req.on('end', () => {
        if (rest) return void rest.end();
        const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        // Tracked (in flight, timed) once the body is in: a client that goes away mid-body
        // never reaches here, so it cannot leave an in-flight count behind.
        const state = requests?.begin('POST', '/graphql')?.state;
        graphql(req, res, raw, state, media!).catch((err) => {
          // Authentication or serialisation failed before anything was written.
          deps.log.error({ err }, 'fast path failed');
          if (!res.headersSent) {
            send(req, res, state, '/graphql', requestIdFrom(req.headers['x-request-id']), 500, JSON.stringify({ errors: [{ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }), { 'content-type': JSON_TYPE });
          }
        });
      });
      return;
    }
    toYoga(req, res);
  };
  /**
   * Plans documents before their first request (parse, validate, compile: 5-20 ms each for a
   * mutation like the SDK's reserve, paid otherwise by whoever sends it first, at a sale's opening
   * while every shopper waits). Returns how many the fast path will run itself.
   */
  const warm = (queries: readonly string[]) => queries.filter((q) => plan(q, undefined).kind === 'run').length;
  return Object.assign(listener, { stats, warm });
}
