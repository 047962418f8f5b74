// `npm run codegen:check`: regenerates the typed client documents in memory and fails
// when the committed files under clients/sdk/src/gql/ differ (run `npm run codegen`).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generate } from '@graphql-codegen/cli';
import config from '../codegen.js';

const ROOT = resolve(import.meta.dirname, '..');

/** The generated files that are missing or differ from what codegen would write now. */
export async function staleGeneratedFiles(): Promise<string[]> {
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    const outputs = (await generate({ ...config, silent: true, verbose: false }, false)) as { filename: string; content: string }[];
    const stale: string[] = [];
    for (const out of outputs) {
      const file = resolve(ROOT, out.filename);
      if (!existsSync(file) || readFileSync(file, 'utf8') !== out.content) stale.push(out.filename);
    }
    return stale;
  } finally {
    process.chdir(cwd);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const stale = await staleGeneratedFiles();
  if (stale.length) {
    console.error(`Generated client code is stale: ${stale.join(', ')}\nRun \`npm run codegen\` and commit the result.`);
    process.exit(1);
  }
  console.log('Generated client code is up to date.');
}
