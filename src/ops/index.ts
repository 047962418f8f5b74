import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { type DocumentNode, type ExecutionResult, GraphQLError, Kind, type OperationDefinitionNode, type ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { misconfiguration, pingAll, type RedisClient } from '../adapters/redis/client.js';
import { migrationsFolder, rowsOf } from '../adapters/db/client.js';
import type { Deps } from '../domain/context.js';
import { AttemptCounter } from './attempts.js';
import { defaultOpsConfig, type OpsConfig } from './config.js';
import { Metrics, type WebSocketFigures } from './metrics.js';
import { graphqlPriority, LoadShedder, type Priority, restPriority } from './shedding.js';

/** What createRuntime hands the operations layer. */
export interface RuntimeOps {
  /** The gate's Redis connection and key prefix (readiness, fleet-wide attempt counts). */
  redis?: { client: RedisClient; prefix: string };
}

export interface Ops {
  config: OpsConfig;
  metrics: Metrics;
  shedder: LoadShedder;
  attempts: AttemptCounter;
  /** Yoga plugins: /ready, /metrics, request logs, request metrics, load shedding. */
  plugins: Plugin[];
  /**
   * The same steps as plain functions, for the node:http fast path (src/http/fast-path.ts):
   * Yoga's plugin above calls exactly these, so both paths shed, count and log alike.
   */
  requests: RequestTracking;
  /** Tells metrics where to read this process's WebSocket figures: its subscribers and the upgrades it refused. */
  watchWebSockets(fn: () => WebSocketFigures): void;
  stop(): void;
}

/** A REST answer: status, JSON body and extra headers. */
export interface OpsAnswer {
  status: number;
  body: unknown;
  headers: Record<string, string>;
}

/** One HTTP request as the operations layer follows it (in flight, label, outcome, latency). */
export interface RequestState {
  start: number;
  operation: string;
  outcome?: 'ok' | 'error' | 'unavailable' | 'shed';
  shed?: boolean;
}

/** What the operations layer needs to know about a GraphQL operation; the same for every run of one document. */
export interface OperationInfo {
  kind: 'query' | 'mutation' | 'subscription';
  /** Root fields, `__typename` and the like left out. */
  fields: string[];
  /** The metrics/log label: "mutation reserve", "query inventory,products". */
  label: string;
  priority: Priority;
}

export interface RequestTracking {
  /**
   * A request starts: counted in flight and timed. A REST route past its shedding share
   * comes back with `refusal` (answer it as is). Undefined for /ready, /metrics and /health.
   */
  begin(method: string, path: string): { state: RequestState; refusal?: OpsAnswer } | undefined;
  /**
   * A GraphQL operation is about to execute: labels the request, sheds it by rank (then
   * `stop` is the result to answer), counts reserve attempts; otherwise `done` takes the result.
   */
  execution(
    state: RequestState | undefined,
    info: OperationInfo,
    op: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined,
  ): { stop: ExecutionResult; done?: undefined } | { stop?: undefined; done(result: ExecutionResult): void };
  /**
   * The response is ready: metrics and the request log. Returns the headers to add to it
   * (Retry-After on a shed request). `json` reads the response body (REST outcomes).
   */
  end(state: RequestState, response: EndedResponse): Record<string, string>;
  /** The fast path handed the request to Yoga, which tracks it from the start itself. */
  abandon(state: RequestState): void;
}

export interface EndedResponse {
  method: string;
  path: string;
  status: number;
  requestId: string | undefined;
  contentType: string | null | undefined;
  json(): Promise<unknown>;
}

/** The operation's kind, root fields, label and shedding rank. */
export function describeOperation(op: OperationDefinitionNode): OperationInfo {
  const fields = op.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD && !s.name.value.startsWith('__') ? [s.name.value] : []));
  return { kind: op.operation, fields, label: `${op.operation} ${fields.join(',') || '__typename'}`, priority: graphqlPriority(op.operation, fields) };
}

const byDeps = new WeakMap<Deps, Ops>();

/** The operations layer of the app built on these deps (saleStats reads its attempt counts). */
export function opsOf(deps: Deps): Ops | undefined {
  return byDeps.get(deps);
}

