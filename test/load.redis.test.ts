// The flash-sale load generator against the real deployment's parts: Postgres and the Redis Lua gate.
import { BACKENDS } from './support/backends.js';
import { loadSuite } from './support/load-suite.js';

if (BACKENDS.includes('postgres+redis')) loadSuite('postgres+redis');
