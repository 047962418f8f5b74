import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Fixed, public: only for in-memory databases (tests), whose data never outlives the process. */
const IN_MEMORY_SECRET = 'flashsale-in-memory-development-key';

/**
 * Without DATA_ENCRYPTION_KEY: a random secret kept beside the data (DATA_DIR/dev-data-key),
 * so the embedded default still encrypts personal data at rest and reads it after a restart.
 */
export function dataKeySecret(dataDir: string | undefined): string {
  if (!dataDir || dataDir.startsWith('memory://')) return IN_MEMORY_SECRET;
  const file = join(dataDir, 'dev-data-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
