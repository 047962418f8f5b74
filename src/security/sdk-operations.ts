// The SDK's generated documents (clients/sdk/src/gql, made by codegen from clients/**/*.graphql).
import * as sdkDocuments from '../../clients/sdk/src/gql/graphql.js';

/**
 * Every operation text our SDK sends, exactly as it sends it (codegen's formatting, with the
 * fragments it uses appended): the fast path plans the queries and mutations at startup
 * (FAST_PATH_WARM), and `npm run persisted:build` puts all of them in the manifest, since
 * `PERSISTED_OPERATIONS=only` accepts a text only when it is byte for byte a manifest entry.
 */
export function sdkOperationTexts(kinds: readonly ('query' | 'mutation' | 'subscription')[] = ['query', 'mutation', 'subscription']): string[] {
  const first = new RegExp(`^\\s*(${kinds.join('|')})\\b`);
  return (Object.values(sdkDocuments) as unknown[])
    .filter((d) => d instanceof sdkDocuments.TypedDocumentString)
    .map(String)
    .filter((text) => first.test(text));
}
