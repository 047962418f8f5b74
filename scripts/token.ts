// Mints an HS256 bearer token: `npm run token -- --sub alice [--admin] [--expires 12h]`.
// Uses AUTH_JWT_SECRET, or the development secret the server keeps in DATA_DIR.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { signToken } from '../src/auth.js';

const { values } = parseArgs({
  options: {
    sub: { type: 'string', default: 'shopper-1' },
    admin: { type: 'boolean', default: false },
    expires: { type: 'string', default: '12h' },
  },
});
let secret = process.env.AUTH_JWT_SECRET;
if (!secret) {
  const file = join(process.env.DATA_DIR || './.data', 'dev-jwt-secret');
  if (!existsSync(file)) {
    console.error(`No AUTH_JWT_SECRET and no ${file}: start the server once (npm start), or set AUTH_JWT_SECRET.`);
    process.exit(2);
  }
  secret = readFileSync(file, 'utf8').trim();
}
console.log(
  await signToken(secret, {
    sub: values.sub!,
    roles: values.admin ? ['admin'] : [],
    expiresIn: values.expires,
    issuer: process.env.AUTH_ISSUER || undefined,
    audience: process.env.AUTH_AUDIENCE || undefined,
  }),
);
