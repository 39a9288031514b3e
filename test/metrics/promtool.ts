import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** promtool (Debian package `prometheus`), from PROMTOOL or the PATH; undefined when absent. */
export const PROMTOOL: string | undefined = (() => {
  const candidates = [process.env.PROMTOOL, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'promtool'))];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not there
    }
  }
  return undefined;
})();

const MISSING = 'promtool is not on PATH (Debian/Ubuntu: apt-get install prometheus; or set PROMTOOL)';

/**
 * promtool for a test that needs it. Without it the test fails under CI (CI=true), where
 * the test command installs it, and is skipped elsewhere, saying so.
 */
export function needPromtool(ctx: { skip: (note?: string) => never }): string {
  if (PROMTOOL) return PROMTOOL;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${MISSING}: required when CI is set`);
  console.warn(`skipped: ${MISSING}`);
  return ctx.skip(MISSING);
}

/** Runs promtool; its exit code and everything it printed. */
export function runPromtool(bin: string, args: string[], opts: { input?: string; cwd?: string } = {}): { code: number | null; output: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  if (r.error) throw r.error;
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}
