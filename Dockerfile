# One image for the hub's services (broker, ingest, api); docker-compose.yml picks the
# entry point per service with `command:`. Built from the lock file (npm ci), compiled
# with the repo's own build script, run as the unprivileged `node` user of the base image.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:24-slim
ENV NODE_ENV=production \
    ARENA_DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# Device profiles are data read at start (ARENA_PROFILES_DIR defaults to this folder).
COPY --from=build --chown=node:node /app/device-profiles/profiles ./device-profiles/profiles
# The catalogue of measurements, events and families, read at start with the profiles.
COPY --from=build --chown=node:node /app/catalogue ./catalogue
RUN mkdir -p /data && chown node:node /data
# glibc keeps a malloc arena per thread that ever allocated (libuv's pool running scrypt,
# DuckDB's threads) and rarely gives them back; two arenas cost no measurable speed and
# save about 40 MB of resident memory with 200 devices connected (npm run bench).
ENV MALLOC_ARENA_MAX=2
USER node
VOLUME ["/data"]
# The all-in-one hub; compose overrides this per service. A young generation of 16 MiB
# (default 8 on 64-bit builds) lets the short-lived objects of each message die young:
# fewer scavenges per message under load, at no cost when idle.
CMD ["node", "--max-semi-space-size=16", "dist/hub/main.js"]
