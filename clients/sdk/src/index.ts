export * from './client.js';
export { type AltchaChallenge, ChallengeError, type HexDigest, parseChallenge, solveChallenge } from './pow.js';
/** Every generated operation type and document, e.g. `gql.ProductsQuery`, `gql.ReserveDocument`. */
export * as gql from './gql/graphql.js';
