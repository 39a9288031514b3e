import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Result {
  lapsed: { subscriptions: number };
  duplicates: { identities: number };
  actionsTwice: { count: number; details: unknown[] };
  secrets: { found: number };
  replicas: { count: number; aliveAtEnd: number };
  logs: string;
}

/**
 * The short chaos run (chaos/run.ts --short): two replicas over sandboxes that fail a fifth
 * of their calls, with kills, a Postgres restart and a SIGSTOP past the lease. The harness
 * holds a machine-wide lock, so two runs never overlap; this file holds one test only.
 */
describe.sequential('chaos, short form', () => {
  it('no subscription lapses, no duplicate, no action twice, no secret in a log', { timeout: 240_000, retry: 0 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookwarden-chaos-test-'));
    const out = join(dir, 'result.json');
    try {
      const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
        // CHAOS_ARGS adds options (e.g. a smaller run while working on the harness).
        const extra = (process.env.CHAOS_ARGS ?? '').split(' ').filter(Boolean);
        const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'chaos', 'run.ts'), '--short', '--out', out, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d) => (output += d));
        child.stderr.on('data', (d) => (output += d));
        const timer = setTimeout(() => child.kill('SIGINT'), 230_000);
        child.on('close', (c) => {
          clearTimeout(timer);
          resolve({ code: c, output });
        });
      });
      let result: Result;
      try {
        result = JSON.parse(readFileSync(out, 'utf8')) as Result;
      } catch {
        throw new Error(`the chaos run wrote no result (exit ${code}):\n${output.slice(-4000)}`);
      }
      const columns = {
        lapsed: result.lapsed.subscriptions,
        duplicates: result.duplicates.identities,
        actionsTwice: result.actionsTwice.count,
        secretsInLogs: result.secrets.found,
      };
      const twice = result.actionsTwice.details.length ? `\nactions twice: ${JSON.stringify(result.actionsTwice.details, null, 1)}` : '';
      expect(columns, `${output.slice(-3000)}${twice}\nreplica logs: ${result.logs}`).toEqual({ lapsed: 0, duplicates: 0, actionsTwice: 0, secretsInLogs: 0 });
      expect(result.replicas.aliveAtEnd).toBe(result.replicas.count);
      // The table, for whoever reads the test output.
      console.log(output.slice(output.indexOf('+--')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
