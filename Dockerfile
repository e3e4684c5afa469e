# syntax=docker/dockerfile:1
# Node 22 LTS (Node 20 reached its end of life; the AWS SDK needs Node 22 from early 2027).
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
RUN mkdir -p /var/lib/kinesql && chown node:node /var/lib/kinesql
# Loaded rows, shard positions and checkpoints: keep them across container restarts.
VOLUME /var/lib/kinesql
USER node
# 5433: PostgreSQL clients. 9187: the status page (/), /metrics, /healthz and /readyz.
EXPOSE 5433 9187
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9187/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/kinesql.js", "serve"]
# Listening beyond loopback needs authentication (kinesql.auth-method + kinesql.users): mount a properties
# file that sets it at /etc/kinesql/kinesql.properties, or kinesql refuses to start.
# The embedded engine (PostgreSQL) needs shared memory beyond Docker's 64 MB default for parallel queries
# (docker run --shm-size=1g) and a writable /tmp for its socket and temporary files (with --read-only, mount
# a tmpfs there: --tmpfs /tmp).
CMD ["--host", "0.0.0.0", "--http-port", "9187", "--data-dir", "/var/lib/kinesql", "--config", "/etc/kinesql/kinesql.properties"]
