#!/bin/bash
# bench/http/run.sh - wharfd's HTTP throughput and latency against nginx,
# same machine, same run, loopback only.
#
#   bench/http/run.sh            the table (about 70 s)
#   bench/http/run.sh soak [S]   the soak test for S seconds (default 60):
#                                RSS/fd growth at saturation, figures printed
#
# Rows (wrk -t2 -c32 -d10s each, keep-alive):
#   nginx 200        nginx (Debian package, 1 worker) answering `return 200 "ok";`
#   wharfd /healthz  GET /healthz (I/O thread only)
#   invoke nop       POST .../invoke {"export":"nop"} (fresh instance per request)
#   invoke add       POST .../invoke {"export":"add","args":[2,40]}
#   invoke greet     POST .../invoke {"export":"greet","args":["World"]} on a
#                    component (fresh instance per request; canonical ABI
#                    strings both ways; the test suite's component fixture)
#   /healthz, executors sleeping   every executor in a guest sleep (poll_oneoff)
#   /healthz, executors spinning   every executor in a CPU-bound guest loop (until
#                                  max_wall_time, the duration + 2 s)
# Knobs: WHARFD (default build/wharfd), BENCH_DURATION (10s), BENCH_CONNS (32),
# BENCH_THREADS (2, wrk's), BENCH_IO_THREADS (1, wharfd's io_threads).  Needs wrk, nginx, wat2wasm, curl; installs wrk and nginx
# from Debian when missing and run as root.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WHARFD=${WHARFD:-$ROOT/build/wharfd}
DUR=${BENCH_DURATION:-10s}
DUR_S=${DUR%s}
case $DUR_S in ''|*[!0-9]*) echo "BENCH_DURATION is whole seconds, e.g. 10s" >&2; exit 2;; esac
CONNS=${BENCH_CONNS:-32}
THREADS=${BENCH_THREADS:-2}
IO_THREADS=${BENCH_IO_THREADS:-1}

if [ "${1:-}" = soak ]; then
  secs=${2:-60}
  [ -x "$WHARFD" ] || cmake --build "$ROOT/build" --target wharfd >/dev/null
  WHARFD_SOAK_SECONDS=$secs exec python3 "$ROOT/tests/wharfd/test_wharfd.py" --wharfd "$WHARFD" soak
fi

