// The committed typed documents must match what codegen generates from schema.graphql
// and clients/**/*.graphql now; `npm run codegen` fixes a failure here.
import { describe, expect, it } from 'vitest';
import { staleGeneratedFiles } from '../scripts/codegen-check.js';

describe('generated client code', () => {
  it('is up to date with schema.graphql and the client operations', async () => {
    expect(await staleGeneratedFiles()).toEqual([]);
  });
});
