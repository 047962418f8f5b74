// Builds the persisted-operations manifest from the clients' typed operations:
//   npm run persisted:build [-- --dir clients --out persisted-operations.json]
// One entry per named operation: "<sha256 of its text>": "<operation + the fragments it uses>".
// Every operation is validated against the schema first. Serve it with
// PERSISTED_OPERATIONS=only PERSISTED_OPERATIONS_FILE=persisted-operations.json.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildManifest } from '../src/security/manifest.js';

const { values } = parseArgs({ options: { dir: { type: 'string', default: 'clients' }, out: { type: 'string', default: 'persisted-operations.json' } } });

const files = (readdirSync(values.dir!, { recursive: true }) as string[]).filter((f) => f.endsWith('.graphql') && !f.includes('node_modules')).sort();
const manifest = buildManifest(files.map((f) => ({ file: f, text: readFileSync(join(values.dir!, f), 'utf8') })));
writeFileSync(values.out!, `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${Object.keys(manifest).length} operations from ${files.length} files to ${values.out}`);
