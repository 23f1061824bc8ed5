#!/usr/bin/env bash
# Makes the container images the tests and the compose stack run, without a registry if need be.
#
#   ltp-base:bookworm  Debian bookworm (minbase) with nats-server 2.9, redis-server 7.0, curl
#   ltp-nats:test      nats-server as entrypoint (JetStream enabled by the caller's flags)
#   ltp-redis:test     redis-server, no persistence, reachable from outside the container
#
# When a registry is reachable the official images are pulled and tagged instead; otherwise the
# base is built with debootstrap from Debian's package archive (design.md §4). Images that
# already exist with the current recipe version are kept, so repeated runs cost nothing.
# Usage: deploy/test-images.sh [--force]
set -euo pipefail

BASE_RECIPE=1  # bump when the base recipe changes, so stale local images are rebuilt
RECIPE=2       # same, for the images built on the base
force=0; [[ "${1:-}" == "--force" ]] && force=1
log() { printf 'test-images: %s\n' "$*" >&2; }

have() {  # image $1 exists and was made by recipe version $2
  [[ $force == 0 ]] && [[ "$(docker image inspect -f '{{ index .Config.Labels "ltp.recipe" }}' "$1" 2>/dev/null)" == "$2" ]]
}

if have ltp-nats:test "$RECIPE" && have ltp-redis:test "$RECIPE"; then
  log "ltp-nats:test and ltp-redis:test are present"
  exit 0
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# 1. A registry, when there is one: official images, relabelled.
if timeout 60 docker pull -q nats:2.10-alpine >/dev/null 2>&1 && timeout 60 docker pull -q redis:7.2-alpine >/dev/null 2>&1; then
  log "registry reachable: using official nats:2.10-alpine and redis:7.2-alpine"
  printf 'FROM nats:2.10-alpine\nLABEL ltp.recipe=%s\n' "$RECIPE" | docker build -q -t ltp-nats:test - >/dev/null
  printf 'FROM redis:7.2-alpine\nLABEL ltp.recipe=%s\nCMD ["redis-server","--protected-mode","no","--save","","--appendonly","no"]\n' "$RECIPE" \
    | docker build -q -t ltp-redis:test - >/dev/null
  exit 0
fi

# 2. No registry: a Debian base from the package archive.
if ! have ltp-base:bookworm "$BASE_RECIPE"; then
  if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    if [[ $(id -u) == 0 ]]; then SUDO=(); else SUDO=(sudo); fi
    "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  log "building ltp-base:bookworm with debootstrap (about a minute)"
  rootfs="$tmp/rootfs"
  debootstrap --variant=minbase --include=nats-server,redis-server,ca-certificates,curl \
    bookworm "$rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  # Shrink: docs, caches, apt lists are not needed at run time.
  rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change "LABEL ltp.recipe=$BASE_RECIPE" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - ltp-base:bookworm >/dev/null
fi

log "building ltp-nats:test and ltp-redis:test on ltp-base:bookworm"
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
build() {  # quietly, showing the builder's output only when it fails
  docker build -q -t "$1" -f "$2" "$tmp" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
}
build ltp-nats:test "$tmp/nats.Dockerfile"
build ltp-redis:test "$tmp/redis.Dockerfile"
log "done"
