#!/usr/bin/env bash
# make image / make images: the container images, built with no container
# registry in reach. Each image is a Debian root filesystem made with
# mmdebstrap from Debian's packages (the server needs git and CA
# certificates), imported into podman, plus what deploy/local/NAME.Containerfile
# adds on top (the binary, the user, the volume, the health check).
#
#   deploy/image.sh [--load] [deploytokens|registry|redis]...
#
# Results are cached in bin/image: NAME-base.tar (the root filesystem,
# rebuilt only when its recipe below changes) and NAME.tar (the image as a
# docker-archive, rebuilt only when the base, the binary, the Containerfile
# or this script change; NAME.inputs holds the hash of those). --load loads
# the archive into the caller's podman as localhost/deploytokens[-NAME]
# unless the same build is already there. The build itself runs in a
# throwaway podman storage, so it needs no runtime and leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${IMAGE_OUT:-bin/image}
PODMAN=${PODMAN:-podman}
GO=${GO:-go}
SUITE=bookworm
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
LABEL=org.deploytokens.inputs

load=0 names=()
for a in "$@"; do
  case $a in
  --load) load=1 ;;
  deploytokens | registry | redis) names+=("$a") ;;
  *) echo "usage: deploy/image.sh [--load] [deploytokens|registry|redis]..." >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(deploytokens)
for tool in mmdebstrap "$PODMAN"; do
  command -v "$tool" >/dev/null || { echo "deploy/image.sh needs $tool: apt-get install $tool (or make test-deps)" >&2; exit 1; }
done

# The recipe of each base: Debian packages, and the user the image runs as
# with its data directory. The image's own UIDs, so a volume keeps its owner
# whichever image version mounts it.
packages() {
  case $1 in
  deploytokens) echo git,ca-certificates ;;
  registry) echo ca-certificates ;;
  redis) echo redis-server ;;
  esac
}
account() { # name uid home
  case $1 in
  deploytokens) echo "deploytokens 10001 /var/lib/deploytokens /jwks" ;;
  registry) echo "registry 10002 /var/lib/registry" ;;
  redis) echo "redis 10003 /var/lib/redis" ;;
  esac
}
# base NAME FILE: the root filesystem. The essential variant has no apt or
# init: what runs in the image is only what the server needs; documentation,
# manual pages and translations are left out.
base() {
  local name=$1 file=$2 user uid home extra
  read -r user uid home extra <<<"$(account "$name")"
  local hook="grep -q '^$user:' \"\$1/etc/passwd\" && sed -i '/^$user:/d' \"\$1/etc/passwd\" \"\$1/etc/group\" \"\$1/etc/shadow\" \"\$1/etc/gshadow\" 2>/dev/null;"
  hook+=" echo '$user:x:$uid:$uid::$home:/usr/sbin/nologin' >>\"\$1/etc/passwd\";"
  hook+=" echo '$user:x:$uid:' >>\"\$1/etc/group\";"
  hook+=" install -d -m 0750 -o $uid -g $uid \"\$1$home\";"
  # /jwks: where the compose stack's one-shot puts the registry's keys, for
  # the registry (another user) to read.
  for d in $extra; do
    hook+=" install -d -m 0755 -o $uid -g $uid \"\$1$d\";"
  done
  # The base archive is a podman import's input, not a package mirror.
  hook+=" rm -rf \"\$1/var/cache/apt\"/* \"\$1/var/lib/apt/lists\"/*"
  mmdebstrap --quiet --variant=essential --include="$(packages "$name")" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="$hook" "$SUITE" "$file"
}

# payload NAME DIR: what the Containerfile copies in.
payload() {
  local name=$1 dir=$2
  case $name in
  deploytokens)
    # Static, so it runs on any base; the version as git describe says.
    CGO_ENABLED=0 $GO build -trimpath \
      -ldflags "-s -w -X github.com/deploytokens/deploytokens/internal/version.stamped=$VERSION" \
      -o "$dir/deploytokens" ./cmd/deploytokens
    ;;
  registry)
    # The registry the Makefile pins (make tools, which the tests run too):
    # built on this Debian, it runs on the image's Debian.
    [ -x bin/tools/registry ] || ${MAKE:-make} --no-print-directory tools >&2
    cp bin/tools/registry "$dir/registry"
    cp deploy/local/registry.yml "$dir/config.yml"
    ;;
  redis) ;;
  esac
}

