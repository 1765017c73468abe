#!/usr/bin/env python3
"""Components built at test time, run through `wharf invoke` on the real
WASI 0.2 host (issue 5's acceptance for toolchain-built components).

    test_components.py --wharf build/wharf --dir build/tests/components

Builds (or reuses) the components with tests/components/build.sh, then:
  clock_random.wasm (C, wasi-libc + the preview1 adapter): prints to
    stdout and stderr, reads the wall clock (near now) and the monotonic
    clock (moves over a 2 ms sleep), draws random bytes (different every
    call), sees only the arguments and environment it is given, exits.
  calc_js.wasm (componentize-js): add(s32, s32) -> s32,
    greet(string) -> string, console.log to stdout.
Neither is linked to stubs: `wharf invoke` must link every WASI import.

`wharf invoke` prints the guest's stdout as it runs, then the JSON result
on the last line; the guest's stderr goes to stderr.

Output: one PASS/FAIL/SKIP line per test, then "N passed, M failed,
K skipped".  Exit status 0, 1 (a failure), 77 (the tools or the test data
are missing: nothing ran).
"""
import argparse
import json
import os
import subprocess
import sys
import time

SKIP_RC = 77
HERE = os.path.dirname(os.path.abspath(__file__))


class Skip(Exception):
    pass


class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


class Invoker:
    def __init__(self, wharf, path):
        self.wharf = wharf
        self.path = path

    def run(self, export, args=None, timeout=300):
        """(returncode, guest stdout, result or None, stderr)."""
        cmd = [self.wharf, 'invoke', self.path, export, json.dumps(args or [])]
        r = subprocess.run(cmd, capture_output=True, timeout=timeout)
        out = r.stdout.decode('utf-8', 'replace')
        result = None
        if r.returncode == 0:
            body, _, last = out.rstrip('\n').rpartition('\n')
            try:
                result = json.loads(last)
            except ValueError:
                raise Fail('%s: the last line of stdout is not JSON: %r' % (export, out[-300:]))
            out = body + '\n' if body else ''
        return r.returncode, out, result, r.stderr.decode('utf-8', 'replace')

    def ok(self, export, args=None):
        rc, out, result, err = self.run(export, args)
        check(rc == 0, '%s(%s): exit status %d, stderr %r' % (export, args, rc, err[-500:]))
        return out, result, err


WASI_HOST = ('wasi:cli/', 'wasi:io/', 'wasi:clocks/', 'wasi:random/', 'wasi:filesystem/',
             'wasi:sockets/')


def check_imports(wharf, path, must):
    """`wharf invoke` links what it lacks to trapping stubs: make sure
    every import of the component is one the WASI 0.2 host defines, so
    nothing the test calls can be a stub; `must` are interfaces it has to
    import."""
    r = subprocess.run([wharf, 'inspect', path], capture_output=True, text=True)
    check(r.returncode == 0, 'wharf inspect %s: %s' % (path, r.stderr))
    world = r.stdout.split('world root {', 1)[-1].split('}', 1)[0]
    imports = [l.strip()[len('import '):].rstrip(';') for l in world.splitlines()
               if l.strip().startswith('import ')]
    check(imports, 'no imports found in %r' % r.stdout[:500])
    bad = [i for i in imports if not i.startswith(WASI_HOST)]
    check(not bad, 'imports the WASI 0.2 host does not define: %r' % bad)
    for m in must:
        check(any(i.startswith(m + '@0.2.') for i in imports), 'does not import %s: %r' % (m, imports))


def as_u64(v):
    return int(v) if isinstance(v, str) else v


def build(outdir, which):
    r = subprocess.run(['bash', os.path.join(HERE, 'build.sh'), outdir, which],
                       capture_output=True, text=True)
    if r.returncode == SKIP_RC:
        raise Skip(r.stdout.strip() or 'build.sh skipped')
    if r.returncode != 0:
        raise Fail('build.sh %s failed:\n%s%s' % (which, r.stdout, r.stderr[-3000:]))
    return os.path.join(outdir, {'c': 'clock_random.wasm', 'js': 'calc_js.wasm'}[which])


