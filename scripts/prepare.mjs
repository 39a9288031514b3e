// npm's "prepare" step: compiles src/ into dist/. A production install (npm ci --omit=dev, as
// in the container image) may have no compiler, or no sources, and needs neither: its dist/
// comes from a build.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc) || !existsSync(join(root, 'tsconfig.build.json'))) {
  console.error('hookwarden: no TypeScript compiler or no sources (a production install): dist/ is not built here');
  process.exit(0);
}
const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