tag() { if [ "$1" = deploytokens ]; then echo localhost/deploytokens; else echo "localhost/deploytokens-$1"; fi; }
sum() { sha256sum | cut -c1-64; }

mkdir -p "$OUT"
for name in "${names[@]}"; do
  start=$SECONDS
  basehash=$({ echo "$SUITE $(packages "$name") $(account "$name")"; declare -f base; } | sum)
  basetar=$OUT/$name-base.tar
  if [ ! -s "$basetar" ] || [ "$(cat "$OUT/$name-base.inputs" 2>/dev/null)" != "$basehash" ]; then
    echo "image $name: building the Debian $SUITE root filesystem with mmdebstrap ($(packages "$name"))" >&2
    rm -f "$OUT/$name-base.inputs"
    base "$name" "$OUT/$name-base.tmp.tar"
    mv "$OUT/$name-base.tmp.tar" "$basetar"
    echo "$basehash" >"$OUT/$name-base.inputs"
  fi
  ctx=$OUT/$name.ctx
  rm -rf "$ctx" && mkdir -p "$ctx"
  payload "$name" "$ctx"
  inputs=$({ echo "$basehash"; (cd "$ctx" && find . -type f | LC_ALL=C sort | xargs -r sha256sum);
    sha256sum "deploy/local/$name.Containerfile" deploy/image.sh; } | sum)
  archive=$OUT/$name.tar
  if [ -s "$archive" ] && [ "$(cat "$OUT/$name.inputs" 2>/dev/null)" = "$inputs" ]; then
    echo "image $name: up to date ($archive)" >&2
  else
    echo "image $name: building $(tag "$name"):latest" >&2
    rm -f "$OUT/$name.inputs"
    # A throwaway storage: the build needs no runtime (the Containerfiles
    # only copy and describe), and nothing of it outlives the build. Short
    # path: podman keeps sockets under its run root.
    tmp=$(mktemp -d /tmp/dtimage.XXXXXX)
    trap 'bp rmi --all --force >/dev/null 2>&1; rm -rf "$tmp"' EXIT
    printf '[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n' >"$tmp/containers.conf"
    bp() { CONTAINERS_STORAGE_CONF=$tmp/storage.conf CONTAINERS_CONF=$tmp/containers.conf TMPDIR=$tmp $PODMAN "$@"; }
    # overlay copies nothing (a build is seconds); vfs, where the kernel
    # refuses overlay, copies the whole base for each step (a minute).
    for driver in overlay vfs; do
      printf '[storage]\ndriver = "%s"\ngraphroot = "%s/root"\nrunroot = "%s/run"\n' "$driver" "$tmp" "$tmp" >"$tmp/storage.conf"
      bp import --quiet "$basetar" "localhost/deploytokens-base-$name:${basehash:0:12}" >/dev/null 2>"$tmp/import.err" && break
      [ $driver = vfs ] && { cat "$tmp/import.err" >&2; exit 1; }
      bp system reset --force >/dev/null 2>&1 || true
      rm -rf "$tmp/root" "$tmp/run"
    done
    labels=(--label "$LABEL=$inputs")
    # The other images carry Debian's and the Makefile's versions, not ours.
    [ "$name" = deploytokens ] && labels+=(--label "org.opencontainers.image.version=$VERSION")
    bp build --quiet --format docker --pull=never --build-arg "BASE=localhost/deploytokens-base-$name:${basehash:0:12}" "${labels[@]}" \
      -t "$(tag "$name"):latest" -f "deploy/local/$name.Containerfile" "$ctx" >/dev/null
    bp save --quiet --format docker-archive -o "$archive.tmp" "$(tag "$name"):latest"
    mv "$archive.tmp" "$archive"
    echo "$inputs" >"$OUT/$name.inputs"
    bp rmi --all --force >/dev/null
    rm -rf "$tmp"
    trap - EXIT
    echo "image $name: built in $((SECONDS - start)) s, $(du -m "$archive" | cut -f1) MB ($archive)" >&2
  fi
  if [ $load = 1 ]; then
    have=$($PODMAN image inspect --format "{{index .Labels \"$LABEL\"}}" "$(tag "$name"):latest" 2>/dev/null || true)
    if [ "$have" != "$inputs" ]; then
      $PODMAN load --quiet -i "$archive" >/dev/null
    fi
    echo "image $name: $(tag "$name"):latest" >&2
  fi
done
