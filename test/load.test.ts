// The flash-sale load generator against the embedded default (PGlite + in-process gate).
import { BACKENDS } from './support/backends.js';
import { loadSuite } from './support/load-suite.js';

if (BACKENDS.includes('embedded')) loadSuite('embedded');