def test_c(wharf, outdir):
    c = Invoker(wharf, build(outdir, 'c'))
    check_imports(wharf, c.path, ('wasi:cli/stdout', 'wasi:cli/stderr', 'wasi:clocks/wall-clock',
                                  'wasi:clocks/monotonic-clock', 'wasi:random/random',
                                  'wasi:io/poll', 'wasi:cli/exit'))
    out, result, err = c.ok('print', ['hello from C'])
    check(out == 'hello from C\n' and result is None, 'print: stdout %r, result %r' % (out, result))
    out, result, err = c.ok('eprint', ['to stderr'])
    check(out == '' and 'to stderr\n' in err, 'eprint: stdout %r, stderr %r' % (out, err))

    _, result, _ = c.ok('clocks')
    now = time.time()
    wall, mono1, mono2 = (as_u64(v) for v in result)
    check(abs(wall / 1e9 - now) < 30, 'wall clock %d ns is not near now (%.0f s)' % (wall, now))
    check(2 * 10**6 <= mono2 - mono1 < 10 * 10**9,
          'the monotonic clock moved %d ns over a 2 ms sleep' % (mono2 - mono1))
    _, again, _ = c.ok('clocks')
    check(as_u64(again[0]) >= wall, 'the wall clock went back: %r then %r' % (result, again))

    draws = []
    for _ in range(3):
        _, b, _ = c.ok('random', [32])
        check(isinstance(b, list) and len(b) == 32 and all(0 <= x < 256 for x in b),
              'random(32): %r' % b)
        draws.append(bytes(b))
    check(len(set(draws)) == 3, 'three random(32) draws are not all different: %r' % draws)
    _, big, _ = c.ok('random', [5000])
    check(len(big) == 5000 and len(set(big)) > 200,
          'random(5000): %d bytes, %d distinct values' % (len(big), len(set(big))))

    # nothing of wharf's own environment or arguments reaches the guest
    _, argv, _ = c.ok('args')
    check(isinstance(argv, list) and len(argv) <= 1, 'args: %r' % argv)
    os.environ['WHARF_TEST_SECRET'] = 'leaked'
    _, v, _ = c.ok('getenv', ['WHARF_TEST_SECRET'])
    check(v is None, 'the host environment leaked into the guest: %r' % v)
    _, v, _ = c.ok('getenv', ['PATH'])
    check(v is None, 'PATH leaked into the guest: %r' % v)

    rc, out, _, err = c.run('quit', [3])
    check(rc != 0 and out.startswith('exiting\n'),
          'quit(3): exit status %d (want non-zero), stdout %r, stderr %r' % (rc, out, err[-300:]))


def test_js(wharf, outdir):
    j = Invoker(wharf, build(outdir, 'js'))
    check_imports(wharf, j.path, ('wasi:cli/stdout', 'wasi:random/random', 'wasi:io/streams'))
    # each `wharf invoke` compiles the 12 MB component again: few calls
    for export, args, want in (('add', [2, 40], 42), ('add', [-5, 3], -2),
                               ('greet', ['W\u00f6rld \U0001f600'], 'Hello, W\u00f6rld \U0001f600')):
        _, result, _ = j.ok(export, args)
        check(result == want, '%s(%r): want %r, got %r' % (export, args, want, result))
    out, result, _ = j.ok('log', ['from JS'])
    check(out == 'from JS\n' and result is None, 'log: stdout %r, result %r' % (out, result))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--wharf', required=True)
    ap.add_argument('--dir', required=True, help='where build.sh puts the components')
    ap.add_argument('which', nargs='*', default=['c', 'js'])
    args = ap.parse_args()
    if not os.access(args.wharf, os.X_OK):
        print('FAIL: %s is not an executable (build the wharf-cli target)' % args.wharf)
        return 1
    tests = {'c': test_c, 'js': test_js}
    passed = failed = skipped = 0
    for name in args.which:
        t0 = time.time()
        try:
            tests[name](os.path.abspath(args.wharf), os.path.abspath(args.dir))
            passed += 1
            print('PASS %s (%.1fs)' % (name, time.time() - t0))
        except Skip as e:
            skipped += 1
            print('SKIP %s: %s' % (name, e))
        except Exception as e:  # noqa
            failed += 1
            print('FAIL %s (%.1fs): %s' % (name, time.time() - t0,
                                          e if isinstance(e, Fail) else '%s: %s' % (type(e).__name__, e)))
        sys.stdout.flush()
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    if failed:
        return 1
    return SKIP_RC if passed == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
