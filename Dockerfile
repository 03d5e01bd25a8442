# syntax=docker/dockerfile:1
#
# mta-sts-server as a container:
#   docker build -t mta-sts-server .
#   docker run -d --name mta-sts -p 80:80 -p 443:443 -p 25:25 \
#     -v /srv/mta-sts:/etc/mta-sts:ro \
#     -v mta-sts-state:/var/lib/mta-sts \
#     mta-sts-server
# /srv/mta-sts holds mta-sts.yaml, started from config/production.yaml (in the image at
# /app/config/production.yaml). The config must listen on https 443 and http 80 and keep state in
# /var/lib/mta-sts (the config defaults; config/example.yaml uses other values for running
# outside a container). Other commands: `docker exec mta-sts mta-sts-server stats` in the running
# container, or `docker run --rm -v /srv/mta-sts:/etc/mta-sts:ro mta-sts-server check-config`.
#
# test/e2e/container.test.ts reads the final stage (COPY, WORKDIR, RUN, ENV, USER, VOLUME, EXPOSE,
# HEALTHCHECK, ENTRYPOINT, CMD) and runs it without Docker, so keep those instructions in the
# simple forms it understands: exec (JSON) form, KEY=value ENV pairs, numeric USER, RUN commands
# joined by && (of which it reproduces ln -s and chmod; mkdir, chown and test it does itself).

# ---- build: compile the TypeScript with the dev dependencies ----
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 (the statistics database) is a native module: its install script downloads a
# prebuilt binary when there is one for this platform and compiles it with these otherwise.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# The lock file first, so the dependency layer is reused while only the source changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# npm run build bundles the command line after tsc (scripts/bundle-cli.mjs, with esbuild, a dev
# dependency): dist/src/cli/main.js and dist/src/cli-chunks/.
COPY scripts ./scripts
RUN npm run build
# What the runtime stage copies: the production packages, native module built, no compiler.
RUN npm prune --omit=dev --no-audit --no-fund

# ---- runtime: compiled code and production dependencies only ----
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
# providers.yaml is read at run time (fetch attribution); production.yaml and example.yaml are
# starting points for users.
COPY config/providers.yaml config/production.yaml config/example.yaml ./config/
# `mta-sts-server` on PATH, for `docker exec mta-sts mta-sts-server stats`: the CLI's entry point
# (#!/usr/bin/env node) made executable, linked from /usr/local/bin.
RUN chmod 0755 /app/dist/src/cli/main.js \
    && ln -s /app/dist/src/cli/main.js /usr/local/bin/mta-sts-server
# The application files stay owned by root: the service cannot rewrite its own code.
# The state directory must be chowned before VOLUME below: Docker discards changes made to a
# volume path after its VOLUME instruction. The `test` fails the build if the base image's
# `node` user is ever not uid/gid 1000, which USER names numerically below.
RUN mkdir -p /etc/mta-sts /var/lib/mta-sts \
    && chown node:node /var/lib/mta-sts \
    && test "$(id -u node):$(id -g node)" = "1000:1000"
ENV MTA_STS_CONFIG=/etc/mta-sts/mta-sts.yaml
# The base image's `node` user, given numerically so that Kubernetes' runAsNonRoot can verify
# the image does not run as root.
USER 1000:1000
# Certificates, private keys, the self-signed CA and the statistics database (mta-sts.db); keep
# them across container upgrades.
VOLUME /var/lib/mta-sts
# A non-root user can bind 80, 443 and 25 here without CAP_NET_BIND_SERVICE: Docker sets
# net.ipv4.ip_unprivileged_port_start=0 in each container's network namespace (Docker 20.10+).
# With --network=host the host's value applies (usually 1024): listen on ports above 1023 there.
# 25 is the built-in receiver of TLS reports by mail (reports.smtp, off by default): senders
# deliver to mta-sts.<domain> through its A/AAAA record (RFC 5321 §5.1, the implicit MX).
EXPOSE 80 443 25
# /healthz on the plain-HTTP listener (port 80): the process is up and answering. The slim image
# has no curl, so node makes the request; 127.0.0.1 reaches both the dual-stack "::" listener and
# the IPv4-only fallback.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["node", "-e", "require('node:http').get('http://127.0.0.1:80/healthz', (res) => process.exit(res.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
# node itself is PID 1: it handles SIGTERM (docker stop) by finishing in-flight requests, then exits 0.
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["serve"]
