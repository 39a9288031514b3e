import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logLevel } from '../../src/lib/logger.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { cli, writeTemp } from '../fixtures/cli.js';
import { freshDatabase } from '../fixtures/db.js';
import { infinityYaml, testEnv } from '../fixtures/stack.js';

let sandbox: InfinitySandbox;
beforeAll(async () => {
  sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 300 });
  await sandbox.listen();
});
afterAll(() => sandbox.close());

async function config() {
  const db = await freshDatabase(false);
  const clientId = `client-${Math.random().toString(36).slice(2, 10)}`;
  return writeTemp('hookwarden.yaml', `database:\n  url: ${db.url}\n` + infinityYaml(sandbox.url, [{ name: 'agents' }], { clientId }));
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logs', () => {
  it('JSON lines by default; a line about a subscription names its account and the subscription', async () => {
    const r = await cli(['apply', '-c', await config()], testEnv);
    expect(r.code).toBe(0);
    const created = jsonLines(r.stderr).find((l) => l.action === 'create');
    expect(created).toMatchObject({ provider: 'infinity', subscription: 'agents', level: 30 });
  });

  it('--log-level warn leaves out info lines; HOOKWARDEN_LOG_LEVEL does the same, the option wins', async () => {
    const file = await config();
    const quiet = await cli(['--log-level', 'warn', 'apply', '-c', file], testEnv);
    expect(quiet.code).toBe(0);
    expect(jsonLines(quiet.stderr).filter((l) => Number(l.level) < 40)).toEqual([]);
    // The option after the command name works too.
    const after = await cli(['apply', '-c', file, '--log-level', 'debug'], testEnv);
    expect(after.code).toBe(0);
    expect(jsonLines(after.stderr).some((l) => l.level === 20)).toBe(true);
  });

  it('the level: the option, else HOOKWARDEN_LOG_LEVEL, else info', () => {
    expect(logLevel(undefined, {})).toBe('info');
    expect(logLevel(undefined, { HOOKWARDEN_LOG_LEVEL: 'WARN' })).toBe('warn');
    expect(logLevel('debug', { HOOKWARDEN_LOG_LEVEL: 'warn' })).toBe('debug');
    expect(() => logLevel(undefined, { HOOKWARDEN_LOG_LEVEL: 'verbose' })).toThrow('HOOKWARDEN_LOG_LEVEL: unknown log level "verbose"');
  });

  it('an unknown level is refused with a sentence that names where it came from', async () => {
    const file = await config();
    const r = await cli(['--log-level', 'loud', 'apply', '-c', file], testEnv);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--log-level: unknown log level "loud"');
  });

  it('--pretty writes readable lines for people, still without secrets', async () => {
    const r = await cli(['--pretty', 'apply', '-c', await config()], testEnv);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stderr)).toEqual([]);
    expect(r.stderr).toMatch(/INFO.*create agents/);
    expect(r.stderr).not.toContain(testEnv.INFINITY_CLIENT_SECRET);
  });
});
