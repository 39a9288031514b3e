import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freePort } from '../../src/store/embedded.js';
import { spawnCli, waitFor, writeTemp } from '../fixtures/cli.js';
import { freshDatabase } from '../fixtures/db.js';
import { infinityYaml, testEnv } from '../fixtures/stack.js';

let sandbox: InfinitySandbox;
beforeAll(async () => {
  sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 300 });
  await sandbox.listen();
});
afterAll(() => sandbox.close());

async function setup() {
  const db = await freshDatabase(false);
  const clientId = `client-${Math.random().toString(36).slice(2, 10)}`;
  const port = await freePort();
  const yaml = (names: string[]) =>
    `database:\n  url: ${db.url}\nserver:\n  listen: 127.0.0.1:${port}\n` +
    infinityYaml(sandbox.url, names.map((name) => ({ name })), { clientId }).replace('defaults:\n', 'defaults:\n  leaseTtl: 5s\n');
  const file = writeTemp('hookwarden.yaml', yaml(['a', 'b', 'c']));
  // Each subscription's callback URL ends in its name (test/fixtures/stack.ts).
  const names = () => sandbox.subscriptions(clientId).map((s) => String((s.transport as Record<string, unknown>).endpoint ?? '').split('/').pop()).sort();
  const metric = async (name: string) => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  return { file, yaml, port, metric, count: () => sandbox.subscriptions(clientId).length, names };
}

async function stop(daemon: ReturnType<typeof spawnCli>): Promise<number | null> {
  daemon.kill('SIGTERM');
  return new Promise((r) => daemon.on('exit', (c) => r(c)));
}

describe('config reload', () => {
  it('SIGHUP: an invalid file changes nothing and is reported; a valid one is applied at the next pass', async () => {
    const { file, yaml, metric, count, names } = await setup();
    const daemon = spawnCli(['run', '-c', file], testEnv);
    try {
      await waitFor('three subscriptions', () => count() === 3);
      await waitFor('the first reload metric', async () => (await metric('hookwarden_config_last_reload_success')) === 1);

      // An invalid file: every error logged with file:line:col; the daemon goes on as it was.
      writeFileSync(file, yaml(['a', 'b', 'c', 'd']).replace('family: [AGENT]', 'family: [NOPE]'));
      daemon.kill('SIGHUP');
      await waitFor('the refusal to be logged', () => daemon.output().includes('config reload refused'));
      expect(daemon.output()).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: subscriptions\\[0\\]\\.family\\[0\\]`));
      expect(daemon.exitCode).toBeNull();
      expect(await metric('hookwarden_config_last_reload_success')).toBe(0);
      expect(await metric('hookwarden_config_reloads_total\\{result="failure"\\}')).toBe(1);
      expect(count()).toBe(3);

      // A valid file: d is created, a is deleted (one of three owned: under the mass-delete guard).
      writeFileSync(file, yaml(['b', 'c', 'd']));
      daemon.kill('SIGHUP');
      await waitFor('the reload to apply', () => daemon.output().includes('config reloaded: applied at the next pass'));
      await waitFor('d created and a deleted', () => names().join() === 'b,c,d');
      expect(await metric('hookwarden_config_last_reload_success')).toBe(1);
      expect(daemon.exitCode).toBeNull();
    } finally {
      expect(await stop(daemon)).toBe(0);
    }
    expect(daemon.output()).not.toContain(testEnv.INFINITY_CLIENT_SECRET);
  });

  it('run --watch: a change to the file is reloaded without a signal', async () => {
    const { file, yaml, count, names } = await setup();
    const daemon = spawnCli(['run', '-c', file, '--watch'], testEnv);
    try {
      await waitFor('three subscriptions', () => count() === 3);
      writeFileSync(file, yaml(['a', 'b', 'c', 'd', 'e']));
      await waitFor('the change to be applied', () => names().join() === 'a,b,c,d,e', 30_000);
      expect(daemon.output()).toContain('"why":"file changed"');
    } finally {
      expect(await stop(daemon)).toBe(0);
    }
  });
});
