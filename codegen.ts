import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for every client operation: `npm run codegen` writes clients/sdk/src/gql/,
 * `npm run codegen:check` fails when the committed files are stale.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  documents: ['clients/**/*.graphql'],
  ignoreNoDocuments: false,
  // ESM imports with .js extensions (NodeNext resolution).
  emitLegacyCommonJSImports: false,
  generates: {
    'clients/sdk/src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // Documents as plain strings: no graphql-js parser in the browser bundle.
        documentMode: 'string',
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string' },
        skipTypename: false,
        avoidOptionals: false,
      },
    },
  },
};

export default config;
