import { type DefinitionNode, type FragmentDefinitionNode, Kind, type OperationDefinitionNode, parse, print, validate, visit } from 'graphql';
import { schema } from '../schema/index.js';
import { sha256 } from './plugins.js';

/**
 * The persisted-operations manifest from the clients' `.graphql` files: one entry per
 * named operation, "<sha256 of its printed text>": "<operation + the fragments it uses>",
 * each validated against the schema (`npm run persisted:build`).
 */
export function buildManifest(sources: { file: string; text: string }[]): Record<string, string> {
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
    const errors = validate(schema, doc);
    if (errors.length) throw new Error(`${file} ${op.name!.value}: ${errors.map((e) => e.message).join('; ')}`);
    const text = print(doc);
    manifest[sha256(text)] = text;
  }
  return manifest;
}

