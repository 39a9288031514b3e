# hookwarden container image.
#   docker build -t hookwarden .
#   docker run --rm -p 9464:9464 -v "$PWD/hookwarden.yaml:/etc/hookwarden/config.yaml:ro" \
#     -e DATABASE_URL=postgresql://user:password@db:5432/hookwarden hookwarden
# The config must listen on 0.0.0.0:9464 (server.listen) and name a database
# (database.url): the image has no embedded Postgres.

# Build stage: every dependency, the generated Prisma client, TypeScript compiled to dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts run below, once their inputs are here (nothing native is needed to build).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node scripts/prisma-generate.mjs && npm run build

# Runtime stage: production dependencies only, the compiled code, the migrations.
FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
# Without dev dependencies and without optional ones (the embedded Postgres binaries, and the
# Prisma CLI and TypeScript, which npm keeps as optional peers). The project's own
# postinstall and prepare steps find no schema or sources here and skip: dist/ comes from
# the build stage, generated client included.
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
# Migrations are applied by `run` at start (under an advisory lock, so replicas may start together).
COPY prisma ./prisma
COPY config.example.yaml ./
# The unprivileged "node" user of the base image, by number so that Kubernetes can check
# runAsNonRoot. The application files stay root's: read-only to the process.
USER 1000:1000
EXPOSE 9464
# SIGTERM stops hookwarden gracefully: running passes finish, it exits within 10 s.
STOPSIGNAL SIGTERM
# No curl in slim images: Node's fetch. HOOKWARDEN_HEALTHCHECK_URL follows server.listen.
ENV HOOKWARDEN_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HOOKWARDEN_HEALTHCHECK_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/hookwarden.js"]
CMD ["run", "-c", "/etc/hookwarden/config.yaml"]
