// The Dockerfile's runtime image, without Docker (no engine runs in CI): its final stage's
// files are copied into a scratch folder as its COPY lines say, its `npm ci --omit=dev` is
// stood in for by the production packages of package-lock.json alone (dev-only packages
// absent), and its CMD runs there with its ENV and production settings. Catches a runtime
// import of a file the image does not copy, or of a package `--omit=dev` leaves out.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { signToken } from '../src/auth.js';
import { RESERVE } from './support/harness.js';
import { type ServerProcess, startServer } from './support/server.js';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Stage {
  name?: string;
  workdir: string;
  env: Record<string, string>;
  /** [sources, destination, from stage] per COPY line. */
  copies: { sources: string[]; dest: string; from?: string }[];
  runs: string[];
  cmd?: string[];
}

/** The Dockerfile's stages, in order (only the instructions this project uses). */
function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  for (const raw of dockerfile.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [instr, ...rest] = line.split(/\s+/);
    const arg = line.slice(instr.length).trim();
    const stage = out[out.length - 1];
    switch (instr.toUpperCase()) {
      case 'FROM':
        out.push({ name: rest[1]?.toUpperCase() === 'AS' ? rest[2] : undefined, workdir: '/', env: {}, copies: [], runs: [] });
        break;
      case 'WORKDIR':
        stage.workdir = arg;
        break;
      case 'ENV':
        for (const pair of rest) {
          const eq = pair.indexOf('=');
          stage.env[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
        break;
      case 'COPY': {
        const from = rest[0].startsWith('--from=') ? rest.shift()!.slice('--from='.length) : undefined;
        stage.copies.push({ sources: rest.slice(0, -1), dest: rest[rest.length - 1], from });
        break;
      }
      case 'RUN':
        stage.runs.push(arg);
        break;
      case 'CMD':
        stage.cmd = JSON.parse(arg) as string[];
        break;
      case 'EXPOSE':
        break;
      default:
        throw new Error(`Dockerfile: ${instr} is not understood by this test; teach it (test/deploy-image.test.ts)`);
    }
  }
  return out;
}

/** The production packages `npm ci --omit=dev` installs at the top of node_modules, per package-lock.json. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, p]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(path) && !p.dev)
    .map(([path]) => path.slice('node_modules/'.length));
}

const dirs: string[] = [];
let server: ServerProcess | undefined;
afterAll(async () => {
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the Docker image (Dockerfile, final stage)', () => {
  it('starts from exactly the files and production packages it holds, and serves', async () => {
    const all = stages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
    const image = all[all.length - 1];
    expect(image.cmd, 'the final stage has a CMD').toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'fs-image-'));
    dirs.push(dir);
    // What the build stage makes that the image copies, made as its RUN lines make it: the
    // storefront (npm run build:web) and the persisted-operations manifest (npm run persisted:build,
    // written here into the scratch folder rather than into the checkout).
    const build = all.find((st) => st.name === 'build')!;
    expect(build.runs).toContain('npm run build:web');
    expect(build.runs).toContain('npm run persisted:build');
    if (!existsSync(join(root, 'clients/web/dist/index.html'))) execFileSync('npm', ['run', 'build:web'], { cwd: root, stdio: 'ignore' });
    const made: Record<string, string> = { [`${build.workdir}/persisted-operations.json`]: join(dir, 'persisted-operations.json') };
    execFileSync('npm', ['run', 'persisted:build', '--', '--out', made[`${build.workdir}/persisted-operations.json`]], { cwd: root, stdio: 'ignore' });
    const app = join(dir, 'app');
    mkdirSync(app);
    for (const c of image.copies) {
      // From another stage: one that copied the whole repository into its WORKDIR (the build).
      const other = c.from === undefined ? undefined : all.find((s) => s.name === c.from);
      if (other) expect(other.copies.some((x) => x.sources.join() === '.' && x.dest === '.'), `stage ${c.from} copies the repository`).toBe(true);
      for (const source of c.sources) {
        if (other) expect(source.startsWith(`${other.workdir}/`), `${source} is under ${other.workdir}`).toBe(true);
        const from = made[source] ?? join(root, other ? source.slice(other.workdir.length + 1) : source);
        expect(existsSync(from), `COPY source ${source}`).toBe(true);
        const dest = c.dest.endsWith('/') || c.sources.length > 1 ? join(app, c.dest, source.split('/').pop()!) : join(app, c.dest);
        mkdirSync(dirname(dest), { recursive: true });
        cpSync(from, dest, { recursive: true });
      }
    }
    for (const run of image.runs) {
      expect(run, 'the only RUN this test stands in for').toMatch(/^npm ci --omit=dev\b/);
      for (const name of productionPackages()) {
        const link = join(app, 'node_modules', name);
        mkdirSync(dirname(link), { recursive: true });
        symlinkSync(join(root, 'node_modules', name), link);
      }
    }
    // A dev-only package really is absent (the stand-in for --omit=dev holds).
    expect(existsSync(join(app, 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(true);

    const secret = 'image-secret-image-secret-image-secret-0123';
    server = await startServer(
      {
        ...image.env,
        AUTH_JWT_SECRET: secret,
        DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 3).toString('base64')}`,
        DATA_DIR: join(dir, 'data'),
      },
      { cwd: app, command: image.cmd },
    );
    expect(image.env.NODE_ENV).toBe('production');
    const admin = await signToken(secret, { sub: 'ops', roles: ['admin'] });
    const shopper = await signToken(secret, { sub: 'shopper-1' });
    const gql = async (query: string, variables: Record<string, unknown>, token: string) =>
      (await (
        await fetch(`${server!.url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query, variables }),
        })
      ).json()) as any;
    const created = await gql(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { id } }`,
      { input: { id: 'image-drop', name: 'Drop', priceAmount: 1000, totalQuantity: 3, sale: { startsAt: new Date(Date.now() - 1000).toISOString() } } },
      admin,
    );
    expect(created.data?.createProduct?.id, JSON.stringify(created)).toBe('image-drop');
    const r = await gql(RESERVE, { input: { productId: 'image-drop' } }, shopper);
    expect(r.data?.reserve?.__typename, JSON.stringify(r)).toBe('ReserveSuccess');
    // The storefront the build stage made.
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
    server = undefined;

    // PERSISTED_OPERATIONS=only with the manifest the image holds: the SDK's operations run, an
    // operation of nobody's client is refused before it runs.
    server = await startServer(
      {
        ...image.env,
        AUTH_JWT_SECRET: secret,
        DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 3).toString('base64')}`,
        DATA_DIR: join(dir, 'data'),
        PERSISTED_OPERATIONS: 'only',
        PERSISTED_OPERATIONS_FILE: 'persisted-operations.json',
      },
      { cwd: app, command: image.cmd },
    );
    const sdk = await import('../clients/sdk/src/gql/graphql.js');
    const inv = await gql(sdk.InventoryDocument.toString(), { productId: 'image-drop' }, shopper);
    expect(inv.data?.inventory?.availableQuantity, JSON.stringify(inv)).toBe(2);
    const adHoc = await gql(`query { products { id name } }`, {}, shopper);
    expect(adHoc.errors?.[0]?.extensions?.code, JSON.stringify(adHoc)).toBe('PERSISTED_QUERY_ONLY');
    expect(await server.stop()).toBe(0);
    server = undefined;

    // The operators' key rotation runs from the image too (docs/security.md), on the same data.
    const rotated = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/rotate-keys.ts'], {
      cwd: app,
      env: { ...process.env, ...image.env, DATA_DIR: join(dir, 'data'), AUTH_JWT_SECRET: secret, LOG_LEVEL: 'warn', DATA_ENCRYPTION_KEY: `k2:${Buffer.alloc(32, 4).toString('base64')},k1:${Buffer.alloc(32, 3).toString('base64')}` },
      encoding: 'utf8',
    });
    expect(JSON.parse(rotated.trim().split('\n').pop()!)).toMatchObject({ currentKey: 'k2' });
  }, 120_000);
});
