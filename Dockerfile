# syntax=docker/dockerfile:1
# One image for every hospital of a federation: `docker build -t fedrouter:0.1.0 .` (README, "Deploy it").
# Which hospital a container is comes from FEDROUTER_HOSPITAL; everything else from the mounted
# config, whose paths point at the mount points declared below (cluster/container-config.ts
# renders such a config; test/cluster/deploy.test.ts holds these paths equal to its own).
ARG NODE_IMAGE=node:20-bookworm-slim

# Dependencies only, from the lockfile. tsx runs the TypeScript sources at run time (there is no
# build step), so it is a runtime dependency; dev dependencies stay out. No install scripts run:
# lmdb, msgpackr and esbuild load the prebuilt binaries of their optional per-platform packages,
# so no compiler is needed here either.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    FEDROUTER_CONFIG=/etc/fedrouter/cluster.config.json \
    FEDROUTER_DATA_DIR=/var/lib/fedrouter \
    FEDROUTER_TLS_DIR=/etc/fedrouter/tls \
    FEDROUTER_LOG=info
# The runtime user owns only the data directory; the code stays root's, read-only to it.
RUN groupadd --system --gid 10001 fedrouter \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin fedrouter \
 && mkdir -p "$FEDROUTER_DATA_DIR" "$FEDROUTER_TLS_DIR" \
 && chown 10001:10001 "$FEDROUTER_DATA_DIR" && chmod 0750 "$FEDROUTER_DATA_DIR"
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# The sources (.dockerignore keeps out tests, keys, models, state and the host's node_modules).
COPY . .
USER 10001:10001
# The node's LMDB environment and its models (models/<name> under it): state that outlives the container.
VOLUME ["/var/lib/fedrouter"]
# No EXPOSE: the ports are the config's (address, admin, http.listen), not the image's.
# No HEALTHCHECK: one image serves every hospital and only the front door has an HTTP health
# endpoint; Kubernetes ignores HEALTHCHECK and uses the probes `fedrouter deploy k8s` renders.
# With plain Docker, give the front door's container --health-cmd (README, "Deploy it").
ENTRYPOINT ["node", "--import", "tsx", "bin/fedrouter.ts"]
CMD ["launch"]
