import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DefinitionNode, type DocumentNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, parse, print, validate, visit } from 'graphql';
import { schema } from '../schema/index.js';
import { sha256 } from './plugins.js';
import { sdkOperationTexts } from './sdk-operations.js';

/**
 * What `npm run persisted:build` writes: every operation of the `.graphql` files under `dir`
 * (node_modules aside), and with `sdk`, the exact texts our SDK sends.
 */
export function clientManifest(dir: string, opts: { sdk: boolean }): { manifest: Record<string, string>; files: number; sdkDocuments: number } {
  const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.graphql') && !f.includes('node_modules')).sort();
  const sdk = opts.sdk ? sdkOperationTexts().map((text) => ({ file: 'clients/sdk/src/gql/graphql.ts', text })) : [];
  const manifest = buildManifest(
    files.map((f) => ({ file: f, text: readFileSync(join(dir, f), 'utf8') })),
    sdk,
  );
  return { manifest, files: files.length, sdkDocuments: sdk.length };
}

/** Throws, naming the file and operation, when `doc` does not validate against the schema. */
function validated(file: string, op: OperationDefinitionNode, doc: DocumentNode): void {
  const errors = validate(schema, doc);
  if (errors.length) throw new Error(`${file} ${op.name!.value}: ${errors.map((e) => e.message).join('; ')}`);
}

/**
 * The persisted-operations manifest from the clients' `.graphql` files: one entry per
 * named operation, "<sha256 of its printed text>": "<operation + the fragments it uses>",
 * each validated against the schema (`npm run persisted:build`). `exact` texts (what a
 * client sends as it is, e.g. our SDK's generated documents) get an entry each under the
 * sha256 of the text itself, validated the same way: `PERSISTED_OPERATIONS=only` takes a
 * text only when it is byte for byte an entry.
 */
export function buildManifest(sources: { file: string; text: string }[], exact: { file: string; text: string }[] = []): Record<string, string> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  const operations: { file: string; op: OperationDefinitionNode }[] = [];
  for (const { file, text } of sources) {
    for (const def of parse(text).definitions as DefinitionNode[]) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
      else if (def.kind === Kind.OPERATION_DEFINITION) {
        if (!def.name) throw new Error(`${file}: every operation needs a name`);
        operations.push({ file, op: def });
      }
    }
  }
  const manifest: Record<string, string> = {};
  for (const { file, op } of operations) {
    const used = new Map<string, FragmentDefinitionNode>();
    const walk = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
      visit(node, {
        FragmentSpread(s) {
          const f = fragments.get(s.name.value);
          if (!f) throw new Error(`${file}: unknown fragment ${s.name.value}`);
          if (!used.has(f.name.value)) {
            used.set(f.name.value, f);
            walk(f);
          }
        },
      });
    walk(op);
    const doc = { kind: Kind.DOCUMENT, definitions: [op, ...[...used.values()].sort((a, b) => a.name.value.localeCompare(b.name.value))] } as const;
    validated(file, op, doc);
    const text = print(doc);
    manifest[sha256(text)] = text;
  }
  for (const { file, text } of exact) {
    const doc = parse(text);
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    if (ops.length !== 1 || !ops[0].name) throw new Error(`${file}: a sent document holds one named operation (found ${ops.length})`);
    validated(file, ops[0], doc);
    manifest[sha256(text)] = text;
  }
  return manifest;
}

