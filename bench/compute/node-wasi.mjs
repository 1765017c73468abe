// node-wasi.mjs - runs a WASI preview1 command under node's V8, the
// benchmark peer for bench/compute/run.sh.
//
//   node --no-concurrent-marking --no-warnings node-wasi.mjs FILE.wasm [ARGS...]
//
// The guest sees ARGS as argv[1..], no environment and no preopened
// directories; its exit status becomes node's.  (--no-concurrent-marking:
// node 20 can crash at exit after wasm with large memories otherwise.)
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { WASI } from 'node:wasi';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node node-wasi.mjs FILE.wasm [ARGS...]\n');
  process.exit(2);
}
const wasi = new WASI({ version: 'preview1', args: [file, ...args], env: {},
                        returnOnExit: true });
const module = await WebAssembly.compile(await readFile(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
