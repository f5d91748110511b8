#!/usr/bin/env bash
# CI prerequisites of the analysis tests: Debian's chromium for the HTML report test (driven by
# playwright-core, which downloads no browser). Installed from the Debian archive when missing.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian) for the HTML report test"
  apt-get update >/dev/null
  apt-get install -y -o DPkg::Lock::Timeout=600 chromium >/dev/null
fi
chromium --version