function journalLength(): number {
  try {
    return (JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;
  } catch {
    return 0;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** `/ready`: Postgres answers, every committed migration is applied, Redis answers (when configured). */
export async function readiness(deps: Deps, runtime: RuntimeOps): Promise<{ ready: boolean; checks: Record<string, string> }> {
  const checks: Record<string, string> = {};
  try {
    if (deps.postgres?.unresponsive) throw new Error('not answering (the watchdog, POSTGRES_TIMEOUT_MS)');
    await withTimeout(deps.db.execute(sql`select 1`), 2000);
    checks.postgres = 'ok';
    try {
      const [row] = rowsOf<{ n: number }>(await withTimeout(deps.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`), 2000));
      const want = journalLength();
      checks.migrations = Number(row?.n ?? 0) >= want ? 'ok' : `${row?.n ?? 0} of ${want} applied`;
    } catch (err) {
      checks.migrations = `unknown: ${(err as Error).message}`;
    }
  } catch (err) {
    checks.postgres = `unreachable: ${(err as Error).message}`;
  }
  if (runtime.redis) {
    const r = runtime.redis.client;
    try {
      if (r.status !== 'ready') throw new Error(`connection ${r.status}`);
      // Every primary of a Redis Cluster answers, and a plain client is not on a Cluster node.
      if (!(await withTimeout(pingAll(r), 1000))) throw new Error('a server did not answer PING');
      const problem = await withTimeout(misconfiguration(r), 1000);
      checks.redis = problem ?? 'ok';
    } catch (err) {
      checks.redis = `unreachable: ${(err as Error).message}`;
    }
  }
  return { ready: Object.values(checks).every((c) => c === 'ok'), checks };
}

function operationOf(doc: DocumentNode, name?: string | null): OperationDefinitionNode | undefined {
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return name ? ops.find((o) => o.name?.value === name) : ops[0];
}

/** A string argument's value, inline or from a variable. */
function valueOf(v: ValueNode | undefined, vars: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined;
  if (v.kind === Kind.VARIABLE) return vars?.[v.name.value];
  if (v.kind === Kind.STRING) return v.value;
  return undefined;
}

/** The productId a `reserve(input: ...)` field asks for, from an inline object or a variable. */
function reservedProduct(op: OperationDefinitionNode, vars: Record<string, unknown> | undefined): string | undefined {
  for (const sel of op.selectionSet.selections) {
    if (sel.kind !== Kind.FIELD || sel.name.value !== 'reserve') continue;
    const input = sel.arguments?.find((a) => a.name.value === 'input')?.value;
    if (!input) return undefined;
    if (input.kind === Kind.VARIABLE) {
      const obj = vars?.[input.name.value] as { productId?: unknown } | undefined;
      return typeof obj?.productId === 'string' ? obj.productId : undefined;
    }
    if (input.kind === Kind.OBJECT) {
      const v = valueOf(input.fields.find((f) => f.name.value === 'productId')?.value, vars);
      return typeof v === 'string' ? v : undefined;
    }
  }
  return undefined;
}

const REST_OPS: Record<string, string> = {
  '/add-to-cart': 'REST add-to-cart',
  '/reserve-inventory': 'REST reserve-inventory',
  '/checkout': 'REST checkout',
  '/payment': 'REST payment',
};

export function createOps(deps: Deps, config: OpsConfig = defaultOpsConfig(), runtime: RuntimeOps = {}): Ops {
  const shedder = new LoadShedder({
    enabled: config.shedding,
    maxInFlight: config.shedMaxInFlight,
    maxLagMs: config.shedMaxLagMs,
    retryAfterSeconds: config.shedRetryAfterSeconds,
  });
  let webSockets = (): WebSocketFigures => ({ sockets: 0, refusedOrigin: 0, refusedPerIp: 0 });
  const metrics = new Metrics(deps, shedder, () => webSockets());
  const attempts = new AttemptCounter(runtime.redis);
  const states = new WeakMap<Request, RequestState>();
  const retryAfter = String(config.shedRetryAfterSeconds);

  const shedMessage = 'The server is overloaded; nothing was changed, try again shortly';

  const requests: RequestTracking = {
    begin(method, path) {
      if (path === '/ready' || path === '/metrics' || path === '/health') return undefined;
      const state: RequestState = {
        start: performance.now(),
        operation: path === '/graphql' ? 'graphql' : path.startsWith('/inventory/') ? 'REST inventory' : (REST_OPS[path] ?? 'other'),
      };
      shedder.inFlight++;
      const priority = restPriority(method, path);
      if (priority && shedder.shouldShed(priority)) {
        state.shed = true;
        state.outcome = 'shed';
        return {
          state,
          refusal: { status: 503, body: { error: { code: 'UNAVAILABLE', message: shedMessage, retryable: true } }, headers: { 'retry-after': retryAfter } },
        };
      }
      return { state };
    },

    execution(state, info, op, variables) {
      const { fields } = info;
      if (state) state.operation = info.label;
      if (state && shedder.shouldShed(info.priority)) {
        state.shed = true;
        state.outcome = 'shed';
        if (fields.includes('reserve')) metrics.reserveOutcomes.count({ outcome: 'SHED' });
        return {
          stop: {
            errors: [new GraphQLError(shedMessage, { extensions: { code: 'UNAVAILABLE', retryable: true, retryAfterSeconds: config.shedRetryAfterSeconds } })],
          },
        };
      }
      if (fields.includes('reserve')) {
        const productId = reservedProduct(op, variables);
        if (productId) attempts.record(productId);
      }
      return {
        done(result) {
          const r = result as { data?: Record<string, { __typename?: string } | null> | null; errors?: readonly GraphQLError[] };
          const unavailable = r.errors?.some((e) => e.extensions?.code === 'UNAVAILABLE');
          if (state) state.outcome = unavailable ? 'unavailable' : r.errors?.length ? 'error' : 'ok';
          // A refusal thrown as an error (a blocked shopper or network: FORBIDDEN) is counted by its code.
          const code = r.errors?.[0]?.extensions?.code;
          const otherwise = unavailable ? 'UNAVAILABLE' : r.errors?.length ? (code === 'FORBIDDEN' || code === 'UNAUTHENTICATED' ? code : 'ERROR') : 'UNKNOWN';
          if (fields.includes('reserve')) metrics.reserveOutcomes.count({ outcome: r.data?.reserve?.__typename ?? otherwise });
          if (fields.includes('pay')) metrics.payOutcomes.count({ outcome: r.data?.pay?.__typename ?? otherwise });
        },
      };
    },

    end(state, response) {
      shedder.inFlight--;
      const seconds = (performance.now() - state.start) / 1000;
      const status = response.status;
      const outcome = state.outcome ?? (status === 503 ? 'unavailable' : status >= 500 ? 'error' : 'ok');
      const operation = state.operation;
      metrics.requests.inc(`${operation}\u0000${outcome}`, () => ({ operation, outcome }));
      metrics.latency.observe(operation, seconds);
      const rest = state.operation === 'REST reserve-inventory' || state.operation === 'REST add-to-cart' ? metrics.reserveOutcomes : state.operation === 'REST payment' ? metrics.payOutcomes : undefined;
      if (rest) {
        if (state.shed) rest.count({ outcome: 'SHED' });
        else if (status === 200) rest.count({ outcome: rest === metrics.reserveOutcomes ? 'ReserveSuccess' : 'PaySuccess' });
        else {
          const fallback = status === 503 && response.contentType?.includes('json') ? 'UNAVAILABLE' : `HTTP_${status}`;
          response
            .json()
            .then((b) => {
              const e = (b as { error?: { type?: string; code?: string } } | null)?.error;
              rest.count({ outcome: e?.type ?? e?.code ?? fallback });
            })
            .catch(() => rest.count({ outcome: fallback }));
        }
      }
      if (config.requestLog && deps.log.isLevelEnabled('info')) {
        deps.log.info(
          { requestId: response.requestId, method: response.method, path: response.path, operation: state.operation, status, outcome, ms: Math.round(seconds * 10000) / 10 },
          'request',
        );
      }
      const add: Record<string, string> = {};
      if (state.shed) add['retry-after'] = retryAfter;
      return add;
    },

    abandon() {
      shedder.inFlight--;
    },
  };

  const plugin: Plugin<{ request?: Request }> = {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const path = url.pathname;
      if (path === '/ready') {
        const r = await readiness(deps, runtime);
        endResponse(fetchAPI.Response.json({ status: r.ready ? 'ready' : 'not ready', checks: r.checks }, { status: r.ready ? 200 : 503 }));
        return;
      }
      if (path === '/metrics') {
        const body = await metrics.registry.metrics();
        endResponse(new fetchAPI.Response(body, { headers: { 'content-type': metrics.registry.contentType } }));
        return;
      }
      const begun = requests.begin(request.method, path);
      if (!begun) return;
      states.set(request, begun.state);
      if (begun.refusal) {
        endResponse(fetchAPI.Response.json(begun.refusal.body, { status: begun.refusal.status, headers: begun.refusal.headers }));
        return;
      }
    },
    onExecute({ args, setResultAndStopExecution }) {
      const request = args.contextValue.request;
      const state = request ? states.get(request) : undefined;
      const op = operationOf(args.document, args.operationName);
      if (!op) return;
      const run = requests.execution(state, describeOperation(op), op, args.variableValues as Record<string, unknown> | undefined);
      if (run.stop) {
        setResultAndStopExecution(run.stop);
        return;
      }
      return {
        onExecuteDone({ result }) {
          if (!('data' in result) && !('errors' in result)) return;
          run.done(result as ExecutionResult);
        },
      };
    },
    onResponse({ request, response }) {
      const state = states.get(request);
      if (!state) return;
      states.delete(request);
      const add = requests.end(state, {
        method: request.method,
        path: new URL(request.url, 'http://x').pathname,
        status: response.status,
        requestId: response.headers.get('x-request-id') ?? request.headers.get('x-request-id') ?? undefined,
        contentType: response.headers.get('content-type'),
        json: () => response.clone().json(),
      });
      for (const [k, v] of Object.entries(add)) response.headers.set(k, v);
    },
  };

  const ops: Ops = {
    config,
    metrics,
    shedder,
    attempts,
    plugins: [plugin as Plugin],
    requests,
    watchWebSockets(fn) {
      webSockets = fn;
    },
    stop() {
      shedder.stop();
      attempts.stop();
    },
  };
  byDeps.set(deps, ops);
  return ops;
}
