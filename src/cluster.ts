import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from './config.js';

/**
 * WORKERS > 1 (or 0 = one per core): this process becomes a small supervisor that forks
 * that many api processes sharing one port (node:cluster hands each new connection to
 * one of them), restarts any that dies, and passes SIGTERM/SIGINT on. With ROLE=all the
 * supervisor also runs the background worker jobs, once for the machine.
 *
 * Returns the config this process should go on with, or undefined when it only supervises.
 */
export function startCluster(config: Config, log: Logger, env: Record<string, string> = {}): Config | undefined {
  const n = config.workers === 0 ? availableParallelism() : config.workers;
  if (n <= 1 || !cluster.isPrimary || config.role === 'worker') return config;
  let stopping = false;
  const fork = () => cluster.fork({ ...env, ROLE: 'api', WORKERS: '1' });
  for (let i = 0; i < n; i++) fork();
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
    log.error({ pid: w.process.pid, code, signal }, 'api process died; starting another');
    setTimeout(fork, 500).unref();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    // Registered with `once`, so this handler is already gone: any listener left is the
    // start-up's own graceful shutdown, which exits in its own time. Without one (the
    // signal came before it was set up, or ROLE=api), leave when the api processes have.
    const graceful = process.listenerCount(signal) > 0;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill(signal);
    if (!graceful) {
      const leaveWhenAlone = () => {
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      };
      cluster.on('exit', leaveWhenAlone);
      leaveWhenAlone();
    }
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  log.info({ workers: n, port: config.port }, 'api processes started (node:cluster)');
  if (config.role === 'api') return undefined;
  return { ...config, role: 'worker' };
}
