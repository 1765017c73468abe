#!/usr/bin/env python3
"""wharfd integration tests: the daemon as users and operators see it.

    test_wharfd.py --wharfd build/wharfd GROUP...

GROUP is one or more of: api limits ops badinput crash soak components (or
"all").
Every test starts (or shares) a wharfd on a free loopback port with a
temporary data_dir and a generated config (tenants alice and bob with
random keys), and every wharfd is killed at the end, also on failure.

Output: one PASS/FAIL/SKIP line per test, then "N passed, M failed,
K skipped".  Exit status: 0 all passed, 1 something failed, 77 nothing
could run (wat2wasm/openssl missing) -- ctest's SKIP_RETURN_CODE.

Python 3 standard library only; WAT fixtures are compiled with wat2wasm
into a temporary directory at start-up.
"""
import argparse
import atexit
import hashlib
import http.client
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

SKIP_RC = 77

# ---------------------------------------------------------------------------
# test framework


class Skip(Exception):
    pass


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


TESTS = []


def test(group):
    def deco(fn):
        TESTS.append((group, fn.__name__, fn))
        return fn
    return deco


# ---------------------------------------------------------------------------
# fixtures: WAT compiled at start-up

MAIN_WAT = r'''
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 65536)
  (global $g (mut i32) (i32.const 0))
  (data (i32.const 1024) "hello, stdout\n")
  (data (i32.const 1056) "oops on stderr\n")
  (func (export "nop"))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "id64") (param i64) (result i64) (local.get 0))
  (func (export "idf32") (param f32) (result f32) (local.get 0))
  (func (export "idf64") (param f64) (result f64) (local.get 0))
  (func (export "nan") (result f64) (f64.const nan))
  (func (export "inf") (result f32) (f32.const inf))
  (func (export "ninf") (result f64) (f64.const -inf))
  (func (export "multi") (param i32) (result i32 i64 f64 f32)
    (local.get 0) (i64.const 9007199254740993) (f64.const 0.5) (f32.const -1.5))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func $boom (export "boom") unreachable)
  (func $deep (export "deep") (call $boom))
  (func $rec (export "recurse") (param i32) (result i32)
    (call $rec (i32.add (local.get 0) (i32.const 1))))
  (func (export "spin") (loop $l (br $l)))
  (func (export "burn") (param i32) (result i32)
    (loop $l
      (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
      (br_if $l (local.get 0)))
    (local.get 0))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
  (func (export "poke") (param i32) (result i32) (local $old i32)
    (local.set $old (i32.load (i32.const 4096)))
    (i32.store (i32.const 4096) (local.get 0))
    (local.get $old))
  (func (export "counter") (result i32)
    (global.set $g (i32.add (global.get $g) (i32.const 1)))
    (global.get $g))
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "hello") (call $write (i32.const 1) (i32.const 1024) (i32.const 14)))
  (func (export "hello_both") (result i32)
    (call $write (i32.const 1) (i32.const 1024) (i32.const 14))
    (call $write (i32.const 2) (i32.const 1056) (i32.const 15))
    (i32.const 7))
  (func (export "badutf8")
    (i32.store (i32.const 2000) (i32.const 0x0a41ff41))  ;; "A\xffA\n"
    (call $write (i32.const 1) (i32.const 2000) (i32.const 4)))
  (func (export "flood") (call $flood (i32.const 1)))
  (func $flood (param $fd i32) (local $i i32)
    ;; 40 x 60000 bytes of 'A' (2.4 MB) to $fd: more than the 1 MiB kept
    (memory.fill (i32.const 2048) (i32.const 65) (i32.const 60000))
    (loop $l
      (call $write (local.get $fd) (i32.const 2048) (i32.const 60000))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 40)))))
  (func (export "_start")
    (call $write (i32.const 1) (i32.const 1024) (i32.const 14))
    (call $proc_exit (i32.const 0)))
  (func (export "exit3") (call $proc_exit (i32.const 3)))
  (func $sleep (export "sleep") (param $ms i32)
    ;; one poll_oneoff clock subscription (monotonic, relative) at 128
    (i64.store (i32.const 128) (i64.const 0))
    (i64.store (i32.const 136) (i64.const 0))
    (i32.store (i32.const 144) (i32.const 1))
    (i64.store (i32.const 152) (i64.mul (i64.extend_i32_u (local.get $ms)) (i64.const 1000000)))
    (i64.store (i32.const 160) (i64.const 0))
    (i32.store16 (i32.const 168) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 128) (i32.const 256) (i32.const 1) (i32.const 512))))
  (func (export "sleep_flood") (param $ms i32) (call $sleep (local.get $ms))
    (call $flood (i32.const 1)) (call $flood (i32.const 2))))
'''

# show(): prints argv then environ, one string a line (WASI preview1)
ENVARGS_WAT = r'''
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $asz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $aget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $esz (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $eget (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $dump (param $buf i32) (param $len i32) (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (if (i32.eqz (i32.load8_u (i32.add (local.get $buf) (local.get $i))))
        (then (i32.store8 (i32.add (local.get $buf) (local.get $i)) (i32.const 10))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i32.store (i32.const 0) (local.get $buf))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "show")
    (drop (call $asz (i32.const 16) (i32.const 20)))
    (drop (call $aget (i32.const 1024) (i32.const 8192)))
    (call $dump (i32.const 8192) (i32.load (i32.const 20)))
    (drop (call $esz (i32.const 16) (i32.const 20)))
    (drop (call $eget (i32.const 1024) (i32.const 16384)))
    (call $dump (i32.const 16384) (i32.load (i32.const 20)))))
'''

FIXTURES_WAT = {
    'main': MAIN_WAT,
    # minimum memory 2 MiB (32 pages)
    'min2m': '(module (memory 32) (func (export "nop")) (func (export "size") (result i32) (memory.size)))',
    # minimum memory 64 MiB + 64 KiB: one page more than a pool slot
    'min_overslot': '(module (memory 1025) (func (export "nop")))',
    'badimport': '(module (import "env" "nowhere" (func)) (func (export "nop")))',
    'simd': '(module (func (export "f") (result i32) (i32x4.extract_lane 0 (v128.const i32x4 1 2 3 4))))',
    'greet_core': None,   # GREET_CORE_WAT, defined below; wrapped by build_component
    'envargs': ENVARGS_WAT,
}


