#!/usr/bin/env bash
# Installs the Debian packages wharf builds and tests with, when missing.
# Runs apt-get as root (or through sudo).  Safe to run repeatedly.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libssl-dev libjansson-dev libsqlite3-dev libcunit1-dev libinih-dev
  libevent-dev libsystemd-dev
  wabt clang lld wasi-libc libclang-rt-14-dev libclang-rt-14-dev-wasm32
  nodejs time python3 openssl
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from outside Debian (e.g. a preinstalled node 20)
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
