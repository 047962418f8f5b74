// Start-up only: read config -> build deps -> start.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp } from './app.js';
import { createVerifier, signToken } from './auth.js';
import { ConfigError, loadConfig } from './config.js';
import { createRuntime } from './deps.js';
import { startWorker } from './worker.js';
import { opsJobs, startGateNudges } from './ops/jobs.js';
import { installProcessGuard } from './ops/process-guard.js';

/** In development without AUTH_JWT_SECRET: a random secret kept in DATA_DIR, so tokens survive restarts. */
function devSecret(dataDir: string): string {
  const file = join(dataDir, 'dev-jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

async function main() {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`flashsale: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({ level: config.logLevel });
  installProcessGuard(log);
  let secret = config.authJwtSecret;
  if (!secret && !config.authJwksUrl) {
    secret = devSecret(config.dataDir);
    log.warn(
      { file: join(config.dataDir, 'dev-jwt-secret') },
      'AUTH_JWT_SECRET is not set: using a generated development secret. Never do this in production.',
    );
  }
  const runtime = await createRuntime(config, { log });
  const { deps, database } = runtime;
  const stops: (() => Promise<void>)[] = [];

  if (config.role !== 'api') {
    const worker = startWorker(deps, { sweepIntervalMs: config.sweepIntervalMs, jobs: opsJobs(config.ops) });
    stops.push(() => worker.stop());
  }
  if (config.role !== 'worker') {
    const verifier = createVerifier({
      secret,
      jwksUrl: config.authJwksUrl,
      issuer: config.authIssuer,
      audience: config.authAudience,
    });
    const app = buildApp(deps, { verifier, graphiql: !config.production, ops: { config: config.ops, runtime: runtime.ops } });
    stops.push(startGateNudges(deps, config.ops));
    const port = await app.start(config.port, config.host);
    stops.unshift(() => app.stop());
    log.info(
      { url: `http://localhost:${port}/graphql`, database: `${database.kind} ${database.where}`, gate: deps.gate.kind, role: config.role },
      'flashsale API listening',
    );
    if (!config.production && secret && !config.authJwtSecret) {
      const admin = await signToken(secret, { sub: 'admin', roles: ['admin'], expiresIn: '30d' });
      const shopper = await signToken(secret, { sub: 'shopper-1', expiresIn: '30d' });
      console.log(`\nDevelopment tokens (valid 30 days; mint more with \`npm run token -- --sub NAME [--admin]\`):\n  admin:     ${admin}\n  shopper-1: ${shopper}\n`);
    }
  } else {
    log.info({ database: `${database.kind} ${database.where}`, gate: deps.gate.kind }, 'flashsale worker running');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    for (const stop of stops) await stop().catch((err) => log.error({ err }, 'error while stopping'));
    await runtime.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  console.error('flashsale failed to start:', err);
  process.exit(1);
});
