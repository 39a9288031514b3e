// Runs `prisma generate` without downloading Prisma's native schema engine:
// generation does not need it, but the CLI insists that the binary exists.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= join(root, 'scripts', 'schema-engine-stub');
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const cli = join(root, 'node_modules', 'prisma', 'build', 'index.js');
const res = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(res.status ?? 1);
