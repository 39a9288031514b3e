import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DixaSandbox } from '../../src/sandbox/dixa.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freePort } from '../../src/store/embedded.js';
import { cli, spawnCli, waitFor, writeTemp } from '../fixtures/cli.js';
import { freshDatabase, query } from '../fixtures/db.js';
import { infinityYaml, testEnv } from '../fixtures/stack.js';

let sandbox: InfinitySandbox;
beforeAll(async () => {
  sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 60 });
  await sandbox.listen();
});
afterAll(() => sandbox.close());

/** A config with its own database and sandbox tenant. */
async function setup(subs = [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }], migrated = false) {
  const db = await freshDatabase(migrated);
  const clientId = `client-${Math.random().toString(36).slice(2, 10)}`;
  const port = await freePort();
  // A short lease: a restarted (new) process takes over a killed one's accounts within seconds.
  const yaml = `database:\n  url: ${db.url}\nserver:\n  listen: 127.0.0.1:${port}\n` + infinityYaml(sandbox.url, subs, { clientId }).replace('defaults:\n', 'defaults:\n  leaseTtl: 5s\n');
  return { db, clientId, port, file: writeTemp('hookwarden.yaml', yaml), subs: () => sandbox.subscriptions(clientId) };
}

describe('hookwarden CLI', () => {
  it('validate: 0 for a good file, 2 with file:line:col for a bad one', async () => {
    const { file } = await setup();
    expect((await cli(['validate', '-c', file], testEnv)).code).toBe(0);
    const bad = writeTemp('bad.yaml', 'providers:\n  infinity:\n    kind: avaya-infinity\n    baseUrl: ftp://x\n    clientId: a\n    clientSecret: b\nsubscriptions:\n  - name: x\n    provider: infinity\n    family: [NOPE]\n    events: [ALL]\n    callback: {url: https://h.example.com/x}\n');
    const r = await cli(['validate', '-c', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:4:14: providers.infinity.baseUrl: baseUrl must use https`);
    expect(r.stderr).toContain(`${bad}:10:14: subscriptions[0].family[0]: family values are AGENT, INTERACTION, QUEUE, ALL`);
  });

  it('an invalid YAML exits 2 with file:line:col and changes nothing', async () => {
    const { file, db, subs } = await setup();
    const broken = writeTemp('broken.yaml', `database:\n  url: ${db.url}\nproviders:\n  infinity:\n    kind: avaya-infinity\n    baseUrl: ${sandbox.url}\n    clientId: c\n    clientSecret: \${NOT_SET_ANYWHERE}\nsubscriptions:\n  - name: a\n    provider: infinity\n    family: [AGENT]\n    events: [ALL]\n    callback: {url: https://h.example.com/a}\n`);
    const before = sandbox.server.count('token');
    const r = await cli(['apply', '-c', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${broken}:8:19: environment variable NOT_SET_ANYWHERE is not set`);
    expect(sandbox.server.count('token')).toBe(before);
    expect(await query(db.url, `SELECT to_regclass('public.subscription') AS t`)).toEqual([{ t: null }]);
    expect(subs()).toEqual([]);
    void file;
  });

  it('plan on a fresh database lists one create per subscription and writes nothing', async () => {
    const { file, db, subs } = await setup();
    const r = await cli(['plan', '-c', file, '--json'], testEnv);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.actions.map((a: { name: string; action: string; reason: string; provider: string }) => [a.provider, a.name, a.action, a.reason])).toEqual([
      ['infinity', 'agents', 'create', 'missing'],
      ['infinity', 'queues', 'create', 'missing'],
    ]);
    expect(subs()).toEqual([]);
    expect(await query(db.url, `SELECT to_regclass('public.subscription') AS t`)).toEqual([{ t: null }]);
  });

  it('apply creates exactly what plan listed; status reports it from Postgres', async () => {
    const { file, subs } = await setup();
    const r = await cli(['apply', '-c', file, '--json'], testEnv);
    expect(r.code).toBe(0);
    const applied = JSON.parse(r.stdout).actions;
    expect(applied.map((a: { name: string; action: string; outcome: string }) => `${a.name}:${a.action}:${a.outcome}`)).toEqual(['agents:create:succeeded', 'queues:create:succeeded']);
    expect(subs()).toHaveLength(2);
    const again = JSON.parse((await cli(['plan', '-c', file, '--json'], testEnv)).stdout);
    expect(again.actions.map((a: { action: string }) => a.action)).toEqual(['none', 'none']);

    const st = await cli(['status', '-c', file, '--json'], testEnv);
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout);
    expect(doc.subscriptions).toHaveLength(2);
    const ids = subs().map((s) => s.subscriptionId).sort();
    expect(doc.subscriptions.map((s: { remoteId: string }) => s.remoteId).sort()).toEqual(ids);
    for (const s of doc.subscriptions) {
      expect(s).toMatchObject({ provider: 'infinity', state: 'active', lastError: null });
      expect(new Date(s.expiresAt).toISOString()).toBe(s.expiresAt);
      expect(new Date(s.nextCheckAt).toISOString()).toBe(s.nextCheckAt);
    }
    const human = await cli(['status', '-c', file], testEnv);
    expect(human.stdout).toMatch(/^PROVIDER\s+NAME\s+STATE/);
  });

  it('apply exits non-zero when something failed', async () => {
    const { file } = await setup([{ name: 'agents' }]);
    sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', status: 500, count: 1 });
    const r = await cli(['apply', '-c', file, '--json'], testEnv);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).actions[0]).toMatchObject({ action: 'create', outcome: 'failed', errorCode: 'PROVIDER_SERVER_ERROR' });
  });

  it('run serves /metrics and /status and stops gracefully on SIGTERM within 10 s', async () => {
    const { file, port, subs } = await setup([{ name: 'agents' }]);
    const daemon = spawnCli(['run', '-c', file], testEnv);
    try {
      await waitFor('the subscription to be created', () => subs().length === 1);
      const ready = await waitFor('readyz', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200);
      expect(ready).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/hookwarden_subscription_active\{provider="infinity",subscription="agents"\} 1/);
      const status = (await (await fetch(`http://127.0.0.1:${port}/status?format=json`)).json()) as { subscriptions: unknown[] };
      expect(status.subscriptions[0]).toMatchObject({ name: 'agents', state: 'active' });
      const html = await (await fetch(`http://127.0.0.1:${port}/status`)).text();
      expect(html).toContain('<td>agents</td>');
      expect(html).not.toContain(testEnv.INFINITY_CLIENT_SECRET);
    } finally {
      const started = Date.now();
      daemon.kill('SIGTERM');
      const code = await new Promise((r) => daemon.on('exit', (c) => r(c)));
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    expect(daemon.output()).not.toContain(testEnv.INFINITY_CLIENT_SECRET);
  });

  it('a daemon killed mid-create adopts after restart instead of duplicating', async () => {
    const { file, subs } = await setup([{ name: 'agents' }]);
    // The provider creates the subscription but the answer is slow: the daemon dies first.
    sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', delayAfterMs: 5000 });
    const first = spawnCli(['run', '-c', file], testEnv);
    await waitFor('the create to reach the provider', () => subs().length === 1);
    first.kill('SIGKILL');
    await new Promise((r) => first.on('exit', r));
    const created = subs()[0]!.subscriptionId;

    const second = spawnCli(['run', '-c', file], testEnv);
    try {
      await waitFor('adoption', () => second.output().includes('"action":"adopt"'));
      expect(subs().map((s) => s.subscriptionId)).toEqual([created]);
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.on('exit', r));
    }
    const st = JSON.parse((await cli(['status', '-c', file, '--json'], testEnv)).stdout);
    expect(st.subscriptions[0].remoteId).toBe(created);
  });

  it('show-secret prints the secretKey Dixa generated, and nothing else ever does', async () => {
    const dixa = new DixaSandbox();
    await dixa.listen();
    try {
      const db = await freshDatabase();
      const file = writeTemp(
        'dixa.yaml',
        `database:\n  url: ${db.url}\nproviders:\n  dixa:\n    kind: dixa\n    baseUrl: ${dixa.url}\n    apiToken: \${DIXA_TOKEN}\nsubscriptions:\n  - name: notes\n    provider: dixa\n    events: [ConversationNoteAdded]\n    callback: { url: "https://hooks.example.com/notes", probe: false }\n`,
      );
      const env = { DIXA_TOKEN: 'cli-dixa-token' };
      const applied = await cli(['apply', '-c', file], env);
      expect(applied.code).toBe(0);
      const secretKey = [...dixa.org('cli-dixa-token').values()][0]!.secretKey;
      expect(applied.stdout + applied.stderr).not.toContain(secretKey);
      const st = await cli(['status', '-c', file, '--json'], env);
      expect(st.stdout + st.stderr).not.toContain(secretKey);
      const shown = await cli(['show-secret', '-c', file, '--provider', 'dixa', '--name', 'notes'], env);
      expect(shown).toMatchObject({ code: 0, stdout: `${secretKey}\n` });
      expect(shown.stderr).not.toContain(secretKey);
      const missing = await cli(['show-secret', '-c', file, '--provider', 'dixa', '--name', 'nope'], env);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('dixa/nope is not bound');
    } finally {
      await dixa.close();
    }
  });

  it('schema prints a JSON Schema of the config', async () => {
    const r = await cli(['schema']);
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.stdout);
    expect(schema.$schema).toMatch(/json-schema/);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['database', 'dataDir', 'server', 'defaults', 'providers', 'subscriptions']));
  });
});
