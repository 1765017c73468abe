#!/bin/sh
# restart.sh [BUILD_DIR] [COUNT] - the issue's restart target: deploy COUNT
# (default 100) distinct core modules to a wharfd, restart it, and time
# from exec to the first /readyz 200.  Prints medians over
# WHARF_BENCH_REPS restarts (default 5) with the cache warm, and the same
# with DATA_DIR/cache removed before each start (every module compiled),
# so the cache's share shows in the same run.
#
# The modules are the sightglass core modules (WHARF_TESTDATA, default
# ../shared/testdata) round-robin, each made distinct by a custom section
# naming its index, so COUNT deployments are COUNT different digests and
# COUNT cache entries.  Sightglass modules import bench.start/bench.end,
# which wharfd does not provide, so those two imports are turned into
# empty functions first (wasm2wat --generate-names, wat2wasm: needs wabt).
# Components are not deployed: wharfd deploys core modules through the
# cache; its component path does not use the cache yet.
#
#   WHARF_RESTART_KEEP=1    keep the data directory and config (to profile)
#   WHARF_RESTART_SMOKE=1   a test, not a timing: exit 1 unless after each
#                           restart every module is deployed again and came
#                           from the cache (wharf_cache_hits_total = COUNT,
#                           no misses); no cache-empty round (tests/cache
#                           runs it so with COUNT 20).  Timing on a shared
#                           machine is too noisy to assert.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
count=${2:-100}
data=${WHARF_TESTDATA:-$root/../shared/testdata}
reps=${WHARF_BENCH_REPS:-5}
[ -x "$build/wharfd" ] || cmake --build "$build" -j2 --target wharfd >/dev/null
exec python3 - "$build/wharfd" "$data/bench/sightglass" "$count" "$reps" <<'EOF'
import glob, hashlib, http.client, os, re, secrets, shutil, signal, socket
import statistics, subprocess, sys, tempfile, time

wharfd, sight, count, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
smoke = os.environ.get('WHARF_RESTART_SMOKE') == '1'

def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def custom(name, payload=b''):
    body = leb(len(name)) + name + payload
    return b'\x00' + leb(len(body)) + body

def without_bench_imports(path):
    """The module at `path` with its "bench" imports made empty functions
    (names keep every reference right), or None if wabt fails on it."""
    try:
        wat = subprocess.run(['wasm2wat', '--generate-names', path], check=True,
                             capture_output=True, text=True).stdout
        funcs = []
        def drop(m):
            funcs.append('  (func %s (type %s))\n' % (m.group(1), m.group(2)))
            return ''
        wat = re.sub(r'^\s*\(import "bench" "[^"]*" \(func (\$\S+) \(type (\$?\w+)\)\)\)\n',
                     drop, wat, flags=re.M)
        wat = wat.rstrip()
        assert wat.endswith(')')
        wat = wat[:-1] + ''.join(funcs) + ')\n'
        return subprocess.run(['wat2wasm', '-', '-o', '/dev/stdout'], input=wat.encode(),
                              check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError, AssertionError):
        return None

# Core modules only (layer 0): the ones the engine compiles.
mods = []
for p in sorted(glob.glob(os.path.join(sight, '**', '*.wasm'), recursive=True)):
    b = open(p, 'rb').read()
    if len(b) >= 8 and b[:4] == b'\0asm' and b[6] == 0:
        b = without_bench_imports(p)
        if b:
            mods.append((os.path.relpath(p, sight), b))
if not mods:
    print('skip: no core modules under %s' % sight)
    sys.exit(77)

tmp = tempfile.mkdtemp(prefix='wharf-restart.')
key = secrets.token_hex(16)
def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p
port = free_port()
conf = os.path.join(tmp, 'wharfd.conf')
datadir = os.path.join(tmp, 'data')
with open(conf, 'w') as f:
    f.write('[server]\nlisten = 127.0.0.1:%d\nworkers = 2\nmax_body_size = 16 MiB\n'
            '[storage]\ndata_dir = %s\ncache_max_size = 1 GiB\n'
            '[pool]\ntotal_instances = 64\ntotal_memories = 16\ntotal_tables = 16\n'
            'max_memory_size = 64 MiB\nmemory_guard_size = 64 KiB\n'
            '[limits]\nmax_components = %d\nmax_component_size = 16 MiB\n'
            '[tenant.bench]\nkey_sha256 = %s\n'
            % (port, datadir, max(count, 1), hashlib.sha256(key.encode()).hexdigest()))

