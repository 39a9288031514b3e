import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/store/migrate.js';
import { ROOT } from '../fixtures/cli.js';

/**
 * No container engine runs here: the Dockerfile is linted (dockerfile-utils, the parser
 * behind the Docker language server) and held to the rules the image must keep.
 */

const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions, continuation lines joined, comments and parser directives dropped. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!.trim();
    if (!line || line.startsWith('#')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i]!.trim();
      line = `${line.slice(0, -1).trimEnd()} ${next.startsWith('#') ? '' : next}`.trimEnd();
    }
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!, line: start + 1 });
  }
  return out;
}

function stages(text: string): Stage[] {
  const out: Stage[] = [];
  for (const ins of instructions(text)) {
    if (ins.keyword === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      out.push({ image: m[1]!, name: m[2], instructions: [] });
    } else out.at(-1)?.instructions.push(ins);
  }
  return out;
}

const all = stages(DOCKERFILE);
const build = all[0]!;
const runtime = all.at(-1)!;
const last = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword).at(-1);
const runs = (s: Stage) => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
/** An exec-form (JSON array) argument list. */
const execForm = (args: string) => JSON.parse(args) as string[];

/** .dockerignore as Docker reads it: the last pattern that matches a path or one of its parent directories decides. */
function ignored(path: string): boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      return { negate, re: new RegExp(`^${source}$`) };
    });
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let out = false;
  for (const r of rules) if (candidates.some((c) => r.re.test(c))) out = !r.negate;
  return out;
}

describe('Dockerfile', () => {
  it('lints clean with dockerfile-utils, strict settings', () => {
    const diagnostics = validate(DOCKERFILE, {
      deprecatedMaintainer: ValidationSeverity.ERROR,
      directiveCasing: ValidationSeverity.ERROR,
      emptyContinuationLine: ValidationSeverity.ERROR,
      instructionCasing: ValidationSeverity.ERROR,
      instructionCmdMultiple: ValidationSeverity.ERROR,
      instructionEntrypointMultiple: ValidationSeverity.ERROR,
      instructionHealthcheckMultiple: ValidationSeverity.ERROR,
      instructionJSONInSingleQuotes: ValidationSeverity.ERROR,
      instructionWorkdirRelative: ValidationSeverity.ERROR,
    });
    expect(diagnostics.map((d) => `line ${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('builds in two stages, both on Node.js 24 LTS', () => {
    expect(all.length).toBeGreaterThanOrEqual(2);
    for (const s of all) expect(s.image).toMatch(/^node:24(?:[.-]|$)/);
    expect(build.name, 'the build stage is named, for COPY --from').toBeTruthy();
  });

  it('compiles with dev dependencies in the build stage and ships production dependencies only', () => {
    // The build stage installs everything (no --omit), generates the Prisma client and compiles.
    expect(runs(build).some((r) => /\bnpm ci\b/.test(r) && !/--omit/.test(r))).toBe(true);
    expect(runs(build).some((r) => /prisma-generate\.mjs/.test(r) && /npm run build/.test(r))).toBe(true);
    const install = runs(runtime).find((r) => /\bnpm ci\b/.test(r));
    expect(install).toMatch(/--omit=dev\b/);
    // The runtime's install runs the project's own install steps: they must skip there (no compiler, no schema).
    expect(install).not.toMatch(/--ignore-scripts/);
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContainEqual(expect.stringMatching(new RegExp(`^--from=${build.name} /app/dist \\./dist$`)));
    // Before the install, the runtime stage has the scripts npm's postinstall and prepare call.
    const scriptsAt = runtime.instructions.findIndex((i) => i.keyword === 'COPY' && /^scripts\b/.test(i.args));
    const installAt = runtime.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    expect(scriptsAt).toBeGreaterThanOrEqual(0);
    expect(scriptsAt).toBeLessThan(installAt);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const hook of ['postinstall', 'prepare']) expect(pkg.scripts[hook], hook).toMatch(/^node scripts\/[\w-]+\.mjs$/);
  });

  it('ships the migrations where the compiled code looks for them, and starts with `run`, which applies them', () => {
    expect(last(runtime, 'WORKDIR')?.args).toBe('/app');
    const copies = runtime.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    expect(copies).toContain('prisma ./prisma');
    // dist/store/migrate.js looks two directories up, as src/store/migrate.ts does.
    expect(MIGRATIONS_DIR).toBe(join(ROOT, 'prisma', 'migrations'));
    expect(execForm(last(runtime, 'ENTRYPOINT')!.args)).toEqual(['node', 'bin/hookwarden.js']);
    expect(execForm(last(runtime, 'CMD')!.args)).toEqual(['run', '-c', '/etc/hookwarden/config.yaml']);
  });

  it('runs as an unprivileged user, by number (Kubernetes can check runAsNonRoot only then)', () => {
    const user = last(runtime, 'USER')?.args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user!.split(':')[0])).toBeGreaterThan(0);
    // Nothing after USER switches back.
    const at = runtime.instructions.findIndex((i) => i.keyword === 'USER');
    expect(runtime.instructions.slice(at).filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('stops on SIGTERM and checks /healthz with Node.js itself (slim images have no curl)', () => {
    expect(last(runtime, 'STOPSIGNAL')?.args).toBe('SIGTERM');
    const hc = last(runtime, 'HEALTHCHECK')!.args;
    expect(hc).toMatch(/--timeout=\d+s/);
    const cmd = execForm(hc.replace(/^(--\S+\s+)*CMD\s+/, ''));
    expect(cmd.slice(0, 2)).toEqual(['node', '-e']);
    expect(hc).not.toMatch(/\b(curl|wget)\b/);
    const url = /HOOKWARDEN_HEALTHCHECK_URL=(\S+)/.exec(runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.args).join(' '))?.[1];
    expect(cmd[2]).toContain('process.env.HOOKWARDEN_HEALTHCHECK_URL');
    expect(new URL(url!).pathname).toBe('/healthz');
    expect(last(runtime, 'EXPOSE')?.args).toBe(new URL(url!).port);
  });

  it('sends the build only what it copies: no node_modules, build output, local data or secrets', () => {
    for (const p of ['node_modules/pg/package.json', 'dist/main.js', '.git/HEAD', '.hookwarden/demo/demo.yaml', '.cache/node24/x', 'src/generated/prisma/client.ts', '.test-results.json', 'test-output/apt.log', 'test/store/store.test.ts', '.env']) {
      expect(ignored(p), p).toBe(true);
    }
    const sources = all
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).filter((a) => !a.startsWith('--')).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(existsSync(join(ROOT, s)), `${s} exists`).toBe(true);
      expect(ignored(s), `${s} is in the build context`).toBe(false);
    }
    for (const p of ['src/main.ts', 'prisma/migrations/migration_lock.toml', 'scripts/prisma-generate.mjs', 'scripts/prepare.mjs', 'scripts/schema-engine-stub', 'bin/hookwarden.js']) {
      expect(ignored(p), p).toBe(false);
    }
  });
});
