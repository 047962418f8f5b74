# The flashsale API and worker. Build: docker build -t flashsale .
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
EXPOSE 4000
# ROLE=all (api + worker in one process), api, or worker.
CMD ["node", "--import", "tsx", "src/index.ts"]
