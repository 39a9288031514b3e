#!/usr/bin/env node
// The hookwarden command: the compiled CLI (npm install builds it into dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

// WebAssembly (the Prisma client's query compiler, undici's HTTP parser) is run by V8's
// baseline compiler only: optimising it took about 100 MB of resident memory for no CPU
// gained (see README, "Memory"). Set before any module is compiled. HOOKWARDEN_WASM_OPTIMIZE=1
// leaves V8's default, and so does a --liftoff or --wasm flag given to node itself.
const operatorFlags = process.execArgv.map((f) => f.replaceAll('_', '-'));
const ownWasmFlag = operatorFlags.some((f) => /^--(no-)?(liftoff|wasm)/.test(f));
if (process.env.HOOKWARDEN_WASM_OPTIMIZE !== '1' && !ownWasmFlag) v8.setFlagsFromString('--liftoff-only');

const compiled = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('hookwarden: dist/ is missing; run "npm install" (or "npm run build") first\n');
  process.exit(1);
}
await import(compiled.href);
