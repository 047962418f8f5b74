// How faults are recognised through the errors that wrap them (drizzle around postgres.js, a
// RetryableError around both): one walk of the cause chain, bounded, for every check.
import { describe, expect, it } from 'vitest';
import { PostgresUnresponsiveError, isInDoubt } from '../src/adapters/db/watchdog.js';
import { isRetryable } from '../src/app.js';
import { isUniqueViolation } from '../src/domain/cart/reserve.js';
import { causes, RetryableError } from '../src/domain/context.js';

const wrap = (inner: unknown, message = 'Failed query') => new Error(message, { cause: inner });

describe('cause chains', () => {
  it('walks outermost first and stops at the bound, even on a chain that loops', () => {
    const inner = Object.assign(new Error('inner'), { code: 'X' });
    expect([...causes(wrap(wrap(inner)))].map((e) => e.message)).toEqual(['Failed query', 'Failed query', 'inner']);
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect([...causes(a)]).toHaveLength(8);
    expect([...causes(a, 3)]).toHaveLength(3);
    expect([...causes(undefined)]).toEqual([]);
  });

  it('finds each fault a few wrappings deep, and nothing in a loop without one', () => {
    expect(isRetryable(wrap(wrap(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))))).toBe(true);
    expect(isRetryable(wrap(new RetryableError('gate down')))).toBe(true);
    expect(isRetryable(wrap(new Error('Connection is closed.')))).toBe(true);
    expect(isRetryable(wrap(Object.assign(new Error('syntax'), { code: '42601' })))).toBe(false);
    expect(isUniqueViolation(wrap(Object.assign(new Error('duplicate key'), { code: '23505' })))).toBe(true);
    expect(isUniqueViolation(wrap(new Error('other')))).toBe(false);
    expect(isInDoubt(wrap(wrap(new PostgresUnresponsiveError(5000, true))))).toBe(true);
    expect(isInDoubt(wrap(new PostgresUnresponsiveError(5000, false)))).toBe(false);
    // A chain that loops back on itself ends: false, not a hang.
    const a = new Error('a');
    (a as { cause?: unknown }).cause = wrap(a);
    expect(isRetryable(a)).toBe(false);
    expect(isUniqueViolation(a)).toBe(false);
  });
});
