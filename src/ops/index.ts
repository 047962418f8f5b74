import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { GraphQLError, Kind, type DocumentNode, type OperationDefinitionNode, type ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Redis } from 'ioredis';
import { migrationsFolder, rowsOf } from '../adapters/db/client.js';
import type { Deps } from '../domain/context.js';
import { AttemptCounter } from './attempts.js';
import { defaultOpsConfig, type OpsConfig } from './config.js';
import { Metrics } from './metrics.js';
import { graphqlPriority, LoadShedder, type Priority, restPriority } from './shedding.js';

/** What createRuntime hands the operations layer. */
export interface RuntimeOps {
  /** The gate's Redis connection and key prefix (readiness, fleet-wide attempt counts). */
  redis?: { client: Redis; prefix: string };
}

export interface Ops {
  config: OpsConfig;
  metrics: Metrics;
  shedder: LoadShedder;
  attempts: AttemptCounter;
  /** Yoga plugins: /ready, /metrics, request logs, request metrics, load shedding. */
  plugins: Plugin[];
  /** Tells metrics how many WebSocket subscribers this process holds. */
  countSubscribers(fn: () => number): void;
  stop(): void;
}

const byDeps = new WeakMap<Deps, Ops>();

/** The operations layer of the app built on these deps (saleStats reads its attempt counts). */
export function opsOf(deps: Deps): Ops | undefined {
  return byDeps.get(deps);
}

