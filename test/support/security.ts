import { buildApp, type App } from '../../src/app.js';
import { createVerifier } from '../../src/auth.js';
import { loadSecurityConfig } from '../../src/security/config.js';
import { type Harness, TEST_SECRET } from './harness.js';

/** A controllable clock for deps.now: frozen unless a test moves it. */
export function testClock(start = Date.now()) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms), set: (ms: number) => void (t = ms) };
}

export interface SecuredApp {
  app: App;
  /** POSTs one operation; `ip` is sent as X-Forwarded-For (the app trusts one proxy). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string, ip?: string): Promise<{ status: number; headers: Headers; body: any }>;
  post(path: string, body: unknown, token?: string, ip?: string): Promise<{ status: number; headers: Headers; body: any }>;
}

/** A second app on the harness's deps, with the security settings `env` describes. */
export function securedApp(h: Harness, env: Record<string, string>, production = false): SecuredApp {
  const app = buildApp(h.backend.runtime.deps, {
    verifier: createVerifier({ secret: TEST_SECRET }),
    security: loadSecurityConfig({ TRUST_PROXY: '1', ...env }, production),
    production,
  });
  const headers = (token?: string, ip?: string) => ({
    'content-type': 'application/json',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
    ...(ip ? { 'x-forwarded-for': ip } : {}),
  });
  return {
    app,
    async gql(query, variables, token, ip) {
      const res = await app.fetch('http://test/graphql', { method: 'POST', headers: headers(token, ip), body: JSON.stringify({ query, variables }) });
      return { status: res.status, headers: res.headers, body: await res.json() };
    },
    async post(path, body, token, ip) {
      const res = await app.fetch(`http://test${path}`, { method: 'POST', headers: headers(token, ip), body: JSON.stringify(body) });
      return { status: res.status, headers: res.headers, body: await res.json() };
    },
  };
}
