# syntax=docker/dockerfile:1
# portcullis container image: a Rust build stage and a small Debian runtime.
#
#   docker build -t portcullis .
#   docker run -p 127.0.0.1:8080:8080 -e PORTCULLIS_ISSUER=http://127.0.0.1:8080 \
#     -v portcullis-data:/data -v portcullis-keys:/keys portcullis
#
# Set PORTCULLIS_ISSUER to the URL clients use: without it the issuer is http://0.0.0.0:8080,
# which no client can reach (the server warns at start). Without DATABASE_URL the container
# keeps its SQLite database in /data and creates its key-encryption key in /keys/kek on first
# start: mount both as volumes and back them up (docs/operations.md). With PostgreSQL, give
# the key as a secret file instead (PORTCULLIS_KEY_ENCRYPTION_KEY_FILE, see docker-compose.yml).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# libssl-dev and pkg-config: the openssl crate links the system OpenSSL, as the runtime does.
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Cargo checks that every target named in Cargo.toml exists, even when building only the binary.
COPY tests ./tests
COPY benches ./benches
COPY docs/examples/rust ./docs/examples/rust
# Cache mounts keep the registry and compiled dependencies between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin portcullis \
 && cp target/release/portcullis /usr/local/bin/portcullis

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates for TLS to PostgreSQL/Redis, libssl3 for the signing code, curl for HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 portcullis \
 && useradd --system --uid 10001 --gid portcullis --home-dir /nonexistent --shell /usr/sbin/nologin portcullis \
 && mkdir -p /data /keys \
 && chown portcullis:portcullis /data /keys \
 && chmod 0700 /keys
COPY --from=build /usr/local/bin/portcullis /usr/local/bin/portcullis

ENV PORTCULLIS_LISTEN=0.0.0.0:8080 \
    PORTCULLIS_DATA_DIR=/data \
    PORTCULLIS_KEYS_DIR=/keys \
    PORTCULLIS_LOG_FORMAT=json

USER portcullis:portcullis
WORKDIR /data
# No VOLUME: it would give every container two anonymous volumes even when PostgreSQL and a
# secret file make them pointless; mount volumes at /data and /keys for the SQLite setup.
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl --fail --silent --show-error --max-time 2 http://127.0.0.1:8080/health/live || exit 1

ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
