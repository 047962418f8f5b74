import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { REDIS_URL, scratchDatabase, uniqueName } from './backends.js';
import { TEST_SECRET } from './harness.js';
import { signToken } from '../../src/auth.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  proc: ChildProcess;
  port: number;
  url: string;
  output(): string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `src/index.ts` as a real process (the same entry point as `npm start`); `cwd` and
 * `command` (program and arguments, e.g. an image's CMD) start another copy of it instead.
 */
export function startServer(
  env: Record<string, string | undefined>,
  opts: { waitFor?: RegExp; cwd?: string; command?: readonly string[]; onOutput?: (all: string) => void } = {},
): Promise<ServerProcess> {
  const [program, ...args] = opts.command ?? [process.execPath, '--import', 'tsx', 'src/index.ts'];
  const proc = spawn(program === 'node' ? process.execPath : program, args, {
    cwd: opts.cwd ?? root,
    // RATE_LIMIT off: one test process plays every shopper from one IP (rate limits have their own tests).
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'development', RATE_LIMIT: 'off', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      opts.onOutput?.(out);
      const m = /"url":"http:\/\/localhost:(\d+)\/graphql"/.exec(out);
      if (m && (!opts.waitFor || opts.waitFor.test(out))) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({
          proc,
          port,
          url: `http://127.0.0.1:${port}`,
          output: () => out,
          async stop(signal = 'SIGTERM') {
            if (proc.exitCode === null) proc.kill(signal);
            return exited;
          },
        });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${out}`));
    });
  });
}

/** Runs the entry point to completion (for start-up failures) and returns its exit code and output. */
export function runToExit(env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/index.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c) => (output += c));
  proc.stderr.on('data', (c) => (output += c));
  const kill = setTimeout(() => proc.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    proc.once('exit', (code) => {
      clearTimeout(kill);
      resolve({ code, output });
    }),
  );
}

/**
 * Two api processes on one scratch database and Redis prefix (Postgres + Redis), for tests of what
 * one process's change does in the other; `gql` POSTs to either; `close` stops both and drops the database.
 */
export async function twoApis(name: string) {
  const db = await scratchDatabase();
  const env = { DATABASE_URL: db.url, REDIS_URL, REDIS_PREFIX: `${uniqueName(name)}:`, AUTH_JWT_SECRET: TEST_SECRET, ROLE: 'api' };
  const [a, b] = await Promise.all([startServer(env), startServer(env)]);
  const gql = async (url: string, query: string, variables: Record<string, unknown>, token?: string) =>
    (await (
      await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as any;
  const admin = await signToken(TEST_SECRET, { sub: 'op', roles: ['admin'] });
  return {
    a,
    b,
    gql,
    /** An operator's token. */
    admin,
    /** Creates a product through `a` (10 units at 10.00, on sale now, 1 per shopper, unless `sale` or `totalQuantity` say otherwise). */
    async product(id: string, opts: { totalQuantity?: number; sale?: { startsAt?: string; perUserLimit?: number } } = {}) {
      const sale = { startsAt: new Date(Date.now() - 1000).toISOString(), perUserLimit: 1, ...opts.sale };
      const out = await gql(
        a.url,
        `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
        { input: { id, name: 'Drop', priceAmount: 1000, totalQuantity: opts.totalQuantity ?? 10, sale } },
        admin,
      );
      if (out.errors) throw new Error(`createProduct: ${JSON.stringify(out.errors)}`);
    },
    async close() {
      await Promise.all([a.stop(), b.stop()]);
      await db.drop();
    },
  };
}
