# syntax=docker/dockerfile:1
# Node 24 (LTS), which CI runs the suite on besides Node 20 (.ci/node24). The tag follows the
# newest 24.x: 24.19 to 24.21 abort with better-sqlite3 12 (README, Development).
# Build stage: compile TypeScript with the full dependency set.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime stage: production dependencies and compiled code only, as a non-root user.
FROM node:24-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 TOCSIN_DATA_DIR=/data TOCSIN_RULES_DIR=/app/rules
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY rules ./rules
COPY schemas ./schemas
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# kafkajs 2.2.4 arms its throttle check with a negative delay when nothing is throttled
# (RequestQueue.scheduleCheckPendingRequests: throttledUntil = -1, minus Date.now()); newer
# Node versions clamp it to 1 ms, as kafkajs means, and print a TimeoutNegativeWarning each time.
CMD ["node", "--disable-warning=TimeoutNegativeWarning", "dist/server.js"]