log = open(os.path.join(tmp, 'stderr.log'), 'a')
proc = None

def req(method, path, body=None, timeout=60):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        h = {'Authorization': 'Bearer ' + key}
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()

def start():
    """Starts wharfd; returns seconds from exec to the first /readyz 200."""
    global proc
    t0 = time.monotonic()
    proc = subprocess.Popen([wharfd, '-c', conf], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, cwd=tmp)
    while time.monotonic() - t0 < 60:
        if proc.poll() is not None:
            sys.exit('wharfd exited with %d; log in %s' % (proc.returncode, tmp))
        try:
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=1)
            c.request('GET', '/readyz')
            st = c.getresponse().status
            c.close()
            if st == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.001)
    sys.exit('wharfd not ready after 60 s; log in %s' % tmp)

def stop():
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)

def metric(name):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    c.request('GET', '/metrics')
    text = c.getresponse().read().decode()
    c.close()
    for line in text.splitlines():
        if line.startswith(name + ' '):
            return float(line.split()[1])
    return None

def deployed():
    st, body = req('GET', '/v1/components')
    import json
    j = json.loads(body)
    items = j.get('components', j) if isinstance(j, dict) else j
    return len(items)

try:
    start()
    total, i, j = 0, 0, 0
    while i < count:
        name, b = mods[j % len(mods)]
        b = b + custom(b'wharf-restart-bench', str(i).encode())
        st, body = req('POST', '/v1/components/m%03d?stub_missing_imports=true' % i, b)
        if st == 415 and j < len(mods):   # SIMD: the engine does not compile it
            mods.pop(j)
            continue
        if st != 201:
            sys.exit('deploy %d (%s): %d %s' % (i, name, st, body[:200]))
        total += len(b)
        i, j = i + 1, j + 1
    n = deployed()
    print('wharfd restart: %d modules deployed (%d distinct sightglass modules, %.1f MiB of wasm), '
          '%d restarts each' % (n, min(count, len(mods)), total / 2**20, reps))
    stop()
    warm, cold = [], []
    for r in range(reps):
        warm.append(start())
        if deployed() != count:
            sys.exit('after a restart %d of %d modules are deployed' % (deployed(), count))
        hits, misses = metric('wharf_cache_hits_total'), metric('wharf_cache_misses_total')
        if smoke and (hits != count or misses != 0):
            sys.exit('after a restart the cache served %s of %d modules (%s misses)'
                     % (hits, count, misses))
        stop()
    if not smoke:
        for r in range(reps):
            shutil.rmtree(os.path.join(datadir, 'cache'), ignore_errors=True)
            cold.append(start())
            stop()
        # leave the cache warm again for a last look at the daemon's own figure
    lines = [l for l in open(os.path.join(tmp, 'stderr.log')) if ' ready: ' in l]
    mw = statistics.median(warm)
    print('  exec -> /readyz 200, cache warm:   median %7.1f ms  (min %.1f, max %.1f)'
          % (mw * 1e3, min(warm) * 1e3, max(warm) * 1e3))
    if cold:
        mc = statistics.median(cold)
        print('  exec -> /readyz 200, cache empty:  median %7.1f ms  (min %.1f, max %.1f)  '
              'ratio %.1fx' % (mc * 1e3, min(cold) * 1e3, max(cold) * 1e3, mc / mw))
    if len(lines) > reps:   # lines[0] is the first start, 1..reps the warm ones
        print('  daemon says (last warm start): %s' % lines[reps].split('ready: ', 1)[1].strip())
    print('  target: ready in under 1 s with %d deployed: %s'
          % (count, 'met' if mw < 1.0 else 'NOT met'))
    if smoke:
        log.flush()
        bad = [l for l in open(os.path.join(tmp, 'stderr.log'))
               if 'Sanitizer' in l or 'runtime error' in l]
        if bad:
            sys.exit('wharfd reported: %s' % bad[0].strip())
        print('PASS: every module came back from the cache after each restart')
except BaseException:
    log.flush()
    sys.stderr.write('--- wharfd log (tail) ---\n' +
                     ''.join(open(os.path.join(tmp, 'stderr.log')).readlines()[-15:]))
    raise
finally:
    if proc and proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()
    if os.environ.get('WHARF_RESTART_KEEP') == '1':
        print('  kept: %s (wharfd -c %s)' % (tmp, conf))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
EOF
