import { describe, expect, it } from 'vitest';
import { diffConfig } from '../../src/config/diff.js';
import { parseConfig } from '../../src/config/load.js';
import { infinityYaml } from '../fixtures/stack.js';

const env = { INFINITY_CLIENT_SECRET: 's3cret' };
const load = (yaml: string) => parseConfig(yaml, 'c.yaml', { env });
const base = (names: string[], extra = {}) => infinityYaml('https://infinity.example.com', names.map((name) => ({ name })), extra);

describe('what a reloaded config changes', () => {
  it('nothing, for the same file', () => {
    const c = base(['a', 'b']);
    expect(diffConfig(load(c), load(c)).none).toBe(true);
  });

  it('subscriptions added, removed and changed, and the accounts to reconcile at once', () => {
    const before = load(base(['a', 'b']));
    const after = load(base(['b', 'c']).replace('https://hooks.example.com/b', 'https://hooks.example.com/b2'));
    const d = diffConfig(before, after);
    expect(d.subscriptions).toEqual({ added: ['infinity/c'], removed: ['infinity/a'], changed: ['infinity/b'] });
    expect(d.touched).toEqual(['infinity']);
    expect(d.needRestart).toEqual([]);
    expect(d.none).toBe(false);
  });

  it('a rotated secret changes the account (a new client) without naming the secret', () => {
    const text = base(['a']);
    const d = diffConfig(load(text), parseConfig(text, 'c.yaml', { env: { INFINITY_CLIENT_SECRET: 'rotated' } }));
    expect(d.accounts.changed).toEqual(['infinity']);
    expect(JSON.stringify(d)).not.toContain('rotated');
  });

  it('settings read only at start are reported as needing a restart', () => {
    const before = load(`database:\n  url: postgresql://a@127.0.0.1/x\nserver:\n  listen: 127.0.0.1:9464\n${base(['a'])}`);
    const after = load(`database:\n  url: postgresql://a@127.0.0.1/y\nserver:\n  listen: 127.0.0.1:9465\n${base(['a']).replace('defaults:\n', 'defaults:\n  leaseTtl: 30s\n')}`);
    expect(diffConfig(before, after).needRestart).toEqual(expect.arrayContaining(['database.url', 'server.listen', 'defaults.leaseTtl']));
  });
});
