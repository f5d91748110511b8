#!/usr/bin/env bash
# Provides a real Home Assistant core for the Home Assistant end-to-end suite: a Python 3.11 virtual
# environment with homeassistant==$HOMEASSISTANT_VERSION (2024.3.3 is the newest release that runs on
# Python 3.11), cached outside the work tree keyed by version; a second run reuses it.
#
# A plain `pip install homeassistant` backtracks for minutes and yields acme 2.8 with josepy 2, which
# breaks every HTTP request (`module 'josepy' has no attribute 'ComparableX509'`). So the install uses
# the wheel's own homeassistant/package_constraints.txt as pip constraints, plus `josepy<2`.
# psycopg2-binary is added for the recorder on PostgreSQL (test/homeassistant/import-postgres.test.ts).
# Home Assistant pip-installs integration requirements (SQLAlchemy, the frontend, ...) on its first
# start; inside a virtual environment they land in the environment, so one warm-up start here puts
# them in the cache too and later starts take seconds.
#
# Progress goes to stderr; stdout carries `export PATH=...` (a folder holding only `hass`) for
# `eval "$(scripts/install-homeassistant.sh)"`.
set -euo pipefail

cache=${HA_INFLUX_TOOLS_DIR:-$HOME/.cache/ha-influx-tools}
version=${HOMEASSISTANT_VERSION:-2024.3.3}
python=${PYTHON311:-python3.11}
dir=$cache/homeassistant-$version
log() { printf '[install-homeassistant] %s\n' "$*" >&2; }

command -v "$python" >/dev/null || { echo "install-homeassistant: $python not found (Home Assistant $version needs Python 3.11)" >&2; exit 2; }

# A virtual environment holds absolute paths, so it is built where it lives; a marker file says the
# install completed (an interrupted one starts over).
if [ ! -e "$dir/.installed" ]; then
  log "homeassistant $version: installing (about a minute, ~700 MB)"
  start=$(date +%s)
  rm -rf "$dir"; mkdir -p "$dir/wheel"
  "$python" -m venv "$dir/venv"
  "$dir/venv/bin/pip" install --quiet wheel >&2
  "$dir/venv/bin/pip" download --quiet --no-deps --dest "$dir/wheel" "homeassistant==$version" >&2
  "$dir/venv/bin/python" - "$dir"/wheel/homeassistant-"$version"-*.whl "$dir/constraints.txt" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "w") as out:
    out.write(wheel.read("homeassistant/package_constraints.txt").decode())
    out.write("\njosepy<2\n")
PY
  "$dir/venv/bin/pip" install --quiet --constraint "$dir/constraints.txt" "$dir"/wheel/homeassistant-"$version"-*.whl >&2
  rm -rf "$dir/wheel"
  mkdir -p "$dir/bin"; ln -sf ../venv/bin/hass "$dir/bin/hass"
  touch "$dir/.installed"
  log "homeassistant $version: installed in $(( $(date +%s) - start )) s"
else
  log "homeassistant $version: cached"
fi

# The recorder's PostgreSQL driver (for `recorder: db_url: postgresql://…`, which Home Assistant does
# not install itself): psycopg2-binary, a wheel with libpq inside, nothing to compile. Its own marker,
# so that an environment cached before it gets it too.
psycopg2_version=${PSYCOPG2_VERSION:-2.9.9}
if [ ! -e "$dir/.psycopg2-binary-$psycopg2_version" ]; then
  log "psycopg2-binary $psycopg2_version: installing"
  "$dir/venv/bin/pip" install --quiet --constraint "$dir/constraints.txt" "psycopg2-binary==$psycopg2_version" >&2
  touch "$dir/.psycopg2-binary-$psycopg2_version"
fi

# One start with the integrations the harness configures, so their requirements are installed now.
if [ ! -e "$dir/.warm" ]; then
  log "first start: installing integration requirements (about a minute)"
  start=$(date +%s)
  conf=$(mktemp -d)
  port=$("$dir/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$conf/configuration.yaml" <<YAML
homeassistant:
  name: warm-up
  time_zone: UTC
  unit_system: metric
  latitude: 0
  longitude: 0
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: $port
logger:
  default: warning
  logs:
    homeassistant.bootstrap: info
api:
websocket_api:
config:
onboarding:
frontend:
history:
recorder:
  commit_interval: 1
input_number:
input_boolean:
template:
demo:
YAML
  "$dir/venv/bin/hass" --config "$conf" --log-file "$conf/home-assistant.log" >"$conf/stdout.log" 2>&1 &
  pid=$!
  ok=""
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    if grep -q "Home Assistant initialized in" "$conf/home-assistant.log" 2>/dev/null; then ok=1; break; fi
    sleep 1
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [ -z "$ok" ]; then
    log "first start failed; its log:"; tail -n 60 "$conf/home-assistant.log" "$conf/stdout.log" >&2 || true
    rm -rf "$conf"; exit 1
  fi
  rm -rf "$conf"
  touch "$dir/.warm"
  log "first start: done in $(( $(date +%s) - start )) s"
fi

echo "export PATH=\"$dir/bin:\$PATH\""
