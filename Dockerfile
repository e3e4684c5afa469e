# syntax=docker/dockerfile:1
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
RUN mkdir -p /var/lib/kinesql && chown node:node /var/lib/kinesql
USER node
EXPOSE 5433
ENTRYPOINT ["node", "bin/kinesql.js", "serve"]
# Listening beyond loopback needs authentication (kinesql.auth-method + kinesql.users): mount a properties
# file that sets it at /etc/kinesql/kinesql.properties, or kinesql refuses to start.
CMD ["--host", "0.0.0.0", "--data-dir", "/var/lib/kinesql", "--config", "/etc/kinesql/kinesql.properties"]
