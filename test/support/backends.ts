import pino from 'pino';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../src/deps.js';
import { scratchDatabase as scratch, uniqueName } from './scratch.js';

/** The shared services CI and developers run (see README). */
export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type BackendName = 'embedded' | 'postgres+redis';

/** Which backends the suites run on: both by default; TEST_BACKENDS=embedded for the embedded default only. */
export const BACKENDS: BackendName[] = (process.env.TEST_BACKENDS ?? 'embedded,postgres+redis')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is BackendName => s === 'embedded' || s === 'postgres+redis');

export { uniqueName };

/** A fresh database on the shared Postgres server; `drop()` removes it. */
export const scratchDatabase = () => scratch(PG_ADMIN_URL, 'fs_test');

export interface TestBackend {
  name: BackendName;
  runtime: Runtime;
  databaseUrl?: string;
  redisPrefix?: string;
  close(): Promise<void>;
}

export const quietLog = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A runtime on a fresh database (and, for postgres+redis, a fresh Redis key prefix). */
export async function openBackend(name: BackendName, opts: RuntimeOptions = {}): Promise<TestBackend> {
  if (name === 'embedded') {
    const runtime = await createRuntime({ dataDir: 'memory://', logLevel: 'silent' }, { log: quietLog, ...opts });
    return { name, runtime, close: () => runtime.close() };
  }
  const db = await scratchDatabase();
  const redisPrefix = `${uniqueName('fst')}:`;
  const runtime = await createRuntime(
    { databaseUrl: db.url, redisUrl: REDIS_URL, dataDir: '', logLevel: 'silent' },
    { log: quietLog, redisPrefix, ...opts },
  );
  return {
    name,
    runtime,
    databaseUrl: db.url,
    redisPrefix,
    async close() {
      await runtime.close();
      await db.drop();
    },
  };
}
