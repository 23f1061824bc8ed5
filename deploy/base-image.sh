#!/usr/bin/env bash
# Builds ltp-base:bookworm from Debian's package archive, without any container registry (the
# machines that build ltp may reach Debian's archive but no registry): debootstrap
# --variant=minbase bookworm (about 30 s) with nats-server 2.9, redis-server 7.0,
# haproxy, ca-certificates and curl, imported with `docker import`. The test, compose and
# application images are built on it. Kept when it exists with the current recipe.
# Usage: deploy/base-image.sh [--force]
set -euo pipefail

BASE_RECIPE=2  # bump when the recipe changes, so stale local images are rebuilt
log() { printf 'base-image: %s\n' "$*" >&2; }

if [[ "${1:-}" != "--force" ]] \
  && [[ "$(docker image inspect -f '{{ index .Config.Labels "ltp.recipe" }}' ltp-base:bookworm 2>/dev/null)" == "$BASE_RECIPE" ]]; then
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  sudo=(); [[ $(id -u) == 0 ]] || sudo=(sudo)
  log "installing debootstrap"
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
log "building ltp-base:bookworm with debootstrap (about a minute)"
rootfs="$tmp/rootfs"
debootstrap --variant=minbase --include=nats-server,redis-server,haproxy,ca-certificates,curl \
  bookworm "$rootfs" http://deb.debian.org/debian >"$tmp/debootstrap.log" 2>&1 \
  || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
# Docs, caches and apt lists are not needed at run time.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/*
# A fixed unprivileged user for the application images.
chroot "$rootfs" useradd --system -K SYS_UID_MAX=10001 --uid 10001 --no-create-home --shell /usr/sbin/nologin ltp
tar -C "$rootfs" -c . | docker import \
  --change "LABEL ltp.recipe=$BASE_RECIPE" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' - ltp-base:bookworm >/dev/null
log "done"