interface RequestState {
  start: number;
  operation: string;
  outcome?: 'ok' | 'error' | 'unavailable' | 'shed';
  shed?: boolean;
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
      await withTimeout(r.ping(), 1000);
      checks.redis = 'ok';
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

/** The productId a `reserve(input: ...)` field asks for, from an inline object or a variable. */
function reservedProduct(op: OperationDefinitionNode, vars: Record<string, unknown> | undefined): string | undefined {
  for (const sel of op.selectionSet.selections) {
    if (sel.kind !== Kind.FIELD || sel.name.value !== 'reserve') continue;
    const input = sel.arguments?.find((a) => a.name.value === 'input')?.value;
    const fromValue = (v: ValueNode | undefined): unknown => {
      if (!v) return undefined;
      if (v.kind === Kind.VARIABLE) return vars?.[v.name.value];
      if (v.kind === Kind.STRING) return v.value;
      return undefined;
    };
    if (!input) return undefined;
    if (input.kind === Kind.VARIABLE) {
      const obj = vars?.[input.name.value] as { productId?: unknown } | undefined;
      return typeof obj?.productId === 'string' ? obj.productId : undefined;
    }
    if (input.kind === Kind.OBJECT) {
      const v = fromValue(input.fields.find((f) => f.name.value === 'productId')?.value);
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
  let subscribers = () => 0;
  const metrics = new Metrics(deps, shedder, () => subscribers());
  const attempts = new AttemptCounter(runtime.redis);
  const states = new WeakMap<Request, RequestState>();
  const retryAfter = String(config.shedRetryAfterSeconds);

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
      if (path === '/health') return;
      const state: RequestState = {
        start: performance.now(),
        operation: path === '/graphql' ? 'graphql' : path.startsWith('/inventory/') ? 'REST inventory' : (REST_OPS[path] ?? 'other'),
      };
      states.set(request, state);
      shedder.inFlight++;
      const priority = restPriority(request.method, path);
      if (priority && shedder.shouldShed(priority)) {
        state.shed = true;
        state.outcome = 'shed';
        endResponse(
          fetchAPI.Response.json(
            { error: { code: 'UNAVAILABLE', message: 'The server is overloaded; nothing was changed, try again shortly', retryable: true } },
            { status: 503, headers: { 'retry-after': retryAfter } },
          ),
        );
        return;
      }
      if (request.method === 'POST' && (path === '/reserve-inventory' || path === '/add-to-cart')) {
        request
          .clone()
          .json()
          .then((b: { product_id?: unknown }) => typeof b?.product_id === 'string' && attempts.record(b.product_id))
          .catch(() => {});
      }
    },
    onExecute({ args, setResultAndStopExecution }) {
      const request = args.contextValue.request;
      const state = request ? states.get(request) : undefined;
      const op = operationOf(args.document, args.operationName);
      if (!op) return;
      const fields = op.selectionSet.selections.flatMap((s) => (s.kind === Kind.FIELD && !s.name.value.startsWith('__') ? [s.name.value] : []));
      if (state) state.operation = `${op.operation} ${fields.join(',') || '__typename'}`;
      const priority: Priority = graphqlPriority(op.operation, fields);
      if (state && shedder.shouldShed(priority)) {
        state.shed = true;
        state.outcome = 'shed';
        if (fields.includes('reserve')) metrics.reserveOutcomes.inc({ outcome: 'SHED' });
        setResultAndStopExecution({
          errors: [
            new GraphQLError('The server is overloaded; nothing was changed, try again shortly', {
              extensions: { code: 'UNAVAILABLE', retryable: true, retryAfterSeconds: config.shedRetryAfterSeconds },
            }),
          ],
        });
        return;
      }
      if (fields.includes('reserve')) {
        const productId = reservedProduct(op, args.variableValues as Record<string, unknown> | undefined);
        if (productId) attempts.record(productId);
      }
      return {
        onExecuteDone({ result }) {
          if (!('data' in result) && !('errors' in result)) return;
          const r = result as { data?: Record<string, { __typename?: string } | null> | null; errors?: readonly GraphQLError[] };
          const unavailable = r.errors?.some((e) => e.extensions?.code === 'UNAVAILABLE');
          if (state) state.outcome = unavailable ? 'unavailable' : r.errors?.length ? 'error' : 'ok';
          for (const [field, counter] of [
            ['reserve', metrics.reserveOutcomes],
            ['pay', metrics.payOutcomes],
          ] as const) {
            if (!fields.includes(field)) continue;
            const v = r.data?.[field];
            counter.inc({ outcome: v?.__typename ?? (unavailable ? 'UNAVAILABLE' : r.errors?.length ? 'ERROR' : 'UNKNOWN') });
          }
        },
      };
    },
    onResponse({ request, response }) {
      const state = states.get(request);
      if (!state) return;
      states.delete(request);
      shedder.inFlight--;
      const seconds = (performance.now() - state.start) / 1000;
      const status = response.status;
      const outcome = state.outcome ?? (status === 503 ? 'unavailable' : status >= 500 ? 'error' : 'ok');
      if (state.shed) response.headers.set('retry-after', retryAfter);
      metrics.requests.inc({ operation: state.operation, outcome });
      metrics.latency.observe({ operation: state.operation }, seconds);
      const rest = state.operation === 'REST reserve-inventory' || state.operation === 'REST add-to-cart' ? metrics.reserveOutcomes : state.operation === 'REST payment' ? metrics.payOutcomes : undefined;
      if (rest) {
        if (state.shed) rest.inc({ outcome: 'SHED' });
        else if (status === 200) rest.inc({ outcome: rest === metrics.reserveOutcomes ? 'ReserveSuccess' : 'PaySuccess' });
        else if (status === 503 && response.headers.get('content-type')?.includes('json')) {
          response
            .clone()
            .json()
            .then((b: { error?: { type?: string; code?: string } }) => rest.inc({ outcome: b?.error?.type ?? b?.error?.code ?? 'UNAVAILABLE' }))
            .catch(() => rest.inc({ outcome: 'UNAVAILABLE' }));
        } else {
          response
            .clone()
            .json()
            .then((b: { error?: { type?: string; code?: string } }) => rest.inc({ outcome: b?.error?.type ?? b?.error?.code ?? `HTTP_${status}` }))
            .catch(() => rest.inc({ outcome: `HTTP_${status}` }));
        }
      }
      if (config.requestLog && deps.log.isLevelEnabled('info')) {
        deps.log.info(
          {
            requestId: response.headers.get('x-request-id') ?? request.headers.get('x-request-id') ?? undefined,
            method: request.method,
            path: new URL(request.url, 'http://x').pathname,
            operation: state.operation,
            status,
            outcome,
            ms: Math.round(seconds * 10000) / 10,
          },
          'request',
        );
      }
    },
  };

  const ops: Ops = {
    config,
    metrics,
    shedder,
    attempts,
    plugins: [plugin as Plugin],
    countSubscribers(fn) {
      subscribers = fn;
    },
    stop() {
      shedder.stop();
      attempts.stop();
    },
  };
  byDeps.set(deps, ops);
  return ops;
}
