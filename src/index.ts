// Start-up only: read config -> build deps -> start.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { DataDirInUse } from './adapters/db/data-dir-lock.js';
import { buildApp } from './app.js';
import { createVerifier, signToken } from './auth.js';
import { ConfigError, loadConfig } from './config.js';
import { createRuntime } from './deps.js';
import { startWorker } from './worker.js';
import { opsJobs, startGateNudges } from './ops/jobs.js';
import { startCluster } from './cluster.js';
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
  const forThisProcess = startCluster(config, log, secret && !config.authJwtSecret ? { AUTH_JWT_SECRET: secret } : {});
  if (!forThisProcess) return;
  config = forThisProcess;
  const runtime = await createRuntime(config, { log, redisPrefix: config.redisPrefix, stockCoalesceMs: config.stockCoalesceMs, reserveBatchMax: config.reserveBatchMax, settleBatchMax: config.settleBatchMax });
  const { deps, database } = runtime;
  const stops: (() => Promise<void>)[] = [];

  if (config.role !== 'api') {
    const worker = startWorker(deps, {
      sweepIntervalMs: config.sweepIntervalMs,
      reconcile: { intervalMs: config.payments.reconcileIntervalMs, staleAfterMs: config.payments.staleAfterMs },
      jobs: opsJobs(config.ops),
    });
    stops.push(() => worker.stop());
  }
  if (config.role !== 'worker') {
    const verifier = createVerifier({
      secret,
      jwksUrl: config.authJwksUrl,
      issuer: config.authIssuer,
      audience: config.authAudience,
    });
    const demoSecret = !config.production ? secret : undefined;
    const tls = config.security.tlsCertFile
      ? { cert: readFileSync(config.security.tlsCertFile), key: readFileSync(config.security.tlsKeyFile!) }
      : undefined;
    const app = buildApp(deps, {
      verifier,
      graphiql: !config.production,
      wsMaxBufferedBytes: config.wsMaxBufferedBytes,
      security: config.security,
      tls,
      production: config.production,
      ops: { config: config.ops, runtime: runtime.ops },
      fastPath: config.fastPath,
      fastPathReplay: config.fastPathReplay,
      tokenCacheMs: config.tokenCacheMs,
      fastPathWarm: config.fastPathWarm,
      web: {
        root: resolve(import.meta.dirname, '../clients/web/dist'),
        // Development only: the storefront's "demo shopper" sign-in.
        devToken: demoSecret ? (sub) => signToken(demoSecret, { sub, expiresIn: '2h', issuer: config.authIssuer, audience: config.authAudience }) : undefined,
      },
    });
    stops.push(startGateNudges(deps, config.ops));
    const port = await app.start(config.port, config.host);
    stops.unshift(() => app.stop());
    log.info(
      { url: `${tls ? 'https' : 'http'}://localhost:${port}/graphql`, rateLimit: config.security.rateLimit.enabled ? 'on' : 'off', captcha: config.security.captcha.mode, database: `${database.kind} ${database.where}`, gate: deps.gate.kind, role: config.role },
      'flashsale API listening',
    );
    if (!config.production && secret && !config.authJwtSecret) {
      const admin = await signToken(secret, { sub: 'admin', roles: ['admin'], expiresIn: '30d' });
      const shopper = await signToken(secret, { sub: 'shopper-1', expiresIn: '30d' });
      console.log(`\nDevelopment tokens (valid 30 days; mint more with \`npm run token -- --sub NAME [--admin]\`):\n  admin:     ${admin}\n  shopper-1: ${shopper}\n`);
    }
  } else {
    // The worker's timers are unref'd and its database connections lazy: keep the process alive.
    const alive = setInterval(() => {}, 1 << 30);
    stops.push(async () => clearInterval(alive));
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
  if (err instanceof DataDirInUse) {
    console.error(`flashsale: ${err.message}`);
    process.exit(2);
  }
  console.error('flashsale failed to start:', err);
  process.exit(1);
});
