#!/bin/sh
# verify-unit.sh UNIT WHARFD SYSTEMD_ANALYZE - systemd-analyze verify on a
# copy of the unit whose ExecStart points at the built wharfd.
unit=$1 wharfd=$2 analyze=$3
if [ -z "$analyze" ] || [ ! -x "$analyze" ]; then
  echo "systemd-analyze not installed: skipped"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/bin/wharfd|$wharfd|g" "$unit" > "$tmp/wharfd.service"
out=$("$analyze" verify "$tmp/wharfd.service" 2>&1)
rc=$?
# a container without a running systemd cannot resolve the unit's user or
# its dependencies; those lines are not about the unit file itself
bad=$(printf '%s\n' "$out" | grep -v -e 'Failed to' -e 'not found' -e 'wharf.*user' -e '^$' -e 'No such file' -e 'System has not been booted' || true)
printf '%s\n' "$out"
if [ -n "$bad" ]; then
  echo "FAIL: systemd-analyze verify reported problems"
  exit 1
fi
echo "PASS: wharfd.service verifies (exit $rc)"
exit 0
