#!/usr/bin/env node
// The hookwarden command: the compiled CLI (npm install builds it into dist/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const compiled = new URL('../dist/cli/index.js', import.meta.url);
if (!existsSync(fileURLToPath(compiled))) {
  process.stderr.write('hookwarden: dist/ is missing; run "npm install" (or "npm run build") first\n');
  process.exit(1);
}
await import(compiled.href);
