#!/usr/bin/env bash
# Builds the application images without a registry: binaries built here with cargo, stripped,
# and copied onto the Debian base image (deploy/base-image.sh). Images (tag $LTP_TAG, default
# `local`): ltp-ingestor, ltp-query-api, ltp-kraken-sim, ltp-lb (haproxy in front of the
# query-api replicas), ltp-prometheus (Debian's prometheus package with deploy/prometheus/; the
# package comes from Debian's archive, like the base image, and stays in Docker's build cache).
# With a registry, `docker-compose build` uses deploy/Dockerfile for the first three.
#
# Usage: deploy/app-images.sh            release binaries, tag `local` (what docker-compose runs)
#        LTP_PROFILE=debug LTP_TAG=check deploy/app-images.sh   (the compose check in scripts/test)
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'app-images: %s\n' "$*" >&2; }
profile=${LTP_PROFILE:-release} tag=${LTP_TAG:-local}

deploy/base-image.sh
log "building $profile binaries"
if [[ $profile == release ]]; then flags=(--release); else flags=(); fi
cargo build "${flags[@]}" --locked --quiet -p ingestor -p query-api -p kraken-sim

ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
bin=${CARGO_TARGET_DIR:-target}/$profile
cp "$bin/ingestor" "$bin/query-api" "$bin/kraken-sim" deploy/haproxy.cfg "$ctx/"
# Symbols stay in target/ for profiling; images do not need them.
strip --strip-debug "$ctx/ingestor" "$ctx/query-api" "$ctx/kraken-sim" 2>/dev/null || true
cp -r configs "$ctx/configs"
cp -r deploy/prometheus/prometheus.yml deploy/prometheus/rules "$ctx/"
image() {  # name dockerfile-text
  printf '%s\n' "$2" >"$ctx/Dockerfile"
  docker build -q -t "$1" "$ctx" >"$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; exit 1; }
  log "built $1"
}
app() {  # binary port extra-entrypoint-args
  image "ltp-$1:$tag" "FROM ltp-base:bookworm
COPY configs /etc/ltp
COPY $1 /usr/local/bin/$1
USER 10001:10001
EXPOSE $2
ENTRYPOINT [\"/usr/local/bin/$1\"$3]"
}
app ingestor 8081 ""
app query-api 8080 ""
app kraken-sim 8090 ', "--port", "8090", "--host", "0.0.0.0"'
image "ltp-lb:$tag" "FROM ltp-base:bookworm
COPY haproxy.cfg /etc/haproxy/haproxy.cfg
USER haproxy
EXPOSE 8080
ENTRYPOINT [\"/usr/sbin/haproxy\", \"-W\", \"-db\", \"-f\", \"/etc/haproxy/haproxy.cfg\"]"
# The web UI needs one file of moment-timezone; its source data (200 MB) goes.
image "ltp-prometheus:$tag" "FROM ltp-base:bookworm
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null \\
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/javascript/moment-timezone/data
COPY prometheus.yml /etc/prometheus/prometheus.yml
COPY rules /etc/prometheus/rules
USER prometheus
EXPOSE 9090
ENTRYPOINT [\"/usr/bin/prometheus\", \"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/var/lib/prometheus/metrics2\", \"--storage.tsdb.retention.time=15d\"]"