def leb_u(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def leb_s(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def section(sid, payload):
    return bytes([sid]) + leb_u(len(payload)) + payload


def const_module(n):
    """A core module exporting id() -> i32 returning n (hand-encoded, so
    thousands of distinct modules cost nothing)."""
    body = b'\x00\x41' + leb_s(n) + b'\x0b'
    return (b'\x00asm\x01\x00\x00\x00'
            + section(1, b'\x01\x60\x00\x01\x7f')
            + section(3, b'\x01\x00')
            + section(7, b'\x01\x02id\x00\x00')
            + section(10, b'\x01' + leb_u(len(body)) + body))


def padded(module, total):
    """module plus a custom section, `total` bytes in all."""
    name = b'\x03pad'
    need = total - len(module)
    for _ in range(3):   # the size LEB's length depends on the size
        plen = need - 1 - len(leb_u(need)) - len(name)
        payload = name + b'\0' * max(plen, 0)
        out = module + section(0, payload)
        if len(out) == total:
            return out
        need += total - len(out)
    return out


COMPONENT = b'\x00asm\x0d\x00\x01\x00'   # an empty component

# The core module inside the test component (built with wat2wasm): a bump
# realloc, and the functions the component lifts.
GREET_CORE_WAT = r"""
(module
  (import "host" "log" (func $log (param i32)))
  (memory (export "mem") 1)
  (global $bump (mut i32) (i32.const 4096))
  (data (i32.const 16) "Hello, ")
  (data (i32.const 32) "\ff\fe")
  (func $realloc (export "realloc") (param $old i32) (param $oldsz i32) (param $align i32)
        (param $new i32) (result i32) (local $p i32)
    (local.set $p (i32.and (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
                           (i32.sub (i32.const 0) (local.get $align))))
    (global.set $bump (i32.add (local.get $p) (local.get $new)))
    (block $ok
      (loop $more
        (br_if $ok (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
        (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))
        unreachable))
    (local.get $p))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "greet") (param $ptr i32) (param $len i32) (result i32) (local $out i32)
    (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1)
                                   (i32.add (local.get $len) (i32.const 7))))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $ptr) (local.get $len))
    (i32.store (i32.const 64) (local.get $out))
    (i32.store (i32.const 68) (i32.add (local.get $len) (i32.const 7)))
    (i32.const 64))
  (func (export "boom") unreachable)
  (func (export "bad-utf8") (result i32)
    (i32.store (i32.const 64) (i32.const 32))
    (i32.store (i32.const 68) (i32.const 2))
    (i32.const 64))
  (func (export "call-log") (call $log (i32.const 7)))
  (func (export "spin") (loop $l (br $l)))
  (func (export "dist") (param i32 i32) (result i32)
    (i32.add (i32.mul (local.get 0) (local.get 0)) (i32.mul (local.get 1) (local.get 1)))))
"""


def cm_name(s):
    b = s.encode()
    return leb_u(len(b)) + b


def cm_vec(items):
    return leb_u(len(items)) + b''.join(items)


def build_component(core):
    """A component around `core` (GREET_CORE_WAT), binary-encoded by hand
    (Binary.md): it imports instance test:wharf/host { log: func(code: u32) }
    and exports add(a: s32, b: s32) -> s32, greet(name: string) -> string,
    boom(), bad-utf8() -> string (lifts invalid UTF-8: a canonical ABI
    trap), call-log() (calls the import), spin() and
    dist(p: tuple<s32, s32>) -> s32."""
    S32, U32, STR = b'\x7a', b'\x79', b'\x73'

    def functype(params, result):
        return (b'\x40' + cm_vec([cm_name(n) + t for n, t in params])
                + (b'\x00' + result if result is not None else b'\x01\x00'))

    types = [
        b'\x42' + cm_vec([b'\x01' + functype([('code', U32)], None),       # t0: host
                          b'\x04\x00' + cm_name('log') + b'\x01' + leb_u(0)]),
        functype([('a', S32), ('b', S32)], S32),                           # t1
        functype([('name', STR)], STR),                                    # t2
        functype([], None),                                                # t3
        functype([], STR),                                                 # t4
        b'\x6f' + cm_vec([S32, S32]),                                      # t5
        functype([('p', leb_u(5))], S32),                                  # t6
    ]
    core_funcs = ['add', 'greet', 'boom', 'bad-utf8', 'call-log', 'spin', 'dist', 'realloc']
    utf8, mem, realloc = b'\x00', b'\x03' + leb_u(0), b'\x04' + leb_u(8)
    lifts = [  # (export, core func index, type, options)
        ('add', 1, 1, []), ('greet', 2, 2, [utf8, mem, realloc]), ('boom', 3, 3, []),
        ('bad-utf8', 4, 4, [utf8, mem]), ('call-log', 5, 3, []), ('spin', 6, 3, []),
        ('dist', 7, 6, [])]
    return (b'\x00asm\x0d\x00\x01\x00'
            + section(1, core)                                             # core module 0
            + section(7, cm_vec(types))
            + section(10, cm_vec([b'\x00' + cm_name('test:wharf/host') + b'\x05' + leb_u(0)]))
            + section(6, cm_vec([b'\x01\x00' + leb_u(0) + cm_name('log')]))  # func 0
            + section(8, cm_vec([b'\x01\x00' + leb_u(0) + cm_vec([])]))       # core func 0
            + section(2, cm_vec([
                b'\x01' + cm_vec([cm_name('log') + b'\x00' + leb_u(0)]),      # core inst 0
                b'\x00' + leb_u(0) + cm_vec([cm_name('host') + b'\x12' + leb_u(0)])]))
            + section(6, cm_vec([b'\x00\x00\x01' + leb_u(1) + cm_name(n) for n in core_funcs]
                                + [b'\x00\x02\x01' + leb_u(1) + cm_name('mem')]))
            + section(8, cm_vec([b'\x00\x00' + leb_u(f) + cm_vec(o) + leb_u(t)
                                 for _, f, t, o in lifts]))
            + section(11, cm_vec([b'\x00' + cm_name(n) + b'\x01' + leb_u(i + 1) + b'\x00'
                                  for i, (n, _, _, _) in enumerate(lifts)])))

# ---------------------------------------------------------------------------
# environment and daemons

ALL_DAEMONS = []


def _pdeathsig():
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def _kill_all():
    for d in ALL_DAEMONS:
        d.kill()


atexit.register(_kill_all)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def code(self):
        try:
            return self.json['error']['code']
        except (TypeError, KeyError):
            return None

    def __repr__(self):
        b = self.body[:300].decode('utf-8', 'replace')
        return '%d %s' % (self.status, b.strip())


class Env:
    def __init__(self, args):
        self.wharfd = os.path.abspath(args.wharfd)
        self.tmp = tempfile.mkdtemp(prefix='wharfd-test-')
        self.keys = {t: 'wh_' + os.urandom(16).hex() for t in ('alice', 'bob', 'carol', 'dave')}
        self.wasm = {}
        self.verbose = args.verbose
        self.soak_seconds = args.soak_seconds
        self.io_threads = args.io_threads
        self.tier = args.tier
        self.ndaemons = 0
        self.components = os.path.abspath(args.components or os.path.join(
            os.path.dirname(self.wharfd), 'tests', 'components'))

    def compile_fixtures(self):
        d = os.path.join(self.tmp, 'wat')
        os.makedirs(d)
        for name, text in FIXTURES_WAT.items():
            text = text or GREET_CORE_WAT
            src = os.path.join(d, name + '.wat')
            out = os.path.join(d, name + '.wasm')
            with open(src, 'w') as f:
                f.write(text)
            r = subprocess.run(['wat2wasm', '--debug-names', src, '-o', out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError('wat2wasm %s: %s' % (name, r.stderr))
            with open(out, 'rb') as f:
                self.wasm[name] = f.read()
        self.wasm['component'] = build_component(self.wasm['greet_core'])

    def newdir(self, label):
        self.ndaemons += 1
        p = os.path.join(self.tmp, '%s-%d' % (label, self.ndaemons))
        os.makedirs(p)
        return p


def key_hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


class Wharfd:
    """One wharfd process.  Sections are dicts of key -> value text;
    tenants is a dict name -> dict of overrides (key_sha256 added)."""

    def __init__(self, env, label, server=None, storage=None, pool=None, limits=None,
                 tenants=None, tls=None, data_dir=None):
        self.env = env
        self.label = label
        self.dir = env.newdir(label)
        self.data_dir = data_dir or os.path.join(self.dir, 'data')
        self.server = dict(workers='2')
        if env.io_threads:
            self.server['io_threads'] = str(env.io_threads)
        self.server.update(server or {})
        self.storage = dict(data_dir=self.data_dir, cache_max_size='64 MiB')
        self.storage.update(storage or {})
        self.pool = {'total_instances': '64', 'total_memories': '16', 'total_tables': '16',
                     'max_memory_size': '64 MiB', 'memory_guard_size': '64 KiB'}
        self.pool.update(pool or {})
        self.limits = dict(limits or {})
        self.engine = {'tier': env.tier} if env.tier else {}
        self.tenants = {'alice': {}, 'bob': {}} if tenants is None else tenants
        self.tls = tls           # (cert, key) or None
        self.proc = None
        self.port = None
        self.conf = os.path.join(self.dir, 'wharfd.conf')
        self.log_path = os.path.join(self.dir, 'stderr.log')
        self.starts = 0
        self.stopping = False    # set when the test itself ends the process
        self.death_reported = False
        ALL_DAEMONS.append(self)

    # -- config --
    def config_text(self, port):
        out = ['# generated by tests/wharfd/test_wharfd.py']
        server = dict(self.server)
        server['listen'] = '127.0.0.1:%d' % port
        if self.tls:
            server['tls_cert'], server['tls_key'] = self.tls
        for sec, kv in (('server', server), ('storage', self.storage), ('pool', self.pool),
                        ('limits', self.limits), ('engine', self.engine)):
            if kv:
                out.append('[%s]' % sec)
                out += ['%s = %s' % (k, v) for k, v in kv.items()]
        for name, over in self.tenants.items():
            out.append('[tenant.%s]' % name)
            out.append('key_sha256 = %s' % key_hash(self.env.keys[name]))
            out += ['%s = %s' % (k, v) for k, v in over.items()]
        return '\n'.join(out) + '\n'

    def write_config(self, port=None):
        with open(self.conf, 'w') as f:
            f.write(self.config_text(port or self.port))

    # -- process --
    def start(self, wait_ready=True, timeout=20):
        for attempt in range(5):
            self.port = free_port()
            self.write_config()
            self.starts += 1
            self.stopping = False
            self.death_reported = False
            log = open(self.log_path, 'a')
            log.write('==== start %d (port %d)\n' % (self.starts, self.port))
            log.flush()
            self.proc = subprocess.Popen([self.env.wharfd, '-c', self.conf], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, cwd=self.dir,
                                         preexec_fn=_pdeathsig)
            log.close()
            if not wait_ready:
                return self
            t0 = time.time()
            while time.time() - t0 < timeout:
                if self.proc.poll() is not None:
                    break
                try:
                    r = self.get('/readyz', timeout=2)
                    if r.status == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.kill()
                raise Fail('%s: not ready after %ds\n%s' % (self.label, timeout, self.log_tail()))
            if 'cannot listen' not in self.log_tail():
                self.death_reported = True
                raise Fail('%s: exited with %s at start-up\n%s' % (self.label, self.proc.returncode,
                                                                   self.log_tail()))
        raise Fail('%s: could not find a free port' % self.label)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGKILL):
                self.stopping = True
            self.proc.send_signal(sig)

    def died(self):
        """True once if the process ended without the test asking it to."""
        if self.proc is None or self.alive() or self.stopping or self.death_reported:
            return False
        self.death_reported = True
        return True

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15):
        """SIGTERM; returns the exit status (Fail if it does not exit)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.stopping = True
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            self.kill()
            raise Fail('%s: still running %ds after SIGTERM' % (self.label, timeout))
        return rc

    def kill(self):
        if self.alive():
            self.stopping = True
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def log_tail(self, n=25):
        try:
            with open(self.log_path, errors='replace') as f:
                lines = f.readlines()
            return ''.join('    | ' + l for l in lines[-n:])
        except OSError:
            return ''

    def log_text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    # -- HTTP --
    def conn(self, timeout=30):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.tls[0])
            return http.client.HTTPSConnection('127.0.0.1', self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)

    def req(self, method, path, body=None, as_=None, auth=None, headers=None, timeout=30,
            conn=None):
        h = dict(headers or {})
        if as_:
            h['Authorization'] = 'Bearer ' + self.env.keys[as_]
        if auth is not None:
            h['Authorization'] = auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault('Content-Type', 'application/json')
        elif isinstance(body, str):
            body = body.encode()
        elif body is not None:
            h.setdefault('Content-Type', 'application/wasm')
        c = conn or self.conn(timeout)
        t0 = time.time()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            return Resp(r.status, hdrs, data, time.time() - t0)
        finally:
            if conn is None:
                c.close()

    def get(self, path, **kw):
        return self.req('GET', path, **kw)

    def deploy(self, name, wasm, as_='alice', method='POST', **kw):
        return self.req(method, '/v1/components/' + name, body=wasm, as_=as_, **kw)

    def invoke(self, name, export, args=None, as_='alice', fuel=None, **kw):
        b = {'export': export}
        if args is not None:
            b['args'] = args
        if fuel is not None:
            b['fuel'] = fuel
        return self.req('POST', '/v1/components/%s/invoke' % name, body=b, as_=as_, **kw)

    def metrics(self):
        r = self.get('/metrics')
        check(r.status == 200, '/metrics: %r' % r)
        return r.body.decode()

    def pid(self):
        return self.proc.pid


def expect(r, status, code=None, what=''):
    if r.status != status or (code is not None and r.code != code):
        want = '%d%s' % (status, ' ' + code if code else '')
        raise Fail('%sexpected %s, got %r' % (what + ': ' if what else '', want, r))


def metric_value(text, name, labels=None):
    """The value of `name{labels}` in Prometheus text, or None."""
    want = name
    if labels:
        want += '{' + ','.join('%s="%s"' % kv for kv in labels.items()) + '}'
    for line in text.splitlines():
        if line.startswith('#'):
            continue
        parts = line.rsplit(' ', 1)
        if len(parts) == 2 and parts[0] == want:
            return float(parts[1])
    return None


def wait_metric(d, name, at_least, labels=None, timeout=5.0):
    """Polls /metrics until name{labels} >= at_least; returns the value."""
    t0 = time.time()
    v = None
    while time.time() - t0 < timeout:
        v = metric_value(d.metrics(), name, labels)
        if v is not None and v >= at_least:
            return v
        time.sleep(0.01)
    raise Fail('%s%s stayed at %r (want >= %r) for %.0fs' % (name, labels or '', v, at_least, timeout))


def in_thread(fn, *args):
    """Runs fn(*args) in a thread; .result / .error after .join()."""
    class T(threading.Thread):
        def run(self):
            try:
                self.result = fn(*args)
                self.error = None
            except Exception as e:  # noqa
                self.result = None
                self.error = e
    t = T(daemon=True)
    t.start()
    return t


def raw_http(port, data, read_timeout=5.0):
    """Sends raw bytes, returns what comes back until close or timeout."""
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    try:
        s.sendall(data)
        s.settimeout(read_timeout)
        out = b''
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b'\r\n\r\n' in out:
                head, _, rest = out.partition(b'\r\n\r\n')
                for line in head.split(b'\r\n'):
                    if line.lower().startswith(b'content-length:'):
                        if len(rest) >= int(line.split(b':')[1]):
                            return out
        return out
    finally:
        s.close()


def slow_reader_invoke(d, name, body, delay):
    """POSTs an invocation on a raw socket, reads nothing for `delay`
    seconds, then reads the whole reply; a Resp, or a Fail saying how
    much arrived."""
    data = json.dumps(body).encode()
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    t0 = time.time()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        s.sendall(('POST /v1/components/%s/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                   'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n'
                   % (name, d.env.keys['alice'], len(data))).encode() + data)
        time.sleep(delay)
        out = b''
        while True:
            try:
                chunk = s.recv(1 << 20)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
            head, sep, rest = out.partition(b'\r\n\r\n')
            if sep:
                cl = [int(l.split(b':')[1]) for l in head.split(b'\r\n')
                      if l.lower().startswith(b'content-length:')]
                if cl and len(rest) >= cl[0]:
                    break
    finally:
        s.close()
    head, sep, rest = out.partition(b'\r\n\r\n')
    cl = [int(l.split(b':')[1]) for l in head.split(b'\r\n') if l.lower().startswith(b'content-length:')]
    if not sep or not cl or len(rest) < cl[0]:
        raise Fail('%d of %s body bytes arrived' % (len(rest), cl[0] if cl else '?'))
    return Resp(status_of(out), {}, rest[:cl[0]], time.time() - t0)


def status_of(raw):
    try:
        return int(raw.split(b' ', 2)[1])
    except (IndexError, ValueError):
        return None


# ---------------------------------------------------------------------------
# group: api -- every endpoint, error code, tenant isolation, values


API = {}


def api_daemon(env):
    if 'd' not in API:
        d = Wharfd(env, 'api')
        d.start()
        r = d.deploy('calc', env.wasm['main'])
        expect(r, 201, what='deploy calc')
        API['d'] = d
    return API['d']


@test('api')
def health_and_ready(env):
    d = api_daemon(env)
    for p in ('/healthz', '/readyz'):
        r = d.get(p)
        expect(r, 200, what=p)
        check(r.json == {'status': 'ok'}, '%s body %r' % (p, r.json))
        check(r.headers.get('x-request-id'), '%s: no X-Request-Id' % p)
        check(r.headers.get('content-type', '').startswith('application/json'),
              '%s: content-type %s' % (p, r.headers.get('content-type')))


@test('api')
def request_id_logged(env):
    d = api_daemon(env)
    r = d.get('/v1/components', as_='alice')
    rid = r.headers.get('x-request-id')
    check(rid, 'no X-Request-Id')
    t0 = time.time()
    while rid not in d.log_text() and time.time() - t0 < 2:
        time.sleep(0.05)
    line = [l for l in d.log_text().splitlines() if rid in l]
    check(line, 'request id %s not in the log' % rid)
    check('alice' in line[0] and 'GET' in line[0] and '200' in line[0],
          'log line lacks tenant/method/status: %s' % line[0])


@test('api')
def unauthorized(env):
    d = api_daemon(env)
    cases = [
        ('GET', '/v1/components', None, None),
        ('GET', '/v1/components/calc', None, None),
        ('POST', '/v1/components/x', None, env.wasm['main']),
        ('POST', '/v1/components/calc/invoke', None, {'export': 'nop'}),
        ('DELETE', '/v1/components/calc', None, None),
        ('GET', '/v1/components', 'Bearer wrong-key', None),
        ('GET', '/v1/components', 'Basic ' + env.keys['alice'], None),
        ('GET', '/v1/components', env.keys['alice'], None),
        ('GET', '/v1/components', 'Bearer ', None),
        ('GET', '/v1/components', 'Bearer ' + env.keys['alice'] + 'x', None),
        ('GET', '/v1/components', 'Bearer ' + env.keys['alice'][:-1], None),
    ]
    for m, p, auth, body in cases:
        r = d.req(m, p, auth=auth, body=body)
        expect(r, 401, 'unauthorized', '%s %s auth=%r' % (m, p, auth and auth[:12]))
    # nothing was deployed or deleted by those
    expect(d.get('/v1/components/calc', as_='alice'), 200, what='calc still there')
    expect(d.get('/v1/components/x', as_='alice'), 404, 'not_found', 'x not deployed')


@test('api')
def deploy_get_list_delete(env):
    d = api_daemon(env)
    wasm = env.wasm['main']
    r = d.deploy('life', wasm)
    expect(r, 201, what='POST deploy')
    j = r.json
    check(j['name'] == 'life' and j['kind'] == 'module' and j['version'] == 1, 'deploy answer %r' % j)
    check(j['digest'] == hashlib.sha256(wasm).hexdigest(), 'digest %s' % j['digest'])
    check(j['size'] == len(wasm), 'size %s != %d' % (j['size'], len(wasm)))
    exports = {e['name']: e for e in j['exports']}
    check(exports.get('add') == {'name': 'add', 'params': ['i32', 'i32'], 'results': ['i32']},
          'add export %r' % exports.get('add'))
    check(exports['multi']['results'] == ['i32', 'i64', 'f64', 'f32'], 'multi %r' % exports['multi'])
    check('memory' not in exports, 'a memory listed among function exports')
    imps = {(i['module'], i['name']) for i in j['imports']}
    check(('wasi_snapshot_preview1', 'fd_write') in imps, 'imports %r' % j['imports'])
    c = j.get('compile') or {}
    check(set(c) >= {'tier', 'ms', 'cached'}, 'compile %r' % c)
    check(c['tier'] == ('native' if env.tier == 'native' else 'interpreter'), 'compile.tier %r' % c)
    check(isinstance(j.get('created_ms'), int), 'created_ms %r' % j.get('created_ms'))
    # PUT is a synonym and makes version 2
    r = d.deploy('life', wasm, method='PUT')
    expect(r, 201, what='PUT deploy')
    check(r.json['version'] == 2, 'PUT version %r' % r.json['version'])
    check(r.json['compile']['cached'] is True, 'same bytes again: compile.cached %r' % r.json['compile'])
    r = d.get('/v1/components/life', as_='alice')
    expect(r, 200, what='GET')
    check(r.json['version'] == 2 and r.json['digest'] == hashlib.sha256(wasm).hexdigest(),
          'GET %r' % r.json)
    check('compile' not in r.json, 'GET carries compile: %r' % r.json)
    if env.tier != 'auto':
        check(r.json.get('tier') == ('native' if env.tier == 'native' else 'interpreter'),
              'GET tier %r' % r.json.get('tier'))
    r = d.get('/v1/components', as_='alice')
    expect(r, 200, what='list')
    names = {c['name']: c for c in r.json['components']}
    check('life' in names and 'calc' in names, 'list %r' % names.keys())
    check(set(names['life']) >= {'name', 'version', 'digest', 'size', 'created_ms'},
          'list entry %r' % names['life'])
    check(names['life']['version'] == 2, 'list version %r' % names['life'])
    expect(d.get('/v1/components/', as_='alice'), 200, what='list with trailing slash')
    expect(d.invoke('life', 'add', [2, 40]), 200, what='invoke')
    r = d.req('DELETE', '/v1/components/life', as_='alice')
    expect(r, 200, what='DELETE')
    check(r.json == {'deleted': 'life'}, 'DELETE body %r' % r.json)
    expect(d.get('/v1/components/life', as_='alice'), 404, 'not_found', 'GET after DELETE')
    expect(d.invoke('life', 'add', [1, 2]), 404, 'not_found', 'invoke after DELETE')
    expect(d.req('DELETE', '/v1/components/life', as_='alice'), 404, 'not_found', 'DELETE twice')
    r = d.get('/v1/components', as_='alice')
    check('life' not in [c['name'] for c in r.json['components']], 'deleted still listed')
    # versions are never reused
    r = d.deploy('life', wasm)
    expect(r, 201, what='redeploy after delete')
    check(r.json['version'] > 2, 'version after delete+redeploy is %r (reused)' % r.json['version'])


@test('api')
def invoke_basics(env):
    d = api_daemon(env)
    r = d.invoke('calc', 'add', [2, 40])
    expect(r, 200, what='add')
    check(r.json['result'] == 42, 'add result %r' % r.json)
    check(r.json['fuel_consumed'] == 3, 'add fuel_consumed %r (3 operators)' % r.json.get('fuel_consumed'))
    check(isinstance(r.json.get('elapsed_us'), int), 'elapsed_us %r' % r.json.get('elapsed_us'))
    check('stdout' not in r.json and 'stderr' not in r.json, 'empty output reported: %r' % r.json)
    r = d.invoke('calc', 'nop', [])
    expect(r, 200, what='nop')
    check(r.json['result'] is None, 'nop result %r' % r.json)
    r = d.invoke('calc', 'nop')              # args optional when empty
    expect(r, 200, what='nop without args')
    # i32: unsigned input accepted, answered signed
    r = d.invoke('calc', 'add', [4294967295, 0])
    expect(r, 200, what='add u32 max')
    check(r.json['result'] == -1, 'add(2^32-1, 0) %r' % r.json['result'])
    r = d.invoke('calc', 'add', [-2147483648, -1])
    check(r.status == 200 and r.json['result'] == 2147483647, 'add wraps: %r' % r)
    # each invocation is a fresh instance
    for i in range(3):
        r = d.invoke('calc', 'counter', [])
        check(r.status == 200 and r.json['result'] == 1, 'counter call %d: %r (global kept?)' % (i, r))
        r = d.invoke('calc', 'poke', [1234 + i])
        check(r.status == 200 and r.json['result'] == 0, 'poke call %d: %r (memory kept?)' % (i, r))


@test('api')
def multi_value(env):
    d = api_daemon(env)
    r = d.invoke('calc', 'multi', [7])
    expect(r, 200, what='multi')
    check(r.json['result'] == [7, '9007199254740993', 0.5, -1.5], 'multi result %r' % r.json['result'])


@test('api')
def i64_beyond_2_53(env):
    d = api_daemon(env)
    big = 2 ** 53 + 1
    cases = [
        ([str(big)], str(big)),                 # string in, string out
        ([big], str(big)),                      # JSON integer in, string out
        (['-9223372036854775808'], '-9223372036854775808'),
        (['9223372036854775807'], '9223372036854775807'),
        ([2 ** 53], 2 ** 53),                   # |v| <= 2^53: a number
        ([-(2 ** 53)], -(2 ** 53)),
        (['12'], 12),
        (['18446744073709551615'], -1),         # u64 max as string = -1 as i64
    ]
    for args, want in cases:
        r = d.invoke('calc', 'id64', args)
        expect(r, 200, what='id64(%r)' % args)
        check(r.json['result'] == want, 'id64(%r) = %r, want %r' % (args, r.json['result'], want))
    r = d.invoke('calc', 'add64', ['9007199254740993', '1'])
    check(r.status == 200 and r.json['result'] == '9007199254740994', 'add64 %r' % r)
    # the raw text carries the exact digits (no float rounding anywhere)
    check(b'"9007199254740994"' in r.body, 'raw body %r' % r.body)


@test('api')
def floats_nan_infinity(env):
    d = api_daemon(env)
    r = d.invoke('calc', 'nan', [])
    check(r.status == 200 and r.json['result'] == 'NaN', 'nan %r' % r)
    r = d.invoke('calc', 'inf', [])
    check(r.status == 200 and r.json['result'] == 'Infinity', 'inf %r' % r)
    r = d.invoke('calc', 'ninf', [])
    check(r.status == 200 and r.json['result'] == '-Infinity', 'ninf %r' % r)
    for s in ('NaN', 'Infinity', '-Infinity'):
        for f in ('idf32', 'idf64'):
            r = d.invoke('calc', f, [s])
            check(r.status == 200 and r.json['result'] == s, '%s(%s) %r' % (f, s, r))
    r = d.invoke('calc', 'idf32', [1.5])
    check(r.status == 200 and r.json['result'] == 1.5, 'idf32(1.5) %r' % r)
    r = d.invoke('calc', 'idf64', [3])      # an integer is a number too
    check(r.status == 200 and r.json['result'] == 3, 'idf64(3) %r' % r)


@test('api')
def f64_round_trip(env):
    d = api_daemon(env)
    for v in (0.1, 1 / 3, 3.141592653589793, 1e300, 5e-324, -2.5e-10, 123456789.123456789):
        r = d.invoke('calc', 'idf64', [v])
        expect(r, 200, what='idf64(%r)' % v)
        check(r.json['result'] == v,
              'idf64(%r) answered %s: f64 results lose precision (JSON_REAL_PRECISION(9) in '
              'daemon/http.c reply_json; f64 needs 17 significant digits)'
              % (v, r.body.decode().strip()))


@test('api')
def stdout_stderr_capture(env):
    d = api_daemon(env)
    r = d.invoke('calc', 'hello', [])
    expect(r, 200, what='hello')
    check(r.json.get('stdout') == 'hello, stdout\n', 'stdout %r' % r.json)
    check('stderr' not in r.json, 'stderr present though empty: %r' % r.json)
    r = d.invoke('calc', 'hello_both', [])
    expect(r, 200, what='hello_both')
    check(r.json.get('result') == 7 and r.json.get('stdout') == 'hello, stdout\n'
          and r.json.get('stderr') == 'oops on stderr\n', 'hello_both %r' % r.json)
    # the next call on the same worker starts with empty capture
    for _ in range(4):
        r = d.invoke('calc', 'add', [1, 1])
        check('stdout' not in r.json, 'stdout leaked into a later call: %r' % r.json)
    r = d.invoke('calc', 'badutf8', [])
    check(r.status == 200 and r.json.get('stdout') == 'A\ufffdA\n', 'invalid UTF-8: %r' % r)
    r = d.invoke('calc', 'flood', [])
    expect(r, 200, what='flood (2.4 MB of stdout)')
    check('stdout_truncated' in r.json and 'stdout' not in r.json,
          'flood keys %r' % sorted(r.json))
    check(len(r.json['stdout_truncated']) == 1 << 20,
          'stdout_truncated is %d chars, want 1 MiB' % len(r.json['stdout_truncated']))


@test('api')
def wasi_exit(env):
    d = api_daemon(env)
    r = d.invoke('calc', '_start', [])
    expect(r, 200, what='_start with proc_exit(0)')
    check(r.json['result'] is None and r.json.get('stdout') == 'hello, stdout\n', '_start %r' % r.json)
    r = d.invoke('calc', 'exit3', [])
    expect(r, 422, 'exit', 'proc_exit(3)')
    check(r.json.get('exit_status') == 3, 'exit_status %r' % r.json)


@test('api')
def traps(env):
    d = api_daemon(env)
    r = d.invoke('calc', 'div', [1, 0])
    expect(r, 422, 'integer_divide_by_zero', 'div by zero')
    check('fuel_consumed' in r.json, 'trap without fuel_consumed: %r' % r.json)
    r = d.invoke('calc', 'div', [-2147483648, -1])
    expect(r, 422, 'integer_overflow', 'INT_MIN / -1')
    r = d.invoke('calc', 'deep', [])
    expect(r, 422, 'unreachable', 'unreachable')
    bt = r.json['error'].get('backtrace', '')
    check('boom' in bt and 'deep' in bt, 'backtrace %r lacks the names boom, deep' % bt)
    r = d.invoke('calc', 'recurse', [0])
    expect(r, 422, 'call_stack_exhausted', 'infinite recursion')
    expect(d.invoke('calc', 'add', [1, 2]), 200, what='after traps')


@test('api')
def not_found_routes(env):
    d = api_daemon(env)
    for m, p in (('GET', '/'), ('GET', '/v2/components'), ('GET', '/v1/componentsX'),
                 ('GET', '/v1'), ('POST', '/v1/components/calc/run'),
                 ('POST', '/v1/components/calc/invoke/x'), ('GET', '/healthz/x')):
        r = d.req(m, p, as_='alice', body={'export': 'nop'} if m == 'POST' else None)
        check(r.status == 404 and r.code == 'not_found', '%s %s: %r' % (m, p, r))
    expect(d.invoke('calc', 'nope', []), 404, 'export_not_found', 'unknown export')
    expect(d.invoke('calc', 'memory', []), 404, 'export_not_found', 'export that is a memory')
    expect(d.invoke('nothere', 'add', [1, 2]), 404, 'not_found', 'unknown component')


@test('api')
def method_not_allowed(env):
    d = api_daemon(env)
    for m, p in (('DELETE', '/healthz'), ('POST', '/readyz'), ('POST', '/metrics'),
                 ('PUT', '/v1/components/calc/invoke'), ('GET', '/v1/components/calc/invoke'),
                 ('DELETE', '/v1/components'), ('POST', '/v1/components'),
                 ('HEAD', '/v1/components/calc')):
        r = d.req(m, p, as_='alice')
        check(r.status == 405, '%s %s: %r' % (m, p, r))
        if m != 'HEAD':
            check(r.code == 'method_not_allowed', '%s %s: %r' % (m, p, r))
    # methods libevent does not know as allowed still get the JSON 405
    bad = []
    for m in ('PATCH', 'OPTIONS'):
        r = d.req(m, '/v1/components/calc', as_='alice')
        if r.status != 405 or r.code != 'method_not_allowed':
            bad.append('%s /v1/components/calc -> %d %s' % (
                m, r.status, r.body[:40].decode('utf-8', 'replace').replace('\n', ' ')))
    check(not bad, 'expected 405 method_not_allowed (JSON): ' + '; '.join(bad) +
          ' (evhttp_set_allowed_methods in daemon/http.c wh_http_start leaves libevent '
          'answering 501 HTML for methods outside the set)')


@test('api')
def component_deploy_invoke(env):
    d = api_daemon(env)
    comp = env.wasm['component']
    r = d.deploy('comp', comp)
    expect(r, 400, 'unresolvable_import', 'component importing test:wharf/host')
    check('test:wharf/host#log' in r.json['error']['message'] and
          'stub_missing_imports' in r.json['error']['message'],
          'the refusal names the import and the option: %r' % r.json)
    expect(d.get('/v1/components/comp', as_='alice'), 404, 'not_found', 'refused component stored')
    r = d.deploy('comp?stub_missing_imports=true', comp)
    expect(r, 201, what='deploy with stub_missing_imports')
    j = r.json
    check(j['kind'] == 'component' and j['version'] == 1 and
          j['digest'] == hashlib.sha256(comp).hexdigest() and j['size'] == len(comp),
          'deploy answer %r' % j)
    check(j.get('options') == {'stub_missing_imports': True}, 'options %r' % j.get('options'))
    wit = {e['name']: e.get('wit') for e in j['exports']}
    check(wit.get('add') == 'func(a: s32, b: s32) -> s32' and
          wit.get('greet') == 'func(name: string) -> string' and
          wit.get('dist') == 'func(p: tuple<s32, s32>) -> s32' and
          wit.get('boom') == 'func()', 'exports %r' % j['exports'])
    check(j['imports'] == [{'name': 'test:wharf/host', 'kind': 'instance'}],
          'imports %r' % j['imports'])
    g = d.get('/v1/components/comp', as_='alice')
    check(g.status == 200 and g.json['exports'] == j['exports'] and
          g.json.get('options') == j['options'], 'GET %r' % g)

    def ok(export, args, want):
        r = d.invoke('comp', export, args)
        check(r.status == 200 and r.json['result'] == want,
              '%s(%r): want %r, got %r' % (export, args, want, r))
    ok('add', [2, 40], 42)
    ok('add', {'a': -5, 'b': 3}, -2)
    ok('greet', ['World'], 'Hello, World')
    ok('greet', ['\u00e9t\u00e9 \U0001f600'], 'Hello, \u00e9t\u00e9 \U0001f600')
    ok('greet', ['x' * 200000], 'Hello, ' + 'x' * 200000)   # grows the guest's memory
    ok('dist', [[3, 4]], 25)
    r = d.invoke('comp', 'boom', [])
    expect(r, 422, 'unreachable', 'boom')
    check('backtrace' in r.json['error'], 'a core trap has a backtrace: %r' % r.json)
    r = d.invoke('comp', 'bad-utf8', [])
    expect(r, 422, 'component_trap', 'lifting invalid UTF-8')
    check('utf-8' in r.json['error']['message'], 'message %r' % r.json)
    r = d.invoke('comp', 'call-log', [])
    expect(r, 422, 'host_trap', 'a stubbed import called (a host call from core code)')
    check(r.json['error']['message'] == 'import test:wharf/host#log was not provided',
          'message %r' % r.json)
    r = d.invoke('comp', 'spin', [], fuel=100000)
    expect(r, 422, 'out_of_fuel', 'spin with fuel')
    check(r.json['fuel_consumed'] >= 100000, 'fuel reported %r' % r.json)
    # bad arguments name the path
    for args, frag in (([1], 'args[0]'), (['a', 'b'], 'args[0]'), ([2], 'argument'),
                       ({'a': 1}, 'args.b: missing'), ({'a': 1, 'b': 2, 'c': 3}, 'args.c'),
                       ('nope', 'array or an object')):
        r = d.invoke('comp', 'add' if args != [1] else 'greet', args)
        expect(r, 400, 'bad_args', 'args %r' % (args,))
        check(frag in r.json['error']['message'], 'args %r: message %r' % (args, r.json))
    r = d.invoke('comp', 'dist', [[1, 'x']])
    expect(r, 400, 'bad_args', 'tuple element')
    check('args[0][1]' in r.json['error']['message'], 'path %r' % r.json)
    expect(d.invoke('comp', 'nope', []), 404, 'export_not_found', 'unknown export')
    # a fresh instance per call: state does not carry over
    ok('add', [1, 1], 2)
    r = d.get('/metrics')
    check(metric_value(r.body.decode(), 'wharf_traps_total', {'kind': 'unreachable'}) >= 1,
          'metrics count the core trap')
    # another tenant sees nothing
    expect(d.invoke('comp', 'add', [1, 2], as_='bob'), 404, 'not_found', 'bob invoking alice\'s')
    expect(d.req('DELETE', '/v1/components/comp', as_='alice'), 200)


@test('api')
def deploy_options(env):
    d = api_daemon(env)
    r = d.deploy('envargs?arg=--verbose&arg=two%20words&env=GREETING%3Dhi&env=EMPTY%3D',
                 env.wasm['envargs'])
    expect(r, 201, what='deploy with args and env')
    want = {'args': ['--verbose', 'two words'], 'env': {'GREETING': 'hi', 'EMPTY': ''}}
    check(r.json.get('options') == want, 'options %r' % r.json.get('options'))
    r = d.invoke('envargs', 'show', [])
    expect(r, 200, what='show')
    # exactly these: nothing of the daemon's own environment
    check(r.json.get('stdout') == 'envargs\n--verbose\ntwo words\nGREETING=hi\nEMPTY=\n',
          'argv and environ seen by the guest: %r' % r.json.get('stdout'))
    r = d.deploy('envargs', env.wasm['envargs'])
    expect(r, 201, what='redeploy without options')
    check('options' not in r.json, 'a new version has its own options: %r' % r.json)
    r = d.invoke('envargs', 'show', [])
    check(r.status == 200 and r.json.get('stdout') == 'envargs\n', 'no options: %r' % r)
    r = d.deploy('stubbed?stub_missing_imports=true', env.wasm['badimport'])
    expect(r, 400, 'unresolvable_import', 'stub_missing_imports is for components')
    for q, frag in (('bogus=1', 'unknown deploy option'), ('env=NOEQUALS', 'NAME=VALUE'),
                    ('env=%3Dx', 'NAME=VALUE'), ('stub_missing_imports=maybe', 'true or false'),
                    ('env=A%3D1&env=A%3D2', 'twice'), ('arg=' + 'x' * 5000, 'at most')):
        r = d.deploy('optbad?' + q, env.wasm['main'])
        expect(r, 400, 'bad_request', 'deploy option %s' % q[:40])
        check(frag in r.json['error']['message'], '%s: message %r' % (q[:40], r.json))
    expect(d.get('/v1/components/optbad', as_='alice'), 404, 'not_found', 'refused deploy stored')


@test('api')
def isolation(env):
    d = api_daemon(env)
    expect(d.deploy('secret', env.wasm['main'], as_='alice'), 201, what='alice deploys secret')
    expect(d.get('/v1/components/secret', as_='bob'), 404, 'not_found', 'bob GETs alice/secret')
    expect(d.invoke('secret', 'add', [1, 2], as_='bob'), 404, 'not_found', 'bob invokes alice/secret')
    expect(d.req('DELETE', '/v1/components/secret', as_='bob'), 404, 'not_found', 'bob DELETEs alice/secret')
    r = d.get('/v1/components', as_='bob')
    expect(r, 200, what='bob lists')
    check(all(c['name'] != 'secret' and c['name'] != 'calc' for c in r.json['components']),
          'bob sees alice\'s components: %r' % r.json)
    # bob's own "secret" is a different component, version 1
    other = const_module(99)
    r = d.deploy('secret', other, as_='bob')
    expect(r, 201, what='bob deploys his own secret')
    check(r.json['version'] == 1, 'bob\'s first version is %r' % r.json['version'])
    expect(d.invoke('secret', 'id', [], as_='bob'), 200, what='bob invokes his')
    expect(d.invoke('secret', 'id', [], as_='alice'), 404, 'export_not_found', 'alice\'s has no id')
    r = d.get('/v1/components/secret', as_='alice')
    check(r.json['digest'] == hashlib.sha256(env.wasm['main']).hexdigest(),
          'alice\'s secret changed by bob\'s deploy: %r' % r.json)
    expect(d.req('DELETE', '/v1/components/secret', as_='bob'), 200, what='bob deletes his')
    expect(d.get('/v1/components/secret', as_='alice'), 200, what='alice\'s survives bob\'s delete')
    r = d.get('/v1/components', as_='bob')
    check(r.json['components'] == [], 'bob\'s list %r' % r.json)


@test('api')
def delete_and_redeploy_while_running(env):
    d = api_daemon(env)
    expect(d.deploy('busy', env.wasm['main']), 201)
    a = in_thread(d.invoke, 'busy', 'sleep', [400])
    wait_metric(d, 'wharf_in_flight', 1)
    expect(d.req('DELETE', '/v1/components/busy', as_='alice'), 200, what='DELETE while running')
    expect(d.invoke('busy', 'nop', []), 404, 'not_found', 'invoke after DELETE')
    a.join(10)
    check(a.error is None and a.result.status == 200, 'the running call: %r' % (a.error or a.result))
    # redeploy while the old version runs: the running call finishes on it
    expect(d.deploy('busy', env.wasm['main']), 201)
    a = in_thread(d.invoke, 'busy', 'sleep', [400])
    wait_metric(d, 'wharf_in_flight', 1)
    r = d.deploy('busy', const_module(77))
    expect(r, 201, what='redeploy while running')
    r = d.invoke('busy', 'id', [])
    check(r.status == 200 and r.json['result'] == 77, 'the new version answers: %r' % r)
    a.join(10)
    check(a.error is None and a.result.status == 200, 'the call on the old version: %r' % (a.error or a.result))
    d.req('DELETE', '/v1/components/busy', as_='alice')


@test('api')
def keep_alive(env):
    d = api_daemon(env)
    c = d.conn()
    seq = [('GET', '/healthz', None, None, 200), ('GET', '/v1/components', None, 'alice', 200),
           ('GET', '/v1/components', None, None, 401), ('GET', '/v1/components/none', None, 'alice', 404),
           ('POST', '/v1/components/calc/invoke', {'export': 'add', 'args': [1, 2]}, 'alice', 200),
           ('POST', '/v1/components/calc/invoke', b'{broken', 'alice', 400),
           ('POST', '/v1/components/calc/invoke', {'export': 'div', 'args': [1, 0]}, 'alice', 422),
           ('DELETE', '/healthz', None, None, 405),
           ('POST', '/v1/components/calc/invoke', {'export': 'add', 'args': [2, 2]}, 'alice', 200)]
    try:
        for i in range(3):
            for m, p, body, who, want in seq:
                r = d.req(m, p, body=body, as_=who, conn=c,
                          headers={'Content-Type': 'application/json'} if body else None)
                check(r.status == want, 'request %s %s on a kept-alive connection: %r' % (m, p, r))
    finally:
        c.close()


@test('api')
def metrics(env):
    d = api_daemon(env)
    documented = ['wharf_http_requests_total', 'wharf_http_request_duration_seconds',
                  'wharf_invocations_total', 'wharf_fuel_consumed_total',
                  'wharf_tenant_traps_total', 'wharf_traps_total', 'wharf_pool_memories',
                  'wharf_pool_instances', 'wharf_pool_memory_committed_bytes',
                  'wharf_pool_acquisitions_total', 'wharf_pool_affinity_hits_total',
                  'wharf_pool_failures_total', 'wharf_pool_images', 'wharf_queue_depth',
                  'wharf_in_flight', 'wharf_deploys_total', 'wharf_compile_seconds_total',
                  'wharf_deployments', 'wharf_native_compiles_total',
                  'wharf_native_compile_seconds_total', 'wharf_native_tierups_pending']
    d.invoke('calc', 'div', [1, 0])
    r = d.get('/metrics')
    expect(r, 200, what='/metrics')
    check(r.headers.get('content-type', '').startswith('text/plain'), 'content-type %r' % r.headers)
    m0 = r.body.decode()
    samples = {l.split('{')[0].split(' ')[0] for l in m0.splitlines() if l and not l.startswith('#')}
    missing = [n for n in documented
               if n not in samples and n + '_bucket' not in samples]
    check(not missing, 'documented metrics without a sample: %s' % missing)
    inv0 = metric_value(m0, 'wharf_invocations_total', {'tenant': 'alice'}) or 0
    fuel0 = metric_value(m0, 'wharf_fuel_consumed_total', {'tenant': 'alice'}) or 0
    tr0 = metric_value(m0, 'wharf_tenant_traps_total', {'tenant': 'alice'}) or 0
    ok0 = metric_value(m0, 'wharf_http_requests_total', {'route': 'invoke', 'code': '2xx'}) or 0
    dep0 = metric_value(m0, 'wharf_deploys_total') or 0
    live0 = sum(metric_value(m0, 'wharf_deployments', {'tier': t}) or 0
                for t in ('native', 'interpreter'))
    acq0 = metric_value(m0, 'wharf_pool_acquisitions_total') or 0
    cnt0 = metric_value(m0, 'wharf_http_request_duration_seconds_count') or 0
    for _ in range(3):
        expect(d.invoke('calc', 'add', [1, 2]), 200)
    d.invoke('calc', 'div', [1, 0])
    expect(d.deploy('m2', env.wasm['main']), 201)
    m1 = d.metrics()
    got = {
        'invocations{alice}': (metric_value(m1, 'wharf_invocations_total', {'tenant': 'alice'}), inv0 + 4),
        'fuel{alice}': (metric_value(m1, 'wharf_fuel_consumed_total', {'tenant': 'alice'}), fuel0 + 9),
        'tenant_traps{alice}': (metric_value(m1, 'wharf_tenant_traps_total', {'tenant': 'alice'}), tr0 + 1),
        'requests{invoke,2xx}': (metric_value(m1, 'wharf_http_requests_total',
                                              {'route': 'invoke', 'code': '2xx'}), ok0 + 3),
        'deploys': (metric_value(m1, 'wharf_deploys_total'), dep0 + 1),
        'pool_acquisitions': (metric_value(m1, 'wharf_pool_acquisitions_total'), acq0 + 4),
    }
    bad = ['%s=%s want >= %s' % (k, g, w) for k, (g, w) in got.items() if g is None or g < w]
    check(not bad, 'counters did not move: ' + ', '.join(bad))
    check((metric_value(m1, 'wharf_http_request_duration_seconds_count') or 0) > cnt0,
          'latency histogram count did not move')
    traps = [l for l in m1.splitlines() if l.startswith('wharf_traps_total{')]
    check(traps, 'no wharf_traps_total sample after traps')
    bob = metric_value(m1, 'wharf_invocations_total', {'tenant': 'bob'})
    check(bob is not None, 'no wharf_invocations_total{tenant="bob"}')
    # the tier serving each live deployment, and the native tier's compiles
    served = {t: metric_value(m1, 'wharf_deployments', {'tier': t}) for t in ('native', 'interpreter')}
    check(served['native'] + served['interpreter'] == live0 + 1,
          'wharf_deployments %r: want one more than %r in all' % (served, live0))
    nat1 = metric_value(m1, 'wharf_native_compiles_total', {'result': 'compiled'})
    if env.tier == 'native':
        check(served['interpreter'] == 0 and served['native'] >= 1,
              'tier native: every deployment native, got %r' % served)
        # (m2's bytes are in the cache already: its deploy compiles nothing)
        check(nat1 >= 1, 'tier native: wharf_native_compiles_total{compiled} %r' % nat1)
        check(metric_value(m1, 'wharf_native_compile_seconds_total') > 0,
              'tier native: no compile time')
    elif env.tier != 'auto':
        check(served['native'] == 0 and nat1 == 0,
              'tier interp: no native deployments or compiles, got %r, %r' % (served, nat1))
    check(metric_value(m1, 'wharf_native_tierups_pending') == 0 or env.tier == 'auto',
          'background compiles pending without tier auto')


# ---------------------------------------------------------------------------
# group: components -- components built at test time from C and JavaScript
# (tests/components/build.sh) running on the workers' WASI 0.2 host


def built_component(env, which):
    """The bytes of tests/components/build.sh's component `which` (c:
    clock_random.wasm, js: calc_js.wasm), built into env.components if
    stale; Skip when a tool it needs is missing."""
    names = {'c': 'clock_random.wasm', 'js': 'calc_js.wasm', 'link': 'link_consumer.wasm'}
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'components', 'build.sh')
    r = subprocess.run(['bash', script, env.components, which], capture_output=True, text=True)
    if r.returncode == SKIP_RC:
        raise Skip(r.stdout.strip() or 'build.sh skipped')
    if r.returncode != 0:
        raise Fail('tests/components/build.sh %s failed:\n%s%s' % (which, r.stdout, r.stderr[-3000:]))
    with open(os.path.join(env.components, names[which]), 'rb') as f:
        return f.read()


def as_u64(v):
    """A u64 result: a number, or a string beyond 2^53 (docs/API.md)."""
    return int(v) if isinstance(v, str) else v


@test('components')
def c_component_wasi(env):
    comp = built_component(env, 'c')
    d = Wharfd(env, 'components')
    d.start()
    r = d.deploy('clockrand?arg=one&arg=two%20words&env=GREETING%3Dhi%20there', comp)
    expect(r, 201, what='deploy the C component (WASI 0.2 imports, no stubs)')
    imports = [i['name'] for i in r.json['imports']]
    for iface in ('wasi:cli/stdout', 'wasi:clocks/wall-clock', 'wasi:clocks/monotonic-clock',
                  'wasi:random/random', 'wasi:cli/exit', 'wasi:cli/environment'):
        check(any(n.startswith(iface + '@0.2.') for n in imports),
              'the component imports %s: %r' % (iface, imports))

    r = d.invoke('clockrand', 'print', ['hello from C'])
    expect(r, 200, what='print')
    check(r.json['result'] is None and r.json.get('stdout') == 'hello from C\n'
          and 'stderr' not in r.json, 'print: stdout captured alone: %r' % r.json)
    r = d.invoke('clockrand', 'eprint', ['oops \u00e9'])
    expect(r, 200, what='eprint')
    check(r.json.get('stderr') == 'oops \u00e9\n' and 'stdout' not in r.json,
          'eprint: stderr captured alone: %r' % r.json)
    r = d.invoke('clockrand', 'random', [4])
    check(r.status == 200 and 'stdout' not in r.json and 'stderr' not in r.json,
          'a later call starts with empty captures: %r' % r)

    # clocks: the wall clock is near now, the monotonic clock moves on
    # (over the guest's own 2 ms sleep, and between calls)
    r1 = d.invoke('clockrand', 'clocks', [])
    now = time.time()
    expect(r1, 200, what='clocks')
    wall1, mono1, slept = (as_u64(v) for v in r1.json['result'])
    check(abs(wall1 / 1e9 - now) < 30, 'wall clock %d ns is not near now (%.0f s)' % (wall1, now))
    check(2 * 10**6 <= slept - mono1 < 10 * 10**9,
          'monotonic clock moved %d ns over a 2 ms sleep' % (slept - mono1))
    time.sleep(0.05)
    r2 = d.invoke('clockrand', 'clocks', [])
    expect(r2, 200, what='clocks again')
    wall2, mono2, _ = (as_u64(v) for v in r2.json['result'])
    check(mono2 - mono1 >= 40 * 10**6, 'monotonic clock moved %d ns over a 50 ms sleep'
          % (mono2 - mono1))
    check(mono2 - mono1 < 30 * 10**9, 'monotonic clock jumped %d ns' % (mono2 - mono1))
    check(wall2 >= wall1, 'wall clock went back: %d then %d' % (wall1, wall2))

    # random: bytes, different every call
    draws = []
    for _ in range(3):
        r = d.invoke('clockrand', 'random', [32])
        expect(r, 200, what='random(32)')
        b = r.json['result']
        check(len(b) == 32 and all(isinstance(x, int) and 0 <= x < 256 for x in b),
              'random(32) gave %r' % b)
        draws.append(bytes(b))
    check(len(set(draws)) == 3, 'three random(32) draws are not all different: %r' % draws)
    r = d.invoke('clockrand', 'random', [70000])
    expect(r, 200, what='random(70000)')
    big = bytes(r.json['result'])
    check(len(big) == 70000 and len(set(big)) > 200, 'random(70000): %d bytes, %d values'
          % (len(big), len(set(big))))
    r = d.invoke('clockrand', 'random', [0])
    check(r.status == 200 and r.json['result'] == [], 'random(0): %r' % r)

    # arguments and environment: the deployment's, nothing of the daemon's
    r = d.invoke('clockrand', 'args', [])
    check(r.status == 200 and r.json['result'] == ['clockrand', 'one', 'two words'],
          'args: %r' % r)
    r = d.invoke('clockrand', 'getenv', ['GREETING'])
    check(r.status == 200 and r.json['result'] == 'hi there', 'getenv(GREETING): %r' % r)
    for name in ('PATH', 'HOME'):
        r = d.invoke('clockrand', 'getenv', [name])
        check(r.status == 200 and r.json['result'] is None,
              'the daemon\'s %s leaked into the guest: %r' % (name, r))

    # output beyond the bound: cut like a core module's (first 1 MiB)
    r = d.invoke('clockrand', 'spam', [2400000])
    expect(r, 200, what='spam(2400000)')
    check('stdout_truncated' in r.json and 'stdout' not in r.json, 'spam keys %r' % sorted(r.json))
    out = r.json['stdout_truncated']
    check(len(out) == 1 << 20 and out == 'A' * len(out),
          'stdout_truncated: %d chars, want 1 MiB of A' % len(out))
    r = d.invoke('clockrand', 'spam', [1000])
    check(r.status == 200 and r.json.get('stdout') == 'A' * 1000, 'spam(1000): %r' % r)

    # wasi:cli/exit: exit(0) is a success, any other status a 422 "exit"
    r = d.invoke('clockrand', 'quit', [0])
    expect(r, 200, what='exit(0)')
    check(r.json['result'] is None and r.json.get('stdout') == 'exiting\n', 'exit(0): %r' % r.json)
    r = d.invoke('clockrand', 'quit', [3])
    expect(r, 422, 'exit', 'exit(3)')
    # WASI 0.2.0's exit takes a result: the adapter turns any failure into err (1)
    check(r.json.get('exit_status') == 1 and r.json.get('stdout') == 'exiting\n',
          'exit(3): exit_status and stdout %r' % r.json)
    r = d.invoke('clockrand', 'print', ['still here'])
    check(r.status == 200 and r.json.get('stdout') == 'still here\n', 'after exit: %r' % r)
    m = d.metrics()
    check((metric_value(m, 'wharf_traps_total', {'kind': 'exit'}) or 0) >= 1,
          'metrics count the exit')

    # stub_missing_imports stubs only what is missing: WASI stays real
    r = d.deploy('clockstub?stub_missing_imports=true', comp)
    expect(r, 201, what='deploy with stub_missing_imports')
    r = d.invoke('clockstub', 'print', ['real WASI'])
    check(r.status == 200 and r.json.get('stdout') == 'real WASI\n',
          'print with stub_missing_imports: %r' % r)
    r = d.invoke('clockstub', 'args', [])
    check(r.status == 200 and r.json['result'] == ['clockstub'], 'args without options: %r' % r)
    d.stop()


@test('components')
def linked_components(env):
    """Deploy-time links (docs/API.md "Links"): consumer.c's import of
    wharf:link/store@0.1.0 satisfied by provider.c's export, both built
    from C at test time; strings, lists, a record and a resource cross
    the boundary through fused adapters; type mismatches, unknown and
    other tenants' targets are refused at deploy; a linked target cannot
    be deleted; a restart keeps the link."""
    consumer = built_component(env, 'link')
    with open(os.path.join(env.components, 'link_provider.wasm'), 'rb') as f:
        provider = f.read()
    with open(os.path.join(env.components, 'link_provider_bad.wasm'), 'rb') as f:
        bad = f.read()
    iface = 'wharf:link/store@0.1.0'
    d = Wharfd(env, 'components-link')
    d.start()
    expect(d.deploy('store', provider), 201, what='deploy the provider')
    expect(d.deploy('badstore', bad), 201, what='deploy the mismatched provider')
    r = d.deploy('app', consumer)
    expect(r, 400, 'unresolvable_import', 'the consumer without a link')
    check(iface in r.json['error']['message'], 'the missing import is named: %r' % r.json)

    r = d.deploy('app?link=%s=badstore' % iface, consumer)
    expect(r, 400, 'link_mismatch', 'a link to a store whose greet returns u32')
    msg = r.json['error']['message']
    check('func(name: string) -> string' in msg and 'func(name: string) -> u32' in msg,
          'the mismatch names both types: %r' % msg)
    expect(d.deploy('app?link=%s=nosuch' % iface, consumer), 404, 'link_target_not_found',
           'a link to no component')
    expect(d.deploy('bobstore', provider, as_='bob'), 201, what="bob's provider")
    expect(d.deploy('app?link=%s=bobstore' % iface, consumer), 404, 'link_target_not_found',
           "a link to another tenant's component")
    expect(d.deploy('app?link=nosuch:pkg/x=store', consumer), 400, 'link_mismatch',
           'a link of an import the component does not have')
    expect(d.deploy('app?link=%s' % iface, consumer), 400, 'bad_request', 'link without =COMPONENT')
    expect(d.deploy('app?link=%s=store,%s=badstore' % (iface, iface), consumer), 400,
           'bad_request', 'one import linked twice')

    r = d.deploy('app?link=%s=store' % iface, consumer)
    expect(r, 201, what='deploy the consumer linked to the provider')
    links = r.json.get('links')
    check(links == [{'import': iface, 'target': 'store', 'target_version': 1}],
          'the deploy reply lists the pinned link: %r' % r.json)

    def calls(d):
        r = d.invoke('app', 'greet-twice', ['wharf été'])
        expect(r, 200, what='greet-twice')
        check(r.json['result'] == 'hello, hello, wharf été', 'greet-twice: %r' % r.json)
        r = d.invoke('app', 'total', [[1, -2, 3, 2147483647, 2147483647]])
        expect(r, 200, what='total')
        check(r.json['result'] == 4294967296, 'total (an s64 sum of s32s): %r' % r.json)
        r = d.invoke('app', 'total', [[]])
        check(r.status == 200 and r.json['result'] == 0, 'total of nothing: %r' % r)
        r = d.invoke('app', 'shout', ['key', ['a', 'bc', '', 'déf'], 41])
        expect(r, 200, what='shout')
        check(r.json['result'] == {'key': 'KEY', 'tags': ['A', 'BC', '', 'DéF'], 'score': 42},
              'shout (a record with a list of strings, both ways): %r' % r.json)
        r = d.invoke('app', 'count', [10, 5])
        expect(r, 200, what='count')
        check(r.json['result'] == [15, 'counter=15'],
              'count (a resource made, used through borrows, dropped): %r' % r.json)

    calls(d)
    # a redeployed provider does not change the pinned link
    expect(d.deploy('store', bad), 201, what='redeploy store with the other greet')
    calls(d)
    # the target of a live link stays
    r = d.req('DELETE', '/v1/components/store', as_='alice')
    expect(r, 409, 'linked', 'delete the linked provider')
    check('app' in r.json['error']['message'], 'the 409 names the dependant: %r' % r.json)
    # a restart loads the consumer with its pinned provider
    d.stop()
    d.start()
    calls(d)
    # redeployed without the link, the consumer no longer holds store
    expect(d.deploy('app?stub_missing_imports=true', consumer), 201, what='redeploy unlinked')
    r = d.invoke('app', 'total', [[1]])
    expect(r, 422, what='the unlinked import traps')
    expect(d.req('DELETE', '/v1/components/store', as_='alice'), 200, what='delete store now')
    d.stop()


@test('components')
def component_sleep_deadline(env):
    """A guest sleeping in a WASI poll ends at the tenant's deadline and
    frees its executor."""
    comp = built_component(env, 'c')
    d = Wharfd(env, 'components-deadline', limits={'max_wall_time': '300ms'},
               server={'workers': '1'})
    d.start()
    expect(d.deploy('napper', comp), 201, what='deploy')
    r = d.invoke('napper', 'nap', [50])
    expect(r, 200, what='nap(50) within the deadline')
    check(r.json['elapsed_us'] >= 45000, 'nap(50) returned after %d us' % r.json['elapsed_us'])
    t0 = time.time()
    r = d.invoke('napper', 'nap', [20000])
    took = time.time() - t0
    expect(r, 422, 'deadline_exceeded', 'nap(20000) under a 300 ms deadline')
    check(took < 5, 'the sleeping guest answered after %.1f s' % took)
    # the one worker is free again
    r = d.invoke('napper', 'print', ['awake'])
    check(r.status == 200 and r.json.get('stdout') == 'awake\n', 'after the deadline: %r' % r)
    d.stop()


@test('components')
def js_component_wasi(env):
    comp = built_component(env, 'js')
    d = Wharfd(env, 'components-js')
    d.start()
    r = d.deploy('calcjs', comp, timeout=300)
    expect(r, 201, what='deploy the componentize-js component (WASI 0.2 imports, no stubs)')
    check(not r.json.get('options'), 'deployed without options: %r' % r.json.get('options'))
    r = d.invoke('calcjs', 'add', [2, 40], timeout=120)
    check(r.status == 200 and r.json['result'] == 42, 'add(2, 40): %r' % r)
    r = d.invoke('calcjs', 'add', {'a': -5, 'b': 3}, timeout=120)
    check(r.status == 200 and r.json['result'] == -2, 'add(-5, 3): %r' % r)
    r = d.invoke('calcjs', 'greet', ['World'], timeout=120)
    check(r.status == 200 and r.json['result'] == 'Hello, World', 'greet(World): %r' % r)
    r = d.invoke('calcjs', 'log', ['from JS'], timeout=120)
    check(r.status == 200 and r.json.get('stdout') == 'from JS\n', 'log: stdout %r' % r)
    d.stop()


# ---------------------------------------------------------------------------
# group: limits


LIM = {}


def lim_daemon(env):
    """alice: the [limits] defaults; bob: overrides; carol: a fuel rate;
    dave: a memory limit above the pool's slot size, max_concurrency 2."""
    if 'd' not in LIM:
        d = Wharfd(env, 'limits',
                   limits={'fuel_per_invocation': '20000000', 'max_wall_time': '2s',
                           'max_memory_size': '4 MiB', 'max_concurrency': '8',
                           'max_components': '100', 'max_component_size': '1 MiB'},
                   tenants={'alice': {},
                            'bob': {'fuel_per_invocation': '0', 'max_wall_time': '300ms',
                                    'max_memory_size': '1 MiB', 'max_concurrency': '2',
                                    'max_components': '2', 'max_component_size': '2 KiB'},
                            'carol': {'fuel_per_second': '2000000'},
                            'dave': {'max_memory_size': '512 MiB', 'max_concurrency': '2'}})
        d.start()
        for t in ('alice', 'carol', 'dave'):
            expect(d.deploy('calc', env.wasm['main'], as_=t), 201, what='deploy calc as ' + t)
        LIM['d'] = d
    return LIM['d']


def bob_calc(d, env):
    """bob's 2-component quota holds calc (the main module, 1 KiB-ish)."""
    r = d.get('/v1/components/calc', as_='bob')
    if r.status != 200:
        check(len(env.wasm['main']) <= 2048, 'main fixture is over bob\'s 2 KiB')
        expect(d.deploy('calc', env.wasm['main'], as_='bob'), 201, what='bob deploys calc')


@test('limits')
def fuel_per_invocation(env):
    d = lim_daemon(env)
    t0 = time.time()
    r = d.invoke('calc', 'spin', [])
    expect(r, 422, 'out_of_fuel', 'spin under the default fuel_per_invocation (20M)')
    check(r.json.get('fuel_consumed') == 20000000,
          'fuel_consumed %r, want 20000000' % r.json.get('fuel_consumed'))
    print('    spin burned 20M fuel in %.2fs' % (time.time() - t0))
    r = d.invoke('calc', 'burn', [1000])
    expect(r, 200, what='burn(1000)')
    check(0 < r.json['fuel_consumed'] < 20000, 'burn(1000) fuel %r' % r.json['fuel_consumed'])


@test('limits')
def request_fuel_capping(env):
    d = lim_daemon(env)
    r = d.invoke('calc', 'spin', [], fuel=1000)
    expect(r, 422, 'out_of_fuel', 'spin with fuel 1000')
    check(r.json.get('fuel_consumed') == 1000, 'fuel_consumed %r, want 1000' % r.json.get('fuel_consumed'))
    r = d.invoke('calc', 'burn', [100000], fuel=1000)
    expect(r, 422, 'out_of_fuel', 'burn with fuel 1000')
    r = d.invoke('calc', 'add', [1, 2], fuel=3)
    check(r.status == 200 and r.json['result'] == 3, 'add with exactly its 3 units: %r' % r)
    r = d.invoke('calc', 'add', [1, 2], fuel=2)
    expect(r, 422, 'out_of_fuel', 'add with 2 units')
    # more than the tenant's cap is capped at the cap
    r = d.invoke('calc', 'spin', [], fuel=10 ** 15)
    expect(r, 422, 'out_of_fuel', 'spin asking for 10^15 fuel')
    check(r.json.get('fuel_consumed') == 20000000,
          'fuel_consumed %r: the request\'s fuel was not capped at 20M' % r.json.get('fuel_consumed'))


@test('limits')
def fuel_per_second(env):
    d = lim_daemon(env)
    r = d.invoke('calc', 'burn', [700000], as_='carol')     # ~4M fuel > 2M/s bucket
    expect(r, 200, what='carol burns')
    burned = r.json['fuel_consumed']
    check(burned > 2000000, 'burn(700000) used only %d fuel' % burned)
    r = d.invoke('calc', 'add', [1, 2], as_='carol')
    expect(r, 429, 'fuel_rate_limit', 'carol right after burning %d fuel' % burned)
    expect(d.invoke('calc', 'add', [1, 2], as_='alice'), 200, what='alice unaffected by carol\'s rate')
    # the bucket refills at 2M/s: (burned - 2M)/2M seconds to be positive again
    wait = (burned - 2000000) / 2000000.0 + 0.3
    time.sleep(wait)
    expect(d.invoke('calc', 'add', [1, 2], as_='carol'), 200, what='carol after %.1fs' % wait)


@test('limits')
def max_wall_time(env):
    d = lim_daemon(env)
    bob_calc(d, env)
    t0 = time.time()
    r = d.invoke('calc', 'spin', [], as_='bob')     # unmetered: only the deadline stops it
    el = time.time() - t0
    expect(r, 422, 'deadline_exceeded', 'bob spins (fuel unmetered, max_wall_time 300ms)')
    check(el < 2.0, 'deadline of 300ms took %.2fs' % el)
    check(r.json.get('elapsed_us', 0) >= 250000, 'elapsed_us %r < 300ms' % r.json.get('elapsed_us'))
    t0 = time.time()
    r = d.invoke('calc', 'sleep', [10000], as_='bob')  # blocked in poll_oneoff
    el = time.time() - t0
    expect(r, 422, 'deadline_exceeded', 'bob sleeps 10s with max_wall_time 300ms')
    check(el < 2.0, 'deadline of a sleeping guest took %.2fs' % el)
    print('    spin deadline %.0f ms, sleep deadline %.0f ms' % (r.json['elapsed_us'] / 1000, el * 1000))
    r = d.invoke('calc', 'sleep', [100], as_='bob')
    expect(r, 200, what='bob sleeps 100ms')


@test('limits')
def max_memory_size(env):
    d = lim_daemon(env)
    bob_calc(d, env)
    # alice: 4 MiB = 64 pages; the module starts with 1
    r = d.invoke('calc', 'grow', [63])
    check(r.status == 200 and r.json['result'] == 1, 'alice grow(63) to 4 MiB: %r' % r)
    r = d.invoke('calc', 'grow', [64])
    check(r.status == 200 and r.json['result'] == -1, 'alice grow(64) past 4 MiB: %r' % r)
    # bob overrides it: 1 MiB = 16 pages
    r = d.invoke('calc', 'grow', [15], as_='bob')
    check(r.status == 200 and r.json['result'] == 1, 'bob grow(15) to 1 MiB: %r' % r)
    r = d.invoke('calc', 'grow', [16], as_='bob')
    check(r.status == 200 and r.json['result'] == -1, 'bob grow(16) past 1 MiB: %r' % r)
    # a larger minimum: 2 MiB fits alice, not bob
    expect(d.deploy('big', env.wasm['min2m']), 201, what='alice deploys min2m')
    r = d.invoke('big', 'size', [])
    check(r.status == 200 and r.json['result'] == 32, 'alice min2m size %r' % r)
    r = d.req('DELETE', '/v1/components/calc', as_='bob')
    expect(r, 200, what='bob frees a quota slot')
    expect(d.deploy('big', env.wasm['min2m'], as_='bob'), 201, what='bob deploys min2m')
    r = d.invoke('big', 'nop', [], as_='bob')
    expect(r, 422, 'memory_limit', 'bob instantiates a 2 MiB minimum with max_memory_size 1 MiB')
    expect(d.req('DELETE', '/v1/components/big', as_='bob'), 200)
    # over the pool's slot (64 MiB) but within dave's limit (512 MiB):
    # can never fit, so not a retryable 503
    expect(d.deploy('overslot', env.wasm['min_overslot'], as_='dave'), 201)
    r = d.invoke('overslot', 'nop', [], as_='dave')
    expect(r, 422, 'memory_limit', 'minimum memory above the pool slot (max_memory_size 64 MiB)')


@test('limits')
def max_concurrency(env):
    d = lim_daemon(env)
    # dave: max_concurrency 2 (queued calls count too)
    base = metric_value(d.metrics(), 'wharf_in_flight') or 0
    ts = [in_thread(d.invoke, 'calc', 'sleep', [1000], 'dave') for _ in range(2)]
    wait_metric(d, 'wharf_in_flight', base + 2)
    r = d.invoke('calc', 'add', [1, 2], as_='dave')
    expect(r, 429, 'concurrency_limit', 'dave\'s third concurrent call')
    r2 = d.invoke('calc', 'add', [1, 2], as_='alice', timeout=10)
    for t in ts:
        t.join(10)
        check(t.error is None and t.result.status == 200, 'dave\'s sleep: %r' % (t.error or t.result))
    expect(r2, 200, what='alice while dave is at his limit')
    expect(d.invoke('calc', 'add', [1, 2], as_='dave'), 200, what='dave after his calls finished')


@test('limits')
def max_components(env):
    d = lim_daemon(env)
    for n in ('q1', 'q2', 'q3', 'calc', 'big'):
        d.req('DELETE', '/v1/components/' + n, as_='bob')
    expect(d.deploy('q1', const_module(1), as_='bob'), 201, what='bob q1')
    expect(d.deploy('q2', const_module(2), as_='bob'), 201, what='bob q2')
    expect(d.deploy('q3', const_module(3), as_='bob'), 403, 'quota_exceeded', 'bob q3 over max_components 2')
    expect(d.get('/v1/components/q3', as_='bob'), 404, what='refused q3 not stored')
    r = d.deploy('q1', const_module(11), as_='bob')
    expect(r, 201, what='bob redeploys q1 at his quota')
    check(r.json['version'] == 2, 'q1 version %r' % r.json['version'])
    expect(d.deploy('q9', const_module(9), as_='alice'), 201, what='alice is not bound by bob\'s quota')
    expect(d.req('DELETE', '/v1/components/q2', as_='bob'), 200)
    expect(d.deploy('q3', const_module(3), as_='bob'), 201, what='bob q3 after a delete')
    for n in ('q1', 'q3'):
        d.req('DELETE', '/v1/components/' + n, as_='bob')


@test('limits')
def max_component_size(env):
    d = lim_daemon(env)
    m = padded(const_module(5), 3000)
    check(len(m) == 3000, 'padded size %d' % len(m))
    r = d.deploy('fat', m, as_='bob')
    expect(r, 413, 'too_large', 'bob deploys 3000 bytes over 2 KiB')
    expect(d.deploy('fat', padded(const_module(5), 2048), as_='bob'), 201, what='bob deploys exactly 2 KiB')
    d.req('DELETE', '/v1/components/fat', as_='bob')
    expect(d.deploy('fat', m, as_='alice'), 201, what='alice (1 MiB) deploys 3000 bytes')
    expect(d.deploy('fat2', padded(const_module(5), (1 << 20) + 1), as_='alice'), 413, 'too_large',
           'alice 1 MiB + 1')


@test('limits')
def healthz_while_busy(env):
    d = lim_daemon(env)
    # both workers (and the queue) busy with 1.2s sleeps
    ts = [in_thread(d.invoke, 'calc', 'sleep', [1200], 'alice') for _ in range(4)]
    wait_metric(d, 'wharf_in_flight', 4)
    lat = []
    for _ in range(30):
        r = d.get('/healthz', timeout=5)
        expect(r, 200, what='/healthz while busy')
        lat.append(r.elapsed * 1000)
        time.sleep(0.01)
    lat.sort()
    print('    /healthz while 2 workers busy: p50 %.2f ms, p99 %.2f ms, max %.2f ms'
          % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]))
    check(lat[len(lat) // 2] < 50 and lat[-1] < 500,
          '/healthz took p50 %.0f ms, max %.0f ms with the executors busy' % (lat[len(lat) // 2], lat[-1]))
    for t in ts:
        t.join(15)
        check(t.error is None and t.result.status == 200, 'sleep: %r' % (t.error or t.result))


@test('limits')
def queue_full(env):
    d = Wharfd(env, 'queue', server={'workers': '1', 'queue_depth': '1'})
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    a = in_thread(d.invoke, 'calc', 'sleep', [1000])
    wait_metric(d, 'wharf_pool_memories', 1, {'state': 'live'})   # a runs on the one worker
    b = in_thread(d.invoke, 'calc', 'sleep', [10])
    wait_metric(d, 'wharf_queue_depth', 1)                      # b waits in the queue
    r = d.invoke('calc', 'add', [1, 2])
    expect(r, 503, 'queue_full', 'third call with workers=1 queue_depth=1')
    check(r.headers.get('retry-after') == '1', 'Retry-After %r' % r.headers.get('retry-after'))
    expect(d.get('/healthz'), 200, what='/healthz with the queue full')
    for t in (a, b):
        t.join(10)
        check(t.error is None and t.result.status == 200, 'queued call: %r' % (t.error or t.result))
    expect(d.invoke('calc', 'add', [1, 2]), 200, what='after the queue drained')
    check(d.stop() == 0, 'exit status')


@test('limits')
def pool_exhausted(env):
    d = Wharfd(env, 'pool', pool={'total_memories': '1'})
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    a = in_thread(d.invoke, 'calc', 'sleep', [800])
    wait_metric(d, 'wharf_pool_memories', 1, {'state': 'live'})   # a holds the one slot
    r = d.invoke('calc', 'add', [1, 2])
    expect(r, 503, 'pool_exhausted', 'second instance with total_memories=1')
    check(r.headers.get('retry-after') == '1', 'Retry-After %r' % r.headers.get('retry-after'))
    a.join(10)
    check(a.error is None and a.result.status == 200, 'first call: %r' % (a.error or a.result))
    expect(d.invoke('calc', 'add', [1, 2]), 200, what='slot released')
    m = d.metrics()
    check((metric_value(m, 'wharf_pool_failures_total') or 0) >= 1, 'wharf_pool_failures_total did not count')
    check(d.stop() == 0, 'exit status')


# ---------------------------------------------------------------------------
# group: ops -- persistence, reload, drain, TLS, config files


@test('ops')
def restart_persistence(env):
    d = Wharfd(env, 'persist')
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    r = d.deploy('calc', env.wasm['main'])
    check(r.status == 201 and r.json['version'] == 2, 'v2 %r' % r)
    expect(d.deploy('gone', const_module(7)), 201)
    r = d.deploy('gone', const_module(8))
    check(r.json['version'] == 2, 'gone v2 %r' % r)
    expect(d.req('DELETE', '/v1/components/gone', as_='alice'), 200)
    expect(d.deploy('b1', const_module(42), as_='bob'), 201)
    expect(d.deploy('comp?stub_missing_imports=true', env.wasm['component']), 201)
    expect(d.deploy('envargs?arg=a1&env=K%3Dv', env.wasm['envargs']), 201)
    before = {t: d.get('/v1/components', as_=t).json for t in ('alice', 'bob')}
    check(d.stop() == 0, 'exit status after SIGTERM')
    d.start()
    after = {t: d.get('/v1/components', as_=t).json for t in ('alice', 'bob')}
    check(before == after, 'listing changed across restart:\n  %r\n  %r' % (before, after))
    # every deployment, the component included, came back from the cache
    live = sum(len(after[t]['components']) for t in after)
    m = d.metrics()
    check(metric_value(m, 'wharf_cache_hits_total') == live and
          metric_value(m, 'wharf_cache_misses_total') == 0,
          'restart: %d deployments, cache hits %r, misses %r' %
          (live, metric_value(m, 'wharf_cache_hits_total'),
           metric_value(m, 'wharf_cache_misses_total')))
    r = d.get('/v1/components/calc', as_='alice')
    check(r.status == 200 and r.json['version'] == 2, 'calc after restart %r' % r)
    check(r.json['digest'] == hashlib.sha256(env.wasm['main']).hexdigest(), 'digest after restart')
    r = d.invoke('calc', 'add', [20, 22])
    check(r.status == 200 and r.json['result'] == 42, 'invoke after restart %r' % r)
    r = d.invoke('b1', 'id', [], as_='bob')
    check(r.status == 200 and r.json['result'] == 42, 'bob invoke after restart %r' % r)
    expect(d.get('/v1/components/gone', as_='alice'), 404, what='deleted stays deleted')
    r = d.invoke('comp', 'greet', ['again'])
    check(r.status == 200 and r.json['result'] == 'Hello, again', 'component after restart %r' % r)
    r = d.get('/v1/components/comp', as_='alice')
    check(r.json.get('options') == {'stub_missing_imports': True} and r.json['kind'] == 'component',
          'component options after restart %r' % r.json)
    r = d.invoke('envargs', 'show', [])
    check(r.status == 200 and r.json.get('stdout') == 'envargs\na1\nK=v\n',
          'args and env after restart %r' % r)
    r = d.deploy('calc', env.wasm['main'])
    check(r.status == 201 and r.json['version'] == 3, 'version continues: %r' % r)
    check(r.json['compile']['cached'] is True, 'compile after restart not from the cache: %r' % r.json['compile'])
    r = d.deploy('comp?stub_missing_imports=true', env.wasm['component'])
    check(r.status == 201 and r.json['compile']['cached'] is True,
          'component redeployed after restart not from the cache: %r' % r.json.get('compile'))
    r = d.deploy('gone', const_module(9))
    check(r.status == 201 and r.json['version'] == 3,
          'a deleted name\'s version restarts at %r after restart (reused)' % r.json.get('version'))
    check(d.stop() == 0, 'exit status')


def cache_pins(d):
    """{holder: key} of the "deploy:" pins in d's cache index."""
    db = sqlite3.connect('file:%s?mode=ro' % os.path.join(d.data_dir, 'cache', 'index.db'), uri=True)
    try:
        return dict(db.execute("SELECT holder, key FROM pins WHERE holder LIKE 'deploy:%'"))
    finally:
        db.close()


@test('ops')
def cache_pinning(env):
    """Each live deployment's artifact is pinned in the cache under
    deploy:TENANT/NAME: a redeploy moves the pin to the new version, a
    delete drops it, and a start pins exactly the live deployments (a
    stale pin, as a crash could leave, goes)."""
    d = Wharfd(env, 'pins')
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    expect(d.deploy('b1', const_module(42), as_='bob'), 201)
    expect(d.deploy('comp?stub_missing_imports=true', env.wasm['component']), 201)
    p1 = cache_pins(d)
    check(set(p1) == {'deploy:alice/calc', 'deploy:bob/b1', 'deploy:alice/comp'}, 'pins %r' % p1)
    expect(d.deploy('calc', const_module(7)), 201)
    p2 = cache_pins(d)
    check(set(p2) == set(p1) and p2['deploy:alice/calc'] != p1['deploy:alice/calc'],
          'a redeploy moves the pin: %r -> %r' % (p1, p2))
    expect(d.req('DELETE', '/v1/components/b1', as_='bob'), 200)
    p3 = cache_pins(d)
    check(set(p3) == {'deploy:alice/calc', 'deploy:alice/comp'}, 'after a delete %r' % p3)
    check(d.stop() == 0, 'exit status')
    db = sqlite3.connect(os.path.join(d.data_dir, 'cache', 'index.db'))
    db.execute("INSERT INTO pins (key, holder, created) VALUES (?, 'deploy:alice/ghost', 0)",
               (p1['deploy:bob/b1'],))
    db.commit()
    db.close()
    d.start()
    p4 = cache_pins(d)
    check(p4 == p3, 'a start pins the live deployments only: %r, want %r' % (p4, p3))
    check(d.invoke('calc', 'id', []).json.get('result') == 7, 'invoke after the restart')
    check(d.stop() == 0, 'exit status')


@test('ops')
def tier_auto(env):
    """[engine] tier = auto: a deploy answers from the interpreter, the
    module tiers up in the background (the metrics and GET follow it), the
    cache entry is rewritten with the native code, and after a restart the
    deployment is native at once with nothing compiled again."""
    probe = subprocess.run([env.wharfd, '--check-config', '-c', '/dev/stdin'],
                           input='[engine]\ntier = auto\n', capture_output=True, text=True)
    if probe.returncode != 0:
        raise Skip('no native tier: ' + (probe.stderr.strip() or probe.stdout.strip()))
    d = Wharfd(env, 'auto')
    d.engine = {'tier': 'auto'}
    d.start()
    r = d.deploy('calc', env.wasm['main'])
    expect(r, 201)
    check(r.json['compile']['tier'] in ('interpreter', 'native'), 'deploy answer %r' % r.json)
    check(d.invoke('calc', 'add', [2, 3]).json.get('result') == 5, 'invoke while tiering up')
    wait_metric(d, 'wharf_deployments', 1, {'tier': 'native'}, timeout=60)
    m = d.metrics()
    check(metric_value(m, 'wharf_deployments', {'tier': 'interpreter'}) == 0 and
          metric_value(m, 'wharf_native_compiles_total', {'result': 'compiled'}) == 1 and
          metric_value(m, 'wharf_native_compile_seconds_total') > 0,
          'after the tier-up: %s' % [l for l in m.splitlines() if 'native' in l or 'deployments' in l])
    t0 = time.time()
    while metric_value(d.metrics(), 'wharf_native_tierups_pending') != 0 and time.time() - t0 < 10:
        time.sleep(0.05)
    check(metric_value(d.metrics(), 'wharf_native_tierups_pending') == 0, 'a tier-up still pending')
    r = d.get('/v1/components/calc', as_='alice')
    check(r.json.get('tier') == 'native', 'GET after the tier-up: %r' % r.json)
    check(d.invoke('calc', 'add', [20, 22]).json.get('result') == 42, 'invoke on native code')
    check(d.stop() == 0, 'exit status')
    # the cache entry carries the native code now: no compile after a restart
    d.start()
    m = d.metrics()
    check(metric_value(m, 'wharf_deployments', {'tier': 'native'}) == 1 and
          metric_value(m, 'wharf_native_tierups_pending') == 0 and
          sum(metric_value(m, 'wharf_native_compiles_total', {'result': k}) or 0
              for k in ('compiled', 'refused', 'failed')) == 0,
          'after a restart: %s' % [l for l in m.splitlines() if 'native' in l or 'deployments' in l])
    check(d.invoke('calc', 'add', [1, 1]).json.get('result') == 2, 'invoke after the restart')
    r = d.get('/v1/components/calc', as_='alice')
    check(r.json.get('tier') == 'native', 'GET after the restart: %r' % r.json)
    check(d.stop() == 0, 'exit status')


@test('ops')
def sighup_reload(env):
    d = Wharfd(env, 'reload', limits={'max_components': '10'})
    d.start()
    expect(d.get('/v1/components', as_='carol'), 401, what='carol before reload')
    expect(d.deploy('c1', const_module(1), as_='bob'), 201)
    expect(d.deploy('c2', const_module(2), as_='bob'), 201)
    # add carol; bob's max_components 10 -> 2; alice's fuel 1000
    d.tenants['carol'] = {}
    d.tenants['bob'] = {'max_components': '2'}
    d.tenants['alice'] = {'fuel_per_invocation': '1000'}
    d.write_config()
    d.signal(signal.SIGHUP)
    t0 = time.time()
    while d.get('/v1/components', as_='carol').status != 200 and time.time() - t0 < 5:
        time.sleep(0.05)
    expect(d.get('/v1/components', as_='carol'), 200, what='carol\'s key after SIGHUP')
    expect(d.deploy('c3', const_module(3), as_='bob'), 403, 'quota_exceeded', 'bob\'s reloaded max_components')
    expect(d.deploy('calc', env.wasm['main']), 201)
    r = d.invoke('calc', 'spin', [])
    check(r.status == 422 and r.json.get('fuel_consumed') == 1000, 'alice\'s reloaded fuel: %r' % r)
    # a bad config is refused; the old one stays and the daemon serves on
    with open(d.conf, 'a') as f:
        f.write('[limits]\nno_such_key = 1\n')
    d.tenants.pop('carol')          # (not written: the file is bad anyway)
    d.signal(signal.SIGHUP)
    time.sleep(0.5)
    check(d.alive(), 'wharfd died on a bad config at SIGHUP')
    expect(d.get('/healthz'), 200, what='serving after a bad reload')
    expect(d.get('/v1/components', as_='carol'), 200, what='carol kept after a bad reload')
    expect(d.deploy('c3', const_module(3), as_='bob'), 403, 'quota_exceeded', 'bob\'s limit kept')
    check('keeping the old config' in d.log_text() and 'no_such_key' in d.log_text(),
          'the bad reload was not logged with its reason:\n' + d.log_tail())
    # removing a tenant stops its key
    d.tenants.pop('carol', None)
    d.write_config()
    d.signal(signal.SIGHUP)
    t0 = time.time()
    while d.get('/v1/components', as_='carol').status != 401 and time.time() - t0 < 5:
        time.sleep(0.05)
    expect(d.get('/v1/components', as_='carol'), 401, what='carol removed')
    check(d.stop() == 0, 'exit status')


@test('ops')
def sigterm_drain(env):
    d = Wharfd(env, 'drain')
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    long = in_thread(d.invoke, 'calc', 'sleep', [1500])
    spin = in_thread(d.invoke, 'calc', 'burn', [2000000000])   # runs out of fuel (1e9) or time
    # the last to finish: a 2 MiB reply to a client that reads it only later
    big = in_thread(slow_reader_invoke, d, 'calc', {'export': 'sleep_flood', 'args': [1700]}, 2.5)
    time.sleep(0.3)
    kept = d.conn(10)             # a kept-alive connection from before the signal
    expect(d.req('GET', '/healthz', conn=kept), 200)
    t0 = time.time()
    d.signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        r = d.invoke('calc', 'add', [1, 2], conn=kept)
        expect(r, 503, 'draining', 'invoke on a kept-alive connection while draining')
        check(r.headers.get('retry-after') == '1', 'Retry-After %r' % r.headers.get('retry-after'))
        r = d.req('GET', '/readyz', conn=kept)
        expect(r, 503, what='/readyz while draining')
    except (OSError, http.client.HTTPException):
        pass                      # closing idle connections at once is fine too
    kept.close()
    refused = False
    try:
        socket.create_connection(('127.0.0.1', d.port), timeout=2).close()
    except ConnectionRefusedError:
        refused = True
    check(refused, 'a new connection was accepted while draining')
    long.join(20)
    spin.join(20)
    big.join(20)
    check(big.error is None and big.result.status == 200 and big.result.json and
          len(big.result.json.get('stderr_truncated', '')) == 1 << 20,
          'in-flight call whose 2 MiB reply is read 0.8s after it is ready: %s (the drain ends the '
          'event loop when in_flight reaches 0, before the reply is written: daemon/wharfd.c '
          'drain_tick -> event_base_loopexit, then evhttp_free drops unsent output)'
          % (big.error or big.result))
    check(long.error is None and long.result.status == 200,
          'in-flight sleep did not complete: %r' % (long.error or long.result))
    check(spin.error is None and spin.result.status in (200, 422),
          'in-flight burn: %r' % (spin.error or spin.result))
    rc = d.wait(15)
    check(rc == 0, 'exit status %r after drain' % rc)
    print('    drained in %.2fs (burn answered %d %s)' % (time.time() - t0, spin.result.status,
                                                          spin.result.code or ''))


@test('ops')
def tls(env):
    cert = os.path.join(env.tmp, 'cert.pem')
    key = os.path.join(env.tmp, 'key.pem')
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
                        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext',
                        'subjectAltName=IP:127.0.0.1'], capture_output=True, text=True)
    check(r.returncode == 0, 'openssl req: ' + r.stderr)
    d = Wharfd(env, 'tls', tls=(cert, key))
    d.start()
    r = d.get('/healthz')
    expect(r, 200, what='/healthz over TLS')
    expect(d.deploy('calc', env.wasm['main']), 201, what='deploy over TLS')
    r = d.invoke('calc', 'add', [1, 2])
    check(r.status == 200 and r.json['result'] == 3, 'invoke over TLS %r' % r)
    # keep-alive over TLS
    c = d.conn()
    for i in range(3):
        r = d.req('GET', '/healthz', conn=c)
        expect(r, 200, what='keep-alive request %d' % i)
    c.close()
    # the negotiated version is TLS 1.2+
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection(('127.0.0.1', d.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname='127.0.0.1') as ts:
            check(ts.version() in ('TLSv1.2', 'TLSv1.3'), 'version %s' % ts.version())
    # a client that does not trust the certificate fails
    try:
        c = http.client.HTTPSConnection('127.0.0.1', d.port, timeout=5,
                                        context=ssl.create_default_context())
        c.request('GET', '/healthz')
        c.getresponse()
        raise Fail('an untrusted certificate was accepted')
    except ssl.SSLError:
        pass
    # plain HTTP to the TLS port gets no HTTP answer
    raw = raw_http(d.port, b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', read_timeout=3)
    check(not raw.startswith(b'HTTP/1.1 200'), 'plain HTTP answered on the TLS port: %r' % raw[:60])
    expect(d.get('/healthz'), 200, what='TLS after a plain-HTTP attempt')
    check(d.stop() == 0, 'exit status')


@test('ops')
def sd_notify(env):
    path = os.path.join(env.tmp, 'notify.sock')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    old = os.environ.get('NOTIFY_SOCKET')
    os.environ['NOTIFY_SOCKET'] = path
    try:
        d = Wharfd(env, 'notify')
        d.start()
    finally:
        if old is None:
            del os.environ['NOTIFY_SOCKET']
        else:
            os.environ['NOTIFY_SOCKET'] = old

    def recv_until(word):
        got = []
        t0 = time.time()
        while time.time() - t0 < 10:
            try:
                m = sock.recv(4096).decode()
            except socket.timeout:
                break
            got.append(m)
            if word in m:
                return got
        raise Fail('no %s from sd_notify; got %r' % (word, got))
    try:
        recv_until('READY=1')
        d.signal(signal.SIGHUP)
        recv_until('RELOADING=1')
        recv_until('READY=1')
        d.signal(signal.SIGTERM)
        recv_until('STOPPING=1')
        check(d.wait(10) == 0, 'exit status')
    finally:
        sock.close()


@test('ops')
def dev_mode(env):
    cwd = env.newdir('dev')
    port = free_port()
    log = open(os.path.join(cwd, 'out.log'), 'w+')
    p = subprocess.Popen([env.wharfd, '--dev', '--listen', '127.0.0.1:%d' % port], cwd=cwd,
                         stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pdeathsig)
    try:
        key = None
        t0 = time.time()
        while time.time() - t0 < 10 and not key:
            time.sleep(0.05)
            log.seek(0)
            for line in log.read().splitlines():
                if 'key:' in line:
                    key = line.split('key:')[1].split()[0]
        check(key, 'no key printed by --dev:\n' + open(log.name).read())
        check(os.path.exists(os.path.join(cwd, 'var', 'dev.key')), 'var/dev.key missing')
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        c.request('POST', '/v1/components/calc', body=env.wasm['main'],
                  headers={'Authorization': 'Bearer ' + key})
        r = c.getresponse()
        check(r.status == 201, 'deploy with the dev key: %d %r' % (r.status, r.read()))
        r.read()
        c.request('POST', '/v1/components/calc/invoke', body='{"export":"add","args":[1,2]}',
                  headers={'Authorization': 'Bearer ' + key})
        r = c.getresponse()
        body = r.read()
        check(r.status == 200 and json.loads(body)['result'] == 3, 'invoke: %d %r' % (r.status, body))
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = None
        log.close()
    check(rc == 0, '--dev exit status %r' % rc)


def run_config(env, text, check_only=False):
    path = os.path.join(env.tmp, 'cfg-%d.conf' % random.randrange(1 << 30))
    with open(path, 'w') as f:
        f.write(text)
    args = [env.wharfd] + (['--check-config'] if check_only else []) + ['-c', path]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=env.tmp, preexec_fn=_pdeathsig)
    try:
        out, err = p.communicate(timeout=3)
    except subprocess.TimeoutExpired:       # it started: that is a failure to report
        p.kill()
        out, err = p.communicate()
        return path, subprocess.CompletedProcess(args, 0, out, err + '\n(still running after 3s: killed)')
    return path, subprocess.CompletedProcess(args, p.returncode, out, err)


def good_config(env, port):
    return ('[server]\nlisten = 127.0.0.1:%d\nworkers = 1\n[storage]\ndata_dir = %s\n'
            '[pool]\ntotal_memories = 4\nmax_memory_size = 1 MiB\nmemory_guard_size = 64 KiB\n'
            '[tenant.alice]\nkey_sha256 = %s\n' % (port, os.path.join(env.tmp, 'cfgdata'),
                                                    key_hash(env.keys['alice'])))


@test('ops')
def bad_config_files(env):
    port = free_port()
    base = good_config(env, port)
    bad = {
        'unknown key': (base + 'no_such_key = 1\n', 'no_such_key'),
        'unknown section': (base + '[nonsense]\nx = 1\n', 'nonsense'),
        'bad size': (base.replace('max_memory_size = 1 MiB', 'max_memory_size = 3 GB'), 'max_memory_size'),
        'bad duration': (base + '[limits]\nmax_wall_time = 5\n', 'max_wall_time'),
        'out of range': (base.replace('workers = 1', 'workers = 100000'), 'workers'),
        'not a number': (base.replace('workers = 1', 'workers = many'), 'workers'),
        'bad key hash': (base + '[tenant.bob]\nkey_sha256 = 1234\n', 'key_sha256'),
        'not INI': (base + 'this is not ini\n', ''),
        'port out of range': (base.replace(':%d\n' % port, ':99999\n'), 'listen'),
        'listen without a port': (base.replace(':%d\n' % port, '\n'), 'listen'),
        'unbalanced [v6]': (base.replace('127.0.0.1:%d' % port, '[::1:%d' % port), 'listen'),
        'empty unknown section': (base + '[nonsense]\n', 'nonsense'),
    }
    fails = []
    for what, (text, word) in bad.items():
        bad_line = None
        for i, l in enumerate(text.splitlines(), 1):
            if word and word in l and not l.startswith('['):
                bad_line = i
        lines = [bad_line]
        if word == 'nonsense':    # the section's line, or that of its first key
            bad_line = text.splitlines().index('[nonsense]') + 1
            lines = [bad_line, bad_line + 1]
        for check_only in (False, True):
            path, r = run_config(env, text, check_only)
            name = os.path.basename(path)
            mode = '--check-config' if check_only else 'run'
            if r.returncode == 0:
                fails.append('%s (%s): accepted (%s)' % (what, mode, (r.stdout + r.stderr).strip()[-80:]))
                continue
            locs = ['%s:%d:' % (name, l) for l in lines] if bad_line else [name + ':']
            if not any(loc in r.stderr for loc in locs):
                fails.append('%s (%s): exit %d, stderr lacks %s: %r'
                             % (what, mode, r.returncode, locs[0], r.stderr.strip()[-200:]))
    check(not fails, '\n      '.join(fails))
    path, r = run_config(env, base, check_only=True)
    check(r.returncode == 0 and 'OK' in r.stdout, '--check-config of a good file: %d %r %r'
          % (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([env.wharfd, '--check-config', '-c', os.path.join(env.tmp, 'missing.conf')],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and 'missing.conf' in r.stderr, 'missing file: %d %r' % (r.returncode, r.stderr))


@test('ops')
def tls_bad_cert_refused(env):
    junk = os.path.join(env.tmp, 'junk.pem')
    with open(junk, 'w') as f:
        f.write('-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n')
    base = good_config(env, free_port())
    text = base.replace('workers = 1', 'workers = 1\ntls_cert = %s\ntls_key = %s' % (junk, junk))
    path, r = run_config(env, text)
    check(r.returncode != 0 and 'junk.pem' in r.stderr, 'a junk certificate: %d %r' % (r.returncode, r.stderr))
    text = base.replace('workers = 1', 'workers = 1\ntls_cert = %s' % junk)
    path, r = run_config(env, text, check_only=True)
    check(r.returncode != 0, 'tls_cert without tls_key accepted by --check-config: %r' % r.stdout)


# ---------------------------------------------------------------------------
# group: badinput


BAD = {}


def bad_daemon(env):
    if 'd' not in BAD:
        d = Wharfd(env, 'badinput', server={'max_body_size': '1 MiB', 'request_timeout': '1s'})
        d.start()
        expect(d.deploy('keep', env.wasm['main']), 201, what='deploy keep')
        expect(d.deploy('keep', env.wasm['main']), 201, what='deploy keep v2')
        expect(d.deploy('keepb', const_module(5), as_='bob'), 201, what='bob deploys keepb')
        BAD['d'] = d
        BAD['before'] = {t: d.get('/v1/components', as_=t).json for t in ('alice', 'bob')}
    return BAD['d']


def still_serving(d):
    r = d.get('/healthz', timeout=5)
    expect(r, 200, what='/healthz after bad input')
    r = d.invoke('keep', 'add', [1, 2], timeout=5)
    check(r.status == 200 and r.json['result'] == 3, 'invoke after bad input: %r' % r)


@test('badinput')
def malformed_wasm(env):
    d = bad_daemon(env)
    good = env.wasm['main']
    cases = {
        'random bytes': os.urandom(300),
        'text': b'(module (func (export "f")))',
        'magic only': b'\x00asm',
        'wrong version': b'\x00asm\x02\x00\x00\x00',
        'truncated': good[:len(good) // 2],
        'truncated by one': good[:-1],
        'trailing junk': good + b'\x01',
        'bad section size': good[:8] + b'\x01\xff\xff\xff\xff\x0f' + good[10:],
        'zeros': b'\0' * 100,
    }
    for what, body in cases.items():
        r = d.deploy('bad', body)
        expect(r, 400, 'invalid_module', what)
        check('offset' in r.json['error']['message'] or what in ('zeros', 'text', 'random bytes'),
              '%s: message has no byte offset: %r' % (what, r.json['error']['message']))
    expect(d.deploy('bad', b''), 400, 'empty_body', 'empty body')
    expect(d.deploy('bad', env.wasm['badimport']), 400, 'unresolvable_import', 'import env.nowhere')
    r = d.deploy('bad', env.wasm['simd'])
    expect(d.get('/v1/components/bad', as_='alice'), 404, what='nothing stored under "bad"')
    still_serving(d)
    check(r.status == 415 and r.code == 'unsupported',
          'SIMD module: expected 415 unsupported (docs/API.md), got %r (daemon/executor.c run_deploy '
          'answers 400 for every non-ENOMEM compile error, also WH_EUNSUPPORTED)' % r)


@test('badinput')
def mutated_wasm(env):
    d = bad_daemon(env)
    rnd = random.Random(1234)
    good = env.wasm['main']
    seen = {}
    for i in range(60):
        m = bytearray(good)
        for _ in range(rnd.randint(1, 4)):
            m[rnd.randrange(8, len(m))] = rnd.randrange(256)
        r = d.deploy('mut%d' % i, bytes(m))
        seen[r.status] = seen.get(r.status, 0) + 1
        check(r.status in (201, 400, 415), 'mutant %d: %r' % (i, r))
        if r.status == 201:
            ri = d.invoke('mut%d' % i, 'add', [1, 2])
            check(ri.status in (200, 400, 404, 422), 'mutant %d invoke: %r' % (i, ri))
            d.req('DELETE', '/v1/components/mut%d' % i, as_='alice')
    print('    60 mutants: %s' % ', '.join('%d x %d' % kv for kv in sorted(seen.items())))
    still_serving(d)


@test('badinput')
def malformed_components(env):
    d = bad_daemon(env)
    good = env.wasm['component']
    cases = {
        'empty component': COMPONENT,
        'truncated': good[:len(good) // 2],
        'truncated by one': good[:-1],
        'trailing junk': good + b'\x01',
        'wrong layer version': good[:4] + b'\x0e\x00\x01\x00' + good[8:],
    }
    for what, body in cases.items():
        r = d.deploy('badc?stub_missing_imports=true', body)
        if what == 'empty component':
            # valid: no imports, no exports; then nothing to invoke
            expect(r, 201, what=what)
            expect(d.invoke('badc', 'f', []), 404, 'export_not_found', 'empty component invoke')
            d.req('DELETE', '/v1/components/badc', as_='alice')
            continue
        check(r.status == 400 and r.code in ('invalid_component', 'invalid_module'),
              '%s: expected 400 invalid_component, got %r' % (what, r))
    # random mutations: a clean refusal, or a component that invokes without crashing
    rnd = random.Random(4321)
    seen = {}
    for i in range(60):
        m = bytearray(good)
        for _ in range(rnd.randint(1, 3)):
            m[rnd.randrange(8, len(m))] = rnd.randrange(256)
        r = d.deploy('cmut%d?stub_missing_imports=true' % i, bytes(m))
        seen[r.status] = seen.get(r.status, 0) + 1
        check(r.status in (201, 400, 415), 'component mutant %d: %r' % (i, r))
        if r.status == 201:
            for export, args in (('add', [1, 2]), ('greet', ['x']), ('dist', [[1, 2]])):
                ri = d.invoke('cmut%d' % i, export, args, fuel=1000000)
                check(ri.status in (200, 400, 404, 422), 'mutant %d %s: %r' % (i, export, ri))
            d.req('DELETE', '/v1/components/cmut%d' % i, as_='alice')
    print('    60 component mutants: %s' % ', '.join('%d x %d' % kv for kv in sorted(seen.items())))
    still_serving(d)


@test('badinput')
def huge_wasm(env):
    d = bad_daemon(env)
    body = padded(env.wasm['main'], 2 << 20)      # 2 MiB > max_body_size 1 MiB
    head = ('POST /v1/components/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
            'Content-Type: application/wasm\r\nContent-Length: %d\r\n\r\n'
            % (env.keys['alice'], len(body))).encode()
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    got = b''
    try:
        s.sendall(head)
        sent = 0
        while sent < len(body):
            r, w, _ = select.select([s], [s], [], 5)
            if r:
                chunk = s.recv(65536)
                got += chunk
                if not chunk or b'\r\n\r\n' in got:
                    break
            if w:
                try:
                    sent += s.send(body[sent:sent + 65536])
                except (BrokenPipeError, ConnectionResetError):
                    break
        s.settimeout(5)
        try:
            while b'\r\n\r\n' not in got:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    check(status_of(got) == 413, '2 MiB deploy over max_body_size 1 MiB: %r' % got[:100])
    # the same through a normal client (which may see the reset while sending)
    try:
        r = d.deploy('huge', body)
        expect(r, 413, what='2 MiB deploy via http.client')
    except (BrokenPipeError, ConnectionResetError):
        pass
    expect(d.get('/v1/components/huge', as_='alice'), 404, what='huge not stored')
    # an invoke body over max_body_size
    try:
        r = d.req('POST', '/v1/components/keep/invoke', as_='alice',
                  body=b'{"export":"add","args":[1,2],"pad":"' + b'x' * (2 << 20) + b'"}')
        expect(r, 413, what='2 MiB invoke body')
    except (BrokenPipeError, ConnectionResetError):
        pass
    # a chunked body over max_body_size
    raw = raw_http(d.port, ('POST /v1/components/huge HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s'
                            '\r\nTransfer-Encoding: chunked\r\n\r\n' % env.keys['alice']).encode()
                   + b''.join(b'%x\r\n' % 65536 + b'\0' * 65536 + b'\r\n' for _ in range(20))
                   + b'0\r\n\r\n', read_timeout=5)
    check(status_of(raw) == 413, 'chunked 1.25 MiB body: %r' % raw[:80])
    expect(d.get('/v1/components/huge', as_='alice'), 404, what='huge not stored')
    still_serving(d)


@test('badinput')
def broken_json(env):
    d = bad_daemon(env)
    p = '/v1/components/keep/invoke'
    cases = [
        (b'{"export": "add", "args": [1,', 'bad_request', 'truncated JSON'),
        (b'{export: add}', 'bad_request', 'not JSON'),
        (b'[1, 2]', 'bad_request', 'an array'),
        (b'"add"', 'bad_request', 'a string'),
        (b'', 'bad_request', 'empty body'),
        (b'null', 'bad_request', 'null'),
        (b'{"args": [1, 2]}', 'bad_request', 'no export'),
        (b'{"export": 5, "args": [1, 2]}', 'bad_request', 'export not a string'),
        (b'{"export": "add", "args": {"a": 1}}', 'bad_args', 'args an object'),
        (b'{"export": "add", "args": 5}', 'bad_args', 'args a number'),
        (b'{"export": "add", "args": [1, 2], "fuel": -1}', 'bad_request', 'negative fuel'),
        (b'{"export": "add", "args": [1, 2], "fuel": "lots"}', 'bad_request', 'fuel a string'),
        (b'{"export": "add", "args": [1, 2], "fuel": 1.5}', 'bad_request', 'fuel a real'),
        (b'\xff\xfe{"export": "add"}', 'bad_request', 'not UTF-8'),
        (b'{"export": "add", "args": [1, 2]} trailing', 'bad_request', 'trailing garbage'),
        (b'{"export": "add", "args": [99999999999999999999999]}', 'bad_request', 'integer over 2^63'),
        (b'[' * 100000, 'bad_request', 'deep nesting'),
    ]
    for body, code, what in cases:
        r = d.req('POST', p, body=body, as_='alice', headers={'Content-Type': 'application/json'})
        expect(r, 400, code, what)
    still_serving(d)


@test('badinput')
def wrong_args(env):
    d = bad_daemon(env)
    cases = [
        ('add', [1], 'too few'),
        ('add', [1, 2, 3], 'too many'),
        ('add', [], 'none'),
        ('nop', [1], 'args to a nullary export'),
        ('add', ['1', 2], 'string for i32'),
        ('add', [1.5, 2], 'real for i32'),
        ('add', [True, 2], 'bool for i32'),
        ('add', [None, 2], 'null for i32'),
        ('add', [[1], 2], 'array for i32'),
        ('add', [{'v': 1}, 2], 'object for i32'),
        ('add', [4294967296, 0], 'i32 over 2^32-1'),
        ('add', [-2147483649, 0], 'i32 under -2^31'),
        ('id64', ['abc'], 'non-numeric i64 string'),
        ('id64', ['12abc'], 'i64 string with junk'),
        ('id64', [''], 'empty i64 string'),
        ('id64', ['99999999999999999999'], 'i64 string over 2^64'),
        ('id64', ['-9223372036854775809'], 'i64 string under -2^63'),
        ('id64', [1.5], 'real for i64'),
        ('idf64', ['nan'], 'lowercase nan'),
        ('idf64', ['1.5'], 'float as a string'),
        ('idf64', [True], 'bool for f64'),
    ]
    bad = []
    for export, args, what in cases:
        r = d.invoke('keep', export, args)
        if r.status != 400 or r.code != 'bad_args':
            bad.append('%s %s(%s) -> %r' % (what, export, json.dumps(args), r))
    check(not bad, 'expected 400 bad_args:\n      ' + '\n      '.join(bad))
    still_serving(d)


@test('badinput')
def unknown_exports(env):
    d = bad_daemon(env)
    for e in ('nope', '', 'ADD', 'add ', 'memory', 'x' * 10000, '\u00e9'):
        r = d.invoke('keep', e, [1, 2])
        expect(r, 404, 'export_not_found', 'export %r' % e[:20])
    still_serving(d)


@test('badinput')
def invalid_names(env):
    d = bad_daemon(env)
    wasm = const_module(1)
    bad_names = ['..%2f..%2fetc', '..%2Fx', '%2e%2e', '..', '.', '.hidden', '-dash', 'a%20b',
                 'a%00b', 'caf%C3%A9', 'a*b', 'x' * 129, 'a%2fb', '~user']
    fails = []
    for n in bad_names:
        for m, body in (('POST', wasm), ('PUT', wasm), ('GET', None), ('DELETE', None)):
            r = d.req(m, '/v1/components/' + n, as_='alice', body=body)
            if r.status != 400 or r.code != 'bad_name':
                fails.append('%s %s -> %r' % (m, n[:30], r))
        r = d.invoke(n, 'id', [])
        if r.status != 400 or r.code != 'bad_name':
            fails.append('invoke %s -> %r' % (n[:30], r))
    # empty: between the slashes
    r = d.req('POST', '/v1/components//invoke', as_='alice', body={'export': 'id'})
    if r.status != 400:
        fails.append('invoke with an empty name -> %r' % r)
    check(not fails, 'expected 400 bad_name:\n      ' + '\n      '.join(fails))
    # ../x: whatever the router makes of it, nothing is deployed outside the API
    r = d.req('POST', '/v1/components/../x', as_='alice', body=wasm)
    check(r.status in (400, 404), '/v1/components/../x -> %r' % r)
    # boundaries that are fine
    for n in ('x' * 128, 'a', 'A.b_c-9', 'a..b'):
        r = d.deploy(n, wasm)
        expect(r, 201, what='valid name %r' % n[:20])
        expect(d.invoke(n, 'id', []), 200, what='invoke %r' % n[:20])
        expect(d.req('DELETE', '/v1/components/' + n, as_='alice'), 200)
    names = [c['name'] for c in d.get('/v1/components', as_='alice').json['components']]
    check(set(names) <= {'keep'}, 'unexpected names listed after bad names: %r' % names)
    # nothing escaped data_dir
    for root, dirs, files in os.walk(d.dir):
        for f in files + dirs:
            check('etc' not in f and 'hidden' not in f, 'file %s in %s' % (f, root))
    still_serving(d)


@test('badinput')
def slow_partial_requests(env):
    d = bad_daemon(env)
    head = ('POST /v1/components/keep/invoke HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
            'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n' % env.keys['alice']).encode()
    socks = []
    # 3 slow bodies (more than the 2 workers) and 1 slow header block
    for i in range(3):
        s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
        s.sendall(head)
        socks.append(s)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(b'POST /v1/components/keep/invoke HTTP/1.1\r\n')
    socks.append(s)
    hdr_text = b'Host: x\r\nX-Slow: ' + b'y' * 100
    t0 = time.time()
    closed_at = [None] * len(socks)
    lat = []
    step = 0
    while time.time() - t0 < 5.0 and any(c is None for c in closed_at):
        for i, s in enumerate(socks):
            if closed_at[i] is not None:
                continue
            try:
                s.sendall(b' ' if i < 3 else hdr_text[step % len(hdr_text):step % len(hdr_text) + 1])
                r, _, _ = select.select([s], [], [], 0)
                if r and not s.recv(4096):
                    closed_at[i] = time.time() - t0
            except (BrokenPipeError, ConnectionResetError):
                closed_at[i] = time.time() - t0
        step += 1
        # other requests go through at once meanwhile
        r = d.invoke('keep', 'add', [1, 2], timeout=5)
        expect(r, 200, what='invoke while slow clients dribble')
        lat.append(r.elapsed * 1000)
        time.sleep(0.3)
    for s in socks:
        s.close()
    lat.sort()
    print('    invoke latency meanwhile: max %.1f ms over %d calls; slow connections closed at %s'
          % (lat[-1], len(lat), ['%.1fs' % c if c else 'open' for c in closed_at]))
    check(lat[-1] < 500, 'an invoke took %.0f ms while slow clients dribbled' % lat[-1])
    still_serving(d)
    check(all(c is not None and c < 3.0 for c in closed_at),
          'with request_timeout = 1s, connections sending 1 byte every 300 ms were still open '
          'after 5 s (closed at %s): request_timeout acts as an idle timeout per read '
          '(evhttp_set_timeout_tv in daemon/http.c wh_http_start), not as a deadline for '
          'the whole request, so a client can hold a connection forever'
          % ['%.1fs' % c if c else 'open' for c in closed_at])
    r = d.get('/metrics')
    check(metric_value(r.body.decode(), 'wharf_http_request_timeouts_total') >= 4,
          'wharf_http_request_timeouts_total counts the 4 slow connections')


@test('badinput')
def idle_partial_request(env):
    d = bad_daemon(env)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(b'POST /v1/components/keep/invoke HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{"ex')
    t0 = time.time()
    s.settimeout(5)
    try:
        data = s.recv(4096)
    except socket.timeout:
        data = None
    el = time.time() - t0
    s.close()
    check(data is not None and el < 3, 'a stalled body was not timed out (request_timeout 1s): %r after %.1fs'
          % (data, el))
    still_serving(d)


@test('badinput')
def garbage_http(env):
    d = bad_daemon(env)
    for raw in (b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + os.urandom(200),   # TLS hello
                b'GET\r\n\r\n', b'NOTAMETHOD / HTTP/1.1\r\n\r\n',
                b'GET /healthz HTTP/9.9\r\n\r\n', os.urandom(1000),
                b'POST /v1/components/keep/invoke HTTP/1.1\r\nContent-Length: -5\r\n\r\n'):
        out = raw_http(d.port, raw, read_timeout=3)
        st = status_of(out)
        check(st is None or st >= 400, 'garbage %r answered %r' % (raw[:20], out[:40]))
    still_serving(d)


@test('badinput')
def huge_headers(env):
    d = bad_daemon(env)
    rss0 = proc_figures(d.pid())[0]
    hdr = b'GET /healthz HTTP/1.1\r\nHost: x\r\n' + b''.join(
        b'X-Pad-%d: %s\r\n' % (i, b'a' * 8000) for i in range(1024)) + b'\r\n'   # 8 MiB of headers
    try:
        out = raw_http(d.port, hdr, read_timeout=5)
    except (BrokenPipeError, ConnectionResetError):
        out = b''
    rss1 = proc_figures(d.pid())[0]
    st = status_of(out)
    print('    8 MiB of headers: %s; RSS %d -> %d KiB' % (st or 'closed', rss0, rss1))
    still_serving(d)
    check(st is None or st >= 400,
          '8 MiB of request headers answered %s: header size is unbounded (no '
          'evhttp_set_max_headers_size in daemon/http.c wh_http_start), so one client can make '
          'the I/O thread buffer any amount' % st)


@test('badinput')
def nothing_lost(env):
    d = bad_daemon(env)
    after = {t: d.get('/v1/components', as_=t).json for t in ('alice', 'bob')}
    check(after == BAD['before'], 'stored components changed by bad input:\n  before %r\n  after  %r'
          % (BAD['before'], after))
    r = d.get('/v1/components/keep', as_='alice')
    check(r.status == 200 and r.json['version'] == 2, 'keep %r' % r)
    r = d.invoke('keepb', 'id', [], as_='bob')
    check(r.status == 200 and r.json['result'] == 5, 'keepb %r' % r)
    check(d.stop() == 0, 'exit status after all the bad input')
    d.start()
    after = {t: d.get('/v1/components', as_=t).json for t in ('alice', 'bob')}
    check(after == BAD['before'], 'stored components changed across a restart:\n  %r\n  %r'
          % (BAD['before'], after))


# ---------------------------------------------------------------------------
# group: crash


@test('crash')
def sigkill_during_deploys(env):
    rounds = 5
    d = Wharfd(env, 'crash', server={'workers': '2'})
    attempts = {}        # name -> {digest: n}
    acked = {}           # name -> max acked version
    acked_digest = {}    # (name, version) -> digest
    seen_max = {}        # name -> max version ever observed
    lock = threading.Lock()
    counter = [0]
    violations = []
    total = [0, 0]       # acks, errors

    def deployer(tid, stop):
        c = None
        while not stop.is_set():
            with lock:
                counter[0] += 1
                n = tid * 1000000 + counter[0]
            name = 't%d-%d' % (tid, n % 5)
            wasm = const_module(n)
            dg = hashlib.sha256(wasm).hexdigest()
            with lock:
                attempts.setdefault(name, {})[dg] = n
            try:
                r = d.deploy(name, wasm, as_='alice' if tid == 0 else 'bob', timeout=10)
            except (OSError, http.client.HTTPException):
                with lock:
                    total[1] += 1
                time.sleep(0.02)
                continue
            if r.status != 201:
                with lock:
                    violations.append('deploy %s: %r' % (name, r))
                continue
            v = r.json['version']
            with lock:
                total[0] += 1
                if v <= seen_max.get((tid, name), 0):
                    violations.append('%s: version %d after %d (not monotonic)'
                                      % (name, v, seen_max[(tid, name)]))
                seen_max[(tid, name)] = v
                acked[(tid, name)] = max(acked.get((tid, name), 0), v)
                acked_digest[(tid, name, v)] = dg

    def verify(round_no):
        # on disk: no temp file left, every blob under its final name whole
        blobs = os.path.join(d.data_dir, 'blobs')
        for root, _, files in os.walk(blobs):
            for f in files:
                check(not f.endswith('.tmp'), 'round %d: temp file %s left after restart' % (round_no, f))
                if len(f) == 64:
                    with open(os.path.join(root, f), 'rb') as fh:
                        check(hashlib.sha256(fh.read()).hexdigest() == f,
                              'round %d: blob %s does not hash to its name (half-written)' % (round_no, f))
        for t, tenant in ((0, 'alice'), (1, 'bob')):
            r = d.get('/v1/components', as_=tenant)
            expect(r, 200, what='list after restart %d' % round_no)
            listed = {c['name']: c for c in r.json['components']}
            for c in listed.values():
                check(c['digest'] in attempts.get(c['name'], {}),
                      'round %d: %s/%s has digest %s we never sent' % (round_no, tenant, c['name'], c['digest']))
            for (tid, name), v in acked.items():
                if tid != t:
                    continue
                check(name in listed, 'round %d: %s/%s (acked v%d) missing after SIGKILL'
                      % (round_no, tenant, name, v))
                r = d.get('/v1/components/' + name, as_=tenant)
                expect(r, 200, what='GET %s after restart %d' % (name, round_no))
                got_v = r.json['version']
                check(got_v >= v, 'round %d: %s version %d < acked %d' % (round_no, name, got_v, v))
                if got_v == v:
                    check(r.json['digest'] == acked_digest[(tid, name, v)],
                          'round %d: %s v%d digest differs from the acked deploy' % (round_no, name, v))
                seen_max[(tid, name)] = max(seen_max.get((tid, name), 0), got_v)
                want = attempts[name].get(r.json['digest'])
                ri = d.invoke(name, 'id', [], as_=tenant)
                check(ri.status == 200 and ri.json['result'] == want,
                      'round %d: invoke %s: %r, want %r' % (round_no, name, ri, want))

    d.start()
    rnd = random.Random()
    for rnd_no in range(1, rounds + 1):
        stop = threading.Event()
        ts = [threading.Thread(target=deployer, args=(i, stop), daemon=True) for i in range(2)]
        for t in ts:
            t.start()
        time.sleep(rnd.uniform(0.4, 1.2))
        d.signal(signal.SIGKILL)
        d.proc.wait(5)
        stop.set()
        for t in ts:
            t.join(15)
        check(not violations, 'round %d: %s' % (rnd_no, '; '.join(violations[:5])))
        d.start()
        verify(rnd_no)
    print('    %d rounds: %d deploys acknowledged, %d cut off by SIGKILL, %d names'
          % (rounds, total[0], total[1], len(acked)))
    check(total[0] > 10, 'only %d deploys acknowledged in %d rounds' % (total[0], rounds))
    # versions continue after the last restart
    for (tid, name), v in list(acked.items())[:4]:
        tenant = 'alice' if tid == 0 else 'bob'
        r = d.deploy(name, const_module(7), as_=tenant)
        check(r.status == 201 and r.json['version'] > seen_max[(tid, name)],
              '%s redeploy after restarts: %r (seen v%d)' % (name, r, seen_max[(tid, name)]))
    check(d.stop() == 0, 'exit status')


# ---------------------------------------------------------------------------
# group: soak


def proc_figures(pid):
    rss = None
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                rss = int(line.split()[1])
    return rss, len(os.listdir('/proc/%d/fd' % pid))


@test('soak')
def soak(env):
    seconds = env.soak_seconds
    warm = max(2.0, seconds * 0.2)
    d = Wharfd(env, 'soak', server={'workers': '2', 'queue_depth': '4096'})
    d.start()
    expect(d.deploy('calc', env.wasm['main']), 201)
    stop = threading.Event()
    stats = [dict(ok=0, err=0, other={}) for _ in range(4)]
    mix = [('add', [1, 2], 200), ('nop', [], 200), ('hello', [], 200), ('div', [1, 0], 422),
           ('poke', [5], 200), ('multi', [1], 200)]

    def client(i):
        c = d.conn(10)
        k = 0
        while not stop.is_set():
            e, a, want = ('add', [1, 2], 200) if i else mix[k % len(mix)]
            k += 1
            try:
                r = d.invoke('calc', e, a, conn=c)
                if r.status == want:
                    stats[i]['ok'] += 1
                else:
                    stats[i]['err'] += 1
                    key = '%s %d' % (e, r.status)
                    stats[i]['other'][key] = stats[i]['other'].get(key, 0) + 1
            except (OSError, http.client.HTTPException) as ex:
                stats[i]['err'] += 1
                key = type(ex).__name__
                stats[i]['other'][key] = stats[i]['other'].get(key, 0) + 1
                c.close()
                c = d.conn(10)
        c.close()

    ts = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(4)]
    t0 = time.time()
    for t in ts:
        t.start()
    time.sleep(warm)
    rss0, fd0 = proc_figures(d.pid())
    n0 = sum(s['ok'] for s in stats)
    time.sleep(seconds - warm)
    rss1, fd1 = proc_figures(d.pid())
    n1 = sum(s['ok'] for s in stats)
    stop.set()
    for t in ts:
        t.join(15)
    el = time.time() - t0
    errs = sum(s['err'] for s in stats)
    other = {}
    for s in stats:
        for k, v in s['other'].items():
            other[k] = other.get(k, 0) + v
    growth = (rss1 - rss0) * 100.0 / rss0
    print('    %.0fs, 4 clients: %d ok, %d errors %s; %.0f req/s after warm-up'
          % (el, n1, errs, other or '', (n1 - n0) / (seconds - warm)))
    print('    RSS %d KiB at warm-up end (%.0fs), %d KiB at the end: %+.1f%%; fds %d -> %d'
          % (rss0, warm, rss1, growth, fd0, fd1))
    check(errs == 0, '%d errors: %r' % (errs, other))
    if os.environ.get('WHARF_SANITIZED'):
        # ASan's quarantine keeps freed memory on purpose: RSS says nothing
        # about leaks there (LeakSanitizer does, at exit)
        print('    (sanitizer build: RSS growth reported, not checked)')
    else:
        check(growth < 10.0, 'RSS grew %.1f%% (%d -> %d KiB)' % (growth, rss0, rss1))
    check(fd1 <= fd0, 'fds grew %d -> %d' % (fd0, fd1))
    check(d.stop() == 0, 'exit status')


# ---------------------------------------------------------------------------
# main

GROUPS = ['api', 'limits', 'ops', 'badinput', 'crash', 'soak', 'components']


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--wharfd', required=True)
    ap.add_argument('--soak-seconds', type=float, default=float(os.environ.get('WHARFD_SOAK_SECONDS', 10)))
    ap.add_argument('-k', dest='only', help='run only tests whose name contains this')
    ap.add_argument('--io-threads', type=int, default=0,
                    help='run every wharfd with this many I/O threads (default: its config default)')
    ap.add_argument('--tier', choices=('interp', 'native', 'auto'),
                    help='run every wharfd with [engine] tier = TIER (default: its config default)')
    ap.add_argument('-v', dest='verbose', action='store_true')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('--components', help='where tests/components/build.sh builds the test '
                    'components (default: tests/components beside wharfd)')
    ap.add_argument('groups', nargs='+')
    args = ap.parse_args()
    groups = GROUPS if 'all' in args.groups else args.groups
    for g in groups:
        if g not in GROUPS:
            ap.error('unknown group %s (one of %s)' % (g, ' '.join(GROUPS)))
    for tool in ('wat2wasm', 'openssl'):
        if not shutil.which(tool):
            print('SKIP: %s not found (Debian: apt-get install wabt openssl)' % tool)
            return SKIP_RC
    if not os.access(args.wharfd, os.X_OK):
        print('FAIL: %s is not an executable (build the wharfd target)' % args.wharfd)
        return 1
    env = Env(args)
    env.compile_fixtures()
    passed = failed = skipped = 0
    t_all = time.time()
    try:
        for group, name, fn in TESTS:
            if group not in groups or (args.only and args.only not in name):
                continue
            full = '%s.%s' % (group, name)
            t0 = time.time()
            first = len(ALL_DAEMONS)
            try:
                fn(env)
                passed += 1
                print('PASS %s (%.1fs)' % (full, time.time() - t0))
            except Skip as e:
                skipped += 1
                print('SKIP %s: %s' % (full, e))
            except Exception as e:  # noqa
                failed += 1
                msg = str(e) if isinstance(e, Fail) else '%s: %s' % (type(e).__name__, e)
                print('FAIL %s (%.1fs): %s' % (full, time.time() - t0, msg))
                # the logs of the daemons this test started (a shared one only with -v)
                for dm in ALL_DAEMONS[first:] if not args.verbose else ALL_DAEMONS:
                    print('  %s log tail:\n%s' % (dm.label, dm.log_tail(12)))
            # a daemon that died on its own during the test is a failure of its own
            for dm in ALL_DAEMONS:
                if dm.died():
                    failed += 1
                    print('FAIL %s: wharfd (%s) died during the test, exit status %s\n%s'
                          % (full, dm.label, dm.proc.returncode, dm.log_tail(15)))
            sys.stdout.flush()
    finally:
        for dm in ALL_DAEMONS:
            if dm.alive():
                try:
                    dm.stop(10)
                except Fail:
                    pass
            dm.kill()
        if not args.keep:
            shutil.rmtree(env.tmp, ignore_errors=True)
        else:
            print('kept %s' % env.tmp)
    print('%d passed, %d failed, %d skipped (%.1fs)' % (passed, failed, skipped, time.time() - t_all))
    if failed:
        return 1
    if passed == 0 and skipped:
        return SKIP_RC
    return 0


if __name__ == '__main__':
    sys.exit(main())
