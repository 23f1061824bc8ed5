#!/usr/bin/env bash
# Makes the NATS and Redis images the tests and the compose stack run, without a registry if
# need be:
#
#   ltp-nats:test    nats-server as entrypoint (the caller passes -js for JetStream)
#   ltp-redis:test   redis-server, no persistence, reachable from outside the container
#
# When a registry is reachable the official images are pulled and relabelled; otherwise they
# are built on ltp-base:bookworm (deploy/base-image.sh, from Debian packages).
# Images that exist with the current recipe version are kept, so repeated runs cost nothing.
# Usage: deploy/test-images.sh [--force]
set -euo pipefail
cd "$(dirname "$0")"

RECIPE=2  # bump when the recipe changes, so stale local images are rebuilt
force=0; [[ "${1:-}" == "--force" ]] && force=1
log() { printf 'test-images: %s\n' "$*" >&2; }
have() {  # image exists and was made by this recipe version
  [[ $force == 0 ]] && [[ "$(docker image inspect -f '{{ index .Config.Labels "ltp.recipe" }}' "$1" 2>/dev/null)" == "$RECIPE" ]]
}
if have ltp-nats:test && have ltp-redis:test; then
  exit 0
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
build() {  # quietly, showing the builder's output only when it fails
  docker build -q -t "$1" - <"$2" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
}

if timeout 60 docker pull -q nats:2.10-alpine >/dev/null 2>&1 && timeout 60 docker pull -q redis:7.2-alpine >/dev/null 2>&1; then
  log "registry reachable: relabelling nats:2.10-alpine and redis:7.2-alpine"
  printf 'FROM nats:2.10-alpine\nLABEL ltp.recipe=%s\n' "$RECIPE" >"$tmp/nats.Dockerfile"
  printf 'FROM redis:7.2-alpine\nLABEL ltp.recipe=%s\nCMD ["redis-server","--protected-mode","no","--save","","--appendonly","no"]\n' "$RECIPE" >"$tmp/redis.Dockerfile"
else
  log "no registry: building on ltp-base:bookworm"
  ./base-image.sh $([[ $force == 1 ]] && echo --force)
  cat >"$tmp/nats.Dockerfile" <<DOCKERFILE
FROM ltp-base:bookworm
LABEL ltp.recipe=$RECIPE
RUN mkdir -p /data && chown nobody:nogroup /data
USER nobody
EXPOSE 4222 8222
ENTRYPOINT ["/usr/sbin/nats-server"]
CMD ["-js", "-sd", "/data", "-m", "8222"]
DOCKERFILE
  cat >"$tmp/redis.Dockerfile" <<DOCKERFILE
FROM ltp-base:bookworm
LABEL ltp.recipe=$RECIPE
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
DOCKERFILE
fi
build ltp-nats:test "$tmp/nats.Dockerfile"
build ltp-redis:test "$tmp/redis.Dockerfile"
log "ltp-nats:test and ltp-redis:test are ready"
