// Runs `prisma generate` without downloading Prisma's native schema engine:
// generation does not need it, but the CLI insists that the binary exists.
// A production install (npm ci --omit=dev, as in the container image) has no Prisma CLI, or
// no schema, and needs neither: the generated client is compiled into dist/ by the build.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= join(root, 'scripts', 'schema-engine-stub');
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const cli = join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!existsSync(cli) || !existsSync(join(root, 'prisma', 'schema.prisma'))) {
  console.error('hookwarden: no Prisma CLI or no prisma/schema.prisma (a production install): the client is not generated here');
  process.exit(0);
}
const res = spawnSync(process.execPath, [cli, 'generate'], { cwd: root, env, stdio: 'inherit' });
process.exit(res.status ?? 1);
