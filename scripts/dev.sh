#!/usr/bin/env bash
# Builds wharf and runs the daemon with its embedded development config:
# data under ./var, listening on 127.0.0.1:8080, tenant "dev" whose key it
# prints with curl commands that deploy and invoke build/examples/calc.wasm.
# Installs what it needs first.  Extra arguments go to wharfd
# (e.g. --listen 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
exec build/wharfd --dev "$@"
