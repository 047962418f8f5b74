# The flashsale API and worker. Build: docker build -t flashsale .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build:web
# The persisted-operations manifest (every operation of clients/**/*.graphql and the SDK's exact
# texts), for PERSISTED_OPERATIONS=only PERSISTED_OPERATIONS_FILE=persisted-operations.json.
RUN npm run persisted:build

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
# The SDK's generated operations: the api plans them at startup (FAST_PATH_WARM).
COPY clients/sdk/src/gql ./clients/sdk/src/gql
COPY --from=build /app/clients/web/dist ./clients/web/dist
COPY --from=build /app/persisted-operations.json ./persisted-operations.json
EXPOSE 4000
# ROLE=all (api + worker in one process), api, or worker. Production needs
# AUTH_JWT_SECRET (or AUTH_JWKS_URL) and DATA_ENCRYPTION_KEY.
CMD ["node", "--import", "tsx", "src/index.ts"]
