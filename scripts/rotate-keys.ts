// Re-seals personal data still on an old key with the current one:
//   DATA_ENCRYPTION_KEY="k2:<new>,k1:<old>" npm run rotate-keys
// Safe to run while the servers run, and to run again; afterwards the old key can be dropped.
import pino from 'pino';
import { ConfigError, loadConfig } from '../src/config.js';
import { createRuntime } from '../src/deps.js';
import { rotateKeys } from '../src/domain/privacy/rotate.js';

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`rotate-keys: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
const log = pino({ level: config.logLevel });
const runtime = await createRuntime(config, { log });
try {
  const out = await rotateKeys(runtime.deps);
  console.log(JSON.stringify({ currentKey: runtime.deps.keyring.currentId, resealed: out }));
} finally {
  await runtime.close();
}
