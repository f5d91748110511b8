#!/usr/bin/env bash
# The writer's chaos suite against a real influxd (SIGKILL loop, InfluxDB frozen and killed, spool at
# its minimum bound under overload, SIGTERM during a backoff, hostile ingest bodies amid normal events). Needs influxd on PATH
# (`eval "$(scripts/install-tools.sh)"`); prints one "CHAOS <scenario>: ..." line of figures each.
# Bounded: every scenario has its own timeout; the whole suite takes about 75 s.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx vitest run --config test/chaos/vitest.config.ts "$@"
