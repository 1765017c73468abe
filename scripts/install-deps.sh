#!/usr/bin/env bash
# Installs the Debian packages wharf builds and tests with, when missing,
# then the npm tools that build test components (scripts/install-npm-tools.sh:
# jco, componentize-js into build/npm; a failure there only makes those
# tests skip).  Runs apt-get as root (or through sudo).  Safe to run
# repeatedly; a rerun with everything present returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  build-essential cmake pkg-config
  libssl-dev libjansson-dev libsqlite3-dev libcunit1-dev libinih-dev
  libevent-dev libsystemd-dev
  wabt clang lld wasi-libc libclang-rt-14-dev libclang-rt-14-dev-wasm32
  llvm-19-dev
  nodejs time python3 openssl
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from outside Debian (e.g. a preinstalled node 20, which
# brings its own npm); Debian's nodejs needs its npm package
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
fi
command -v npm >/dev/null 2>&1 || missing+=(npm)
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm tools for test components (instant when already installed)
scripts/install-npm-tools.sh --retry ||
  echo "install-deps: continuing without the npm tools; the tests that build" \
       "components from C and JavaScript will be skipped" >&2
