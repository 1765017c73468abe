// embed.mjs CORE.wasm WIT WORLD OUT.wasm - `jco embed` with a world chosen
// by name (jco 1.x's `embed -n` does not pass the name on, so a package
// with two worlds, like store.wit, cannot be embedded through the CLI).
// Run with node --import jco-preopen.mjs, JCO_MODULES=<node_modules>.
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [core, wit, world, out] = process.argv.slice(2);
const mods = process.env.JCO_MODULES;
const { componentEmbed } = await import(
  resolve(mods, '@bytecodealliance/jco-transpile/dist/wasm-tools.js'));
const bytes = await componentEmbed({
  binary: await readFile(core),
  witPath: resolve(wit),
  world,
});
await writeFile(out, bytes);
