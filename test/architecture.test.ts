// The core stays pure: src/domain imports no GraphQL, HTTP, WebSocket, Redis or database client.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FORBIDDEN = ['graphql', 'graphql-yoga', 'graphql-ws', '@pothos/', 'ioredis', 'postgres', '@electric-sql/pglite', 'node:http', 'node:https', 'ws', 'stripe', 'twilio', 'nodemailer'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const importsOf = (src: string) => [...src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);

describe('architecture', () => {
  const domain = fileURLToPath(new URL('../src/domain', import.meta.url));

  it('src/domain imports no transport or storage client', () => {
    const offenders = files(domain).flatMap((f) =>
      importsOf(readFileSync(f, 'utf8'))
        .filter((spec) => FORBIDDEN.some((bad) => spec === bad || spec.startsWith(bad.endsWith('/') ? bad : `${bad}/`)))
        .map((spec) => `${f.slice(domain.length + 1)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the import scanner sees imports (the rule above can fail)', () => {
    expect(importsOf(`import { x } from 'ioredis';\nexport { y } from "./y.js";`)).toEqual(['ioredis', './y.js']);
  });
});
