# syntax=docker/dockerfile:1
# ferrid in a small image: built in a Rust image, run as a non-root user on
# Debian slim (ferrid links OpenSSL dynamically).
#
#   docker build -t ferrid .
#   docker run -d --name ferrid -p 9000:9000 \
#       -e FERRID_PUBLIC_URL=http://nodered.lan:9000 \
#       -v ferrid-data:/var/lib/ferrid \
#       -v "$PWD/config.yaml:/etc/ferrid/config.yaml:ro" ferrid
#   docker logs ferrid      # the first start prints the admin password
#   docker exec ferrid ferrid user list

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin ferrid \
 && strip target/release/ferrid

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/ferrid --shell /usr/sbin/nologin ferrid \
 && install -d -o ferrid -g ferrid -m 0700 /var/lib/ferrid \
 && install -d -m 0755 /etc/ferrid
COPY --from=build /src/target/release/ferrid /usr/local/bin/ferrid
COPY config.yaml /etc/ferrid/config.yaml
USER ferrid
ENV FERRID_CONFIG=/etc/ferrid/config.yaml \
    FERRID_LISTEN=0.0.0.0:9000 \
    FERRID_DATA_DIR=/var/lib/ferrid/data \
    FERRID_KEYS_DIR=/var/lib/ferrid/keys
VOLUME ["/var/lib/ferrid"]
EXPOSE 9000
# ferrid asks its own /healthz (listen from FERRID_LISTEN, 0.0.0.0 asked as
# 127.0.0.1). Orchestrators can probe /readyz (store and keys usable) too.
HEALTHCHECK --interval=30s --timeout=6s --retries=3 CMD ["/usr/local/bin/ferrid", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ferrid"]
CMD ["serve"]
