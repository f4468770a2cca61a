# syntax=docker/dockerfile:1
#
# The receiver's image: the receiver (PID 1) supervises `bun start` for the
# release APP_ROOT/current points to and proxies :3000 to it. ship is in the
# image too, for deploys run inside the container.
#
#   docker build -t ship-receiver .
#   podman build --format docker -t ship-receiver .   # OCI format drops HEALTHCHECK
#   docker run -d -p 3000:3000 -v app:/app --env-file .env ship-receiver
#
# internal/containertest builds and runs it with podman.

ARG GO_VERSION=1.26.8
ARG BUN_IMAGE=oven/bun:1

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is reused while only the code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
ENV CGO_ENABLED=0
RUN go build -trimpath -buildvcs=false -ldflags=-s -o /out/receiver ./cmd/receiver \
 && go build -trimpath -buildvcs=false -ldflags="-s -X github.com/shipdeploy/ship/internal/shipcmd.Version=${VERSION}" -o /out/ship ./cmd/ship

# The official Bun image (Debian): bun, and the user bun (uid 1000).
FROM ${BUN_IMAGE} AS run
# git fetches releases for webhook deploys; ssh is its transport for
# git@ URLs (GIT_SSH_KEY).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/receiver /out/ship /usr/local/bin/
RUN mkdir -p /app && chown bun:bun /app
ENV APP_ROOT=/app LISTEN=:3000
WORKDIR /app
# A named volume starts as a copy of this folder, owned by bun; a host
# folder mounted here must be writable by uid 1000.
VOLUME ["/app"]
USER bun
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["receiver", "health"]
ENTRYPOINT ["receiver", "--create"]
