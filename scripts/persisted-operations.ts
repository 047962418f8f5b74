// Builds the persisted-operations manifest from the clients' typed operations:
//   npm run persisted:build [-- --dir clients --out persisted-operations.json --sdk on]
// One entry per named operation: "<sha256 of its text>": "<operation + the fragments it uses>".
// With --sdk on (the default), also the exact texts our SDK sends (clients/sdk/src/gql, codegen's
// formatting), so storefronts on the SDK run under PERSISTED_OPERATIONS=only.
// Every operation is validated against the schema first. Serve it with
// PERSISTED_OPERATIONS=only PERSISTED_OPERATIONS_FILE=persisted-operations.json.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { clientManifest } from '../src/security/manifest.js';

const { values } = parseArgs({
  options: { dir: { type: 'string', default: 'clients' }, out: { type: 'string', default: 'persisted-operations.json' }, sdk: { type: 'string', default: 'on' } },
});
if (values.sdk !== 'on' && values.sdk !== 'off') {
  console.error('persisted:build: --sdk is on or off');
  process.exit(2);
}
const { manifest, files, sdkDocuments } = clientManifest(values.dir!, { sdk: values.sdk === 'on' });
writeFileSync(values.out!, `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${Object.keys(manifest).length} operations from ${files} files${sdkDocuments ? ` and the SDK's ${sdkDocuments} documents` : ''} to ${values.out}`);
