import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS and ESM builds; Node loads the CJS one for every package,
    // so the tests must too, or `instanceof GraphQLError` fails across the two copies.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The fault tests start their own servers and processes: `npm run test:faults`.
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Each file has its own database and Redis prefix, so files may run side by side.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
