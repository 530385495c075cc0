# syntax=docker/dockerfile:1
#
# herald's container image: one image for every role (`herald api`, `scheduler`, `worker`,
# `relay`, `ingest`, `ingest-apns`, `migrate`, or `start` for all of them), run with an external
# PostgreSQL (HERALD_DATABASE_URL + HERALD_SECRET_KEY).
#
#   docker build -t herald .
#   docker run --rm -p 3000:3000 -e HERALD_DATABASE_URL=postgres://... -e HERALD_SECRET_KEY=... herald
#
# Three stages: `build` compiles src/ and bundles the inbox web component and the console with the dev
# dependencies (TypeScript, Vite), `deps` installs the
# production dependencies only, and the runtime is plain Alpine with Node's binary copied in: no
# npm, yarn or corepack, no compiler, no sources. See docs/deploy.md.

# Node's Alpine build links against Alpine's musl and libstdc++: keep the runtime on the same
# Alpine release as the Node image it copies the binary from.
ARG NODE_VERSION=24
ARG ALPINE_VERSION=3.22

FROM node:${NODE_VERSION}-alpine${ALPINE_VERSION} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The workspaces' manifests, so npm ci installs what the browser packages build with.
COPY packages/client/package.json ./packages/client/
COPY packages/inbox/package.json ./packages/inbox/
COPY packages/console/package.json ./packages/console/
# --ignore-scripts: the package's `prepare` script would compile before the sources are copied,
# and the embedded PostgreSQL binaries' install step is not needed to compile.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY packages ./packages
# Compiles src/ to dist/ and builds packages/inbox/dist/herald-inbox.js (served at /assets/) and
# the operator console, packages/console/dist (served at /console/).
RUN npm run build
# The incremental build's record (dist/.tsbuildinfo) is of no use in the image.
RUN rm -f dist/.tsbuildinfo

FROM node:${NODE_VERSION}-alpine${ALPINE_VERSION} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=optional drops the embedded PostgreSQL binaries (`@embedded-postgres/<platform>`, the
# optional dependencies of `embedded-postgres`): the image always runs against HERALD_DATABASE_URL,
# and herald imports those binaries only when that variable is unset. Type declarations, source
# maps and docs are half of node_modules by size and never loaded at run time.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \
      -o -name '*.md' -o -name '*.markdown' -o -name '*.tsbuildinfo' -o -name 'CHANGELOG*' \) -delete

FROM alpine:${ALPINE_VERSION} AS runtime
# tini runs as PID 1 and forwards signals to herald: the kernel gives PID 1 no default signal
# actions, so without it a signal herald has no handler for (SIGQUIT, SIGHUP) would be ignored,
# and exited child processes would never be reaped. SIGTERM reaches herald, which drains and
# exits within HERALD_SHUTDOWN_TIMEOUT_MS (https://github.com/krallin/tini#why-tini).
RUN apk add --no-cache libstdc++ tini \
 && addgroup -S -g 10001 herald \
 && adduser -S -D -H -h /app -s /sbin/nologin -u 10001 -G herald herald
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    HERALD_PORT=3000 \
    HERALD_DATA_DIR=/tmp/herald-data
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The <herald-inbox> component herald serves at /assets/herald-inbox.js (one bundled file).
COPY --from=build /app/packages/inbox/dist ./packages/inbox/dist
# The operator console herald serves at /console/ (one page and its hashed assets).
COPY --from=build /app/packages/console/dist ./packages/console/dist
# migrations/ is read at run time from the package root; package.json gives `herald version`.
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
# Numeric uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 3000
# /healthz is liveness (Kubernetes uses its own probes; this serves `docker run` and Compose).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HERALD_PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/sbin/tini", "--", "node", "/app/bin/herald.js"]
CMD ["start"]
