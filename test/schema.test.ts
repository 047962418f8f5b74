// The printed schema is committed, current, and never breaks the public contract.
import { existsSync, readFileSync } from 'node:fs';
import { buildSchema, findBreakingChanges, printSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../src/schema/index.js';

const read = (p: string) => readFileSync(new URL(p, import.meta.url), 'utf8');
// The contract lives in ../shared (beside the project); a copy is committed in contract/.
const contracts = ['../contract/schema.graphql', '../../shared/contract/schema.graphql'].filter((p) =>
  existsSync(new URL(p, import.meta.url)),
);

describe('public schema', () => {
  it('schema.graphql is the schema built in code (run `npm run schema:print` when this fails)', () => {
    expect(read('../schema.graphql')).toBe(`${printSchema(schema)}\n`);
  });

  it('the committed copy of the contract matches ../shared when both are present', () => {
    if (contracts.length < 2) return;
    expect(read(contracts[0])).toBe(read(contracts[1]));
  });

  it.each(contracts)('has no breaking change against %s', (path) => {
    const changes = findBreakingChanges(buildSchema(read(path)), schema);
    expect(changes).toEqual([]);
  });

  it('findBreakingChanges does catch a removed field (the check can fail)', () => {
    const contract = buildSchema(read(contracts[0]));
    const broken = buildSchema(printSchema(schema).replace(/\n {2}soldOut: Boolean!/, ''));
    expect(findBreakingChanges(contract, broken).length).toBeGreaterThan(0);
  });
});
