import { randomUUID } from 'node:crypto';

/**
 * The request id a response carries in `x-request-id` and the logs record: the caller's
 * own (at most 64 characters) or a fresh UUID. Yoga's request-id plugin and the fast
 * path both take it from here.
 */
export function requestIdFrom(given: string | string[] | null | undefined): string {
  return (typeof given === 'string' && given.slice(0, 64)) || randomUUID();
}
