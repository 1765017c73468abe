// node-run.mjs CALLS.wasm EXPORT N: calls EXPORT(N) once to warm up (and
// let V8 tier up), then times one more call; prints "RESULT SECONDS".
import fs from 'node:fs';
const [file, name, n] = process.argv.slice(2);
const { instance } = await WebAssembly.instantiate(fs.readFileSync(file));
const f = instance.exports[name];
f(Number(n) >>> 4);
const t0 = process.hrtime.bigint();
const r = f(Number(n));
const t1 = process.hrtime.bigint();
console.log(`${r} ${Number(t1 - t0) / 1e9}`);