need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_install+=(nginx-light)
if [ ${#need_install[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${need_install[*]} from Debian..." >&2
    apt-get install -y "${need_install[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y "${need_install[@]}" >/dev/null 2>&1; } ||
      apt-get install -y wrk nginx >/dev/null
  else
    echo "bench/http: need ${need_install[*]} (apt-get install wrk nginx-light)" >&2
    exit 1
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in wrk wat2wasm curl python3; do
  command -v $t >/dev/null || { echo "bench/http: $t not found" >&2; exit 1; }
done
if [ ! -x "$WHARFD" ]; then
  cmake -S "$ROOT" -B "$ROOT/build" >/dev/null && cmake --build "$ROOT/build" --target wharfd >/dev/null
fi

TMP=$(mktemp -d /tmp/wharf-bench-http.XXXXXX)
WPID= NPID=
BUSY=()
cleanup() {
  set +e
  [ ${#BUSY[@]} -gt 0 ] && kill "${BUSY[@]}" 2>/dev/null   # the busy rows' curls
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
  [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---- the guest ----
cat > "$TMP/bench.wat" <<'EOF'
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (func (export "nop"))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "sleep") (param $ms i32)
    (i64.store (i32.const 128) (i64.const 0))
    (i64.store (i32.const 136) (i64.const 0))
    (i32.store (i32.const 144) (i32.const 1))
    (i64.store (i32.const 152) (i64.mul (i64.extend_i32_u (local.get $ms)) (i64.const 1000000)))
    (i64.store (i32.const 160) (i64.const 0))
    (i32.store16 (i32.const 168) (i32.const 0))
    (drop (call $poll (i32.const 128) (i32.const 256) (i32.const 1) (i32.const 512)))))
EOF
wat2wasm "$TMP/bench.wat" -o "$TMP/bench.wasm"
# greet(string) -> string: the component tests/wharfd builds from WAT
python3 - "$ROOT/tests/wharfd/test_wharfd.py" "$TMP" <<'PY'
import importlib.util, subprocess, sys
spec = importlib.util.spec_from_file_location('tw', sys.argv[1])
tw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tw)
d = sys.argv[2]
open(d + '/greet.wat', 'w').write(tw.GREET_CORE_WAT)
subprocess.run(['wat2wasm', d + '/greet.wat', '-o', d + '/greet-core.wasm'], check=True)
open(d + '/greet.wasm', 'wb').write(tw.build_component(open(d + '/greet-core.wasm', 'rb').read()))
PY

# ---- wharfd: the dev config's shape, workers = nproc ----
NPROC=$(nproc)
KEY=bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEYHASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
WPORT=$(free_port)
cat > "$TMP/wharfd.conf" <<EOF
[server]
listen = 127.0.0.1:$WPORT
workers = $NPROC
io_threads = $IO_THREADS
[storage]
data_dir = $TMP/data
cache_max_size = 256 MiB
[pool]
total_instances = 64
total_memories = 64
total_tables = 64
max_memory_size = 256 MiB
memory_guard_size = 64 KiB
[limits]
fuel_per_invocation = 0
max_wall_time = $((DUR_S + 2))s
max_concurrency = 1000
[tenant.bench]
key_sha256 = $KEYHASH
EOF
WHARF_LOG=warn "$WHARFD" -c "$TMP/wharfd.conf" 2>"$TMP/wharfd.log" &
WPID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$WPORT/readyz" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$WPORT/readyz" >/dev/null || { cat "$TMP/wharfd.log"; exit 1; }
curl -sf -H "Authorization: Bearer $KEY" --data-binary @"$TMP/bench.wasm" \
  "http://127.0.0.1:$WPORT/v1/components/bench" >/dev/null
curl -sf -H "Authorization: Bearer $KEY" --data-binary @"$TMP/greet.wasm" \
  "http://127.0.0.1:$WPORT/v1/components/greet?stub_missing_imports=true" >/dev/null

# ---- nginx: fixed 200, one worker (the peer of wharfd's one I/O thread) ----
NPORT=$(free_port)
mkdir -p "$TMP/nginx"
cat > "$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  server {
    listen 127.0.0.1:$NPORT;
    location / { return 200 "ok"; }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NPID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$NPORT/" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -sf "http://127.0.0.1:$NPORT/" >/dev/null || { cat "$TMP/nginx/error.log"; exit 1; }

# ---- wrk ----
cat > "$TMP/req.lua" <<'EOF'
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local key = os.getenv("WRK_KEY")
if key and key ~= "" then wrk.headers["Authorization"] = "Bearer " .. key end
done = function(s, lat, req)
  local e = s.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", s.requests, s.duration,
    lat:percentile(50), lat:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
EOF

declare -A RPS P50 P99 ERR
run_wrk() {   # label url method body key
  local label=$1 url=$2
  local out
  out=$(WRK_METHOD=$3 WRK_BODY=$4 WRK_KEY=$5 wrk -t"$THREADS" -c"$CONNS" -d"$DUR" \
        -s "$TMP/req.lua" "$url" 2>&1) || { echo "$out" >&2; return 1; }
  local line
  line=$(echo "$out" | grep '^RESULT') || { echo "$out" >&2; return 1; }
  read -r _ n dur p50 p99 err <<<"$line"
  RPS[$label]=$(awk -v n="$n" -v d="$dur" 'BEGIN{printf "%.0f", n / (d / 1e6)}')
  P50[$label]=$p50
  P99[$label]=$p99
  ERR[$label]=$err
  echo "  $label: ${RPS[$label]} req/s, p50 ${p50} us, p99 ${p99} us, errors $err" >&2
}

W=http://127.0.0.1:$WPORT
INV=$W/v1/components/bench/invoke
echo "bench/http: wrk -t$THREADS -c$CONNS -d$DUR, wharfd workers=$NPROC, $(nproc) CPUs" >&2
run_wrk "nginx 200" "http://127.0.0.1:$NPORT/" GET "" ""
run_wrk "wharfd /healthz" "$W/healthz" GET "" ""
run_wrk "invoke nop" "$INV" POST '{"export":"nop"}' "$KEY"
run_wrk "invoke add" "$INV" POST '{"export":"add","args":[2,40]}' "$KEY"
run_wrk "invoke greet" "$W/v1/components/greet/invoke" POST '{"export":"greet","args":["World"]}' "$KEY"

busy() {   # export args: one call per worker, in the background
  BUSY=()
  for _ in $(seq "$NPROC"); do
    curl -s -o /dev/null -H "Authorization: Bearer $KEY" -d "{\"export\":\"$1\",\"args\":$2}" "$INV" &
    BUSY+=($!)
  done
  sleep 0.5
}
busy sleep "[$(( (DUR_S + 1) * 1000 ))]"
inflight=$(curl -s "$W/metrics" | awk '$1=="wharf_in_flight"{print $2}')
run_wrk "/healthz, executors sleeping" "$W/healthz" GET "" ""
wait "${BUSY[@]}" 2>/dev/null || true
busy spin "[]"
run_wrk "/healthz, executors spinning" "$W/healthz" GET "" ""
wait "${BUSY[@]}" 2>/dev/null || true

ms() { awk -v u="$1" 'BEGIN{printf "%.2f", u / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
base=${RPS["nginx 200"]}
echo
echo "wharfd HTTP (wrk -t$THREADS -c$CONNS -d$DUR, loopback, io_threads=$IO_THREADS, $NPROC CPUs shared with wrk; in flight during busy rows: $inflight)"
echo
echo "| target | req/s | p50 ms | p99 ms | errors | req/s vs nginx |"
echo "|---|---:|---:|---:|---:|---:|"
for label in "nginx 200" "wharfd /healthz" "invoke nop" "invoke add" "invoke greet" \
             "/healthz, executors sleeping" "/healthz, executors spinning"; do
  echo "| $label | ${RPS[$label]} | $(ms "${P50[$label]}") | $(ms "${P99[$label]}") | ${ERR[$label]} | $(ratio "${RPS[$label]}" "$base") |"
done
echo
nop=${RPS["invoke nop"]}
p99=${P99["invoke nop"]}
hb=${P99["/healthz, executors spinning"]}
hs=${P99["/healthz, executors sleeping"]}
echo "targets (issue 6): invoke >= 50% of nginx: $(ratio "$nop" "$base") ($( [ $((nop * 2)) -ge "$base" ] && echo met || echo missed));" \
     "nop p99 < 2 ms: $(ms "$p99") ms ($( [ "$p99" -lt 2000 ] && echo met || echo missed));" \
     "/healthz p99 < 5 ms while executors busy: $(ms "$hs") ms sleeping, $(ms "$hb") ms spinning" \
     "($( [ "$hs" -lt 5000 ] && [ "$hb" -lt 5000 ] && echo met || echo missed))"
