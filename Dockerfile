# syntax=docker/dockerfile:1
#
# Dunder's container image: a Rust builder stage, then a slim Debian
# runtime (the binary links glibc) that runs as an unprivileged user.
#
#   docker build -t dunder .
#   docker run --rm -p 9000:9000 -v dunder-data:/data dunder
#
# With no database setting the server keeps its SQLite file in /data (the
# working directory), a volume owned by the runtime user.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src

# Dependencies first, in a layer of their own: it is rebuilt only when a
# manifest or the lock file changes, not on every source edit. The targets
# are dummies; the bench stubs exist because Cargo refuses a manifest whose
# declared [[bench]] files are missing (benches/ stays out of the context).
COPY Cargo.toml Cargo.lock ./
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src migration/src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs migration/src/lib.rs \
    && echo 'fn main() {}' > migration/src/main.rs \
    && for bench in $(awk '/^\[\[bench\]\]/ { b = 1; next } b && /^name *=/ { gsub(/.*= *"|"/, ""); print; b = 0 }' Cargo.toml); do \
           echo 'fn main() {}' > "benches/$bench.rs"; \
       done \
    && cargo build --release --locked --bin dunder \
    && rm -rf src migration/src

# The sources. The binary embeds assets/ (the GraphQL playground pages).
# COPY keeps the files' own modification times, which can be older than the
# dummy build: touch them so that Cargo rebuilds both crates.
COPY src src
COPY migration/src migration/src
COPY assets assets
RUN find src migration/src -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --bin dunder \
    && install -D -m 0755 target/release/dunder /out/dunder

FROM debian:${DEBIAN_RELEASE}-slim AS runtime

# ca-certificates: a database reached over TLS (sslmode=verify-full)
# checks its certificate against the system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# A fixed UID/GID, so that volume ownership and Kubernetes'
# runAsUser/fsGroup can name it. /data is made here, owned by that user,
# so that a named volume mounted there starts writable by it.
ARG DUNDER_UID=10001
RUN groupadd --system --gid "${DUNDER_UID}" dunder \
    && useradd --system --uid "${DUNDER_UID}" --gid dunder --home-dir /data --shell /usr/sbin/nologin dunder \
    && install -d -o dunder -g dunder -m 0750 /data

COPY --from=builder /out/dunder /usr/local/bin/dunder

# The working directory is where the default SQLite file (dunder.db) and the
# default tls/ paths are resolved.
WORKDIR /data
VOLUME ["/data"]
USER dunder:dunder

# The server binds 0.0.0.0:9000 by default (--listen_address, --port).
EXPOSE 9000

# No HEALTHCHECK: the image has no HTTP client, and the orchestrators probe
# /healthz and /readyz themselves (deploy/kubernetes/deployment.yaml).
# SIGTERM drains: requests in flight get up to 30 s, then open WebSockets up
# to http.sockets_close_grace_ms (5 s); give `docker stop` that long.
STOPSIGNAL SIGTERM
ENTRYPOINT ["dunder"]
