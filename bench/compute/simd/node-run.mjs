// node-run.mjs - calls one export of a wasm module that needs no imports
// under node's V8 and prints its i32 result (bench/compute/simd/run.sh).
//
//   node --no-warnings node-run.mjs FILE.wasm EXPORT N
import { readFile } from 'node:fs/promises';
import process from 'node:process';

const [file, name, n] = process.argv.slice(2);
if (!file || !name || n === undefined) {
  process.stderr.write('usage: node node-run.mjs FILE.wasm EXPORT N\n');
  process.exit(2);
}
const { instance } = await WebAssembly.instantiate(await readFile(file), {});
const f = instance.exports[name];
if (typeof f !== 'function') {
  process.stderr.write(`node-run.mjs: ${file}: no exported function ${name}\n`);
  process.exit(2);
}
console.log(f(Number(n)) | 0);
