import { describe, expect, it } from 'vitest';
import { diffConfig } from '../../src/config/diff.js';
import { gapHookOf, hasGapHook } from '../../src/config/hooks.js';
import { parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/lib/errors.js';
import { collectConfigSecrets, REDACTED, Scrubber, registerConfigSecrets } from '../../src/lib/scrub.js';

/** `hooks.gapClosed` (top level and per subscription) and `defaults.gapAlertAfter`. */

const env = { SECRET: 'client-secret-1', BACKFILL_TOKEN: 'backfill-token-abcdef', BACKFILL_SECRET: 'backfill-signing-secret-0123456789', OWN_SECRET: 'own-signing-secret-9876543210' };

const account = `providers:
  infinity:
    kind: avaya-infinity
    baseUrl: https://core.avaya1234.ec.avayacloud.com
    clientId: id
    clientSecret: \${SECRET}
`;

/** A subscription of the infinity account, with extra lines (indented 4) under it. */
const sub = (name: string, extra = '') => `  - name: ${name}
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback:
      url: https://hooks.example.com/${name}
${extra}`;

const topHooks = `hooks:
  gapClosed:
    url: https://backfill.example.com/hookwarden
    authToken: \${BACKFILL_TOKEN}
    signingSecret: \${BACKFILL_SECRET}
`;

const file = (...parts: string[]) => parts.join('');

function issues(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.file}:${i.line}:${i.col} ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: the backfill hook', () => {
  it('is off by default, and the gap alert threshold is 30 minutes', () => {
    const c = parseConfig(file(account, 'subscriptions:\n', sub('a')), 'c.yaml', { env });
    expect(c.hooks).toEqual({});
    expect(c.gapHooks).toEqual({});
    expect(c.gapAlertAfterSeconds).toBe(1800);
    expect(gapHookOf(c, 'infinity', 'a')).toBeUndefined();
    expect(hasGapHook(c, 'watch', 'x', 'target')).toBe(false);
  });

  it('top level: every subscription and watch target uses it; a subscription may replace it or switch it off', () => {
    const text = file(
      account,
      topHooks,
      'defaults:\n  gapAlertAfter: 45m\n',
      'subscriptions:\n',
      sub('plain'),
      sub('own', '    hooks:\n      gapClosed:\n        url: http://127.0.0.1:8080/own\n        authToken: t0ken-own\n        authTokenHeader: X-Api-Key\n        signingSecret: ${OWN_SECRET}\n'),
      sub('silent', '    hooks: { gapClosed: false }\n'),
    );
    const c = parseConfig(text, 'c.yaml', { env });
    const top = { url: 'https://backfill.example.com/hookwarden', authToken: env.BACKFILL_TOKEN, signingSecret: env.BACKFILL_SECRET };
    expect(c.hooks.gapClosed).toEqual(top);
    expect(c.gapAlertAfterSeconds).toBe(2700);
    expect(c.gapHooks).toEqual({
      'infinity/own': { url: 'http://127.0.0.1:8080/own', authToken: 't0ken-own', authTokenHeader: 'X-Api-Key', signingSecret: env.OWN_SECRET },
      'infinity/silent': null,
    });
    expect(gapHookOf(c, 'infinity', 'plain')).toEqual(top);
    expect(gapHookOf(c, 'infinity', 'own')).toEqual(c.gapHooks['infinity/own']);
    expect(gapHookOf(c, 'infinity', 'silent')).toBeUndefined();
    expect(hasGapHook(c, 'infinity', 'silent')).toBe(false);
    // A watch-only target has no override of its own: always the top-level hook.
    expect(gapHookOf(c, 'watch', 'mcc', 'target')).toEqual(top);
    // The provider kind never sees `hooks`: the declared subscription is the same as without it.
    const bare = parseConfig(file(account, 'subscriptions:\n', sub('own')), 'c.yaml', { env });
    expect(c.desired.find((d) => d.name === 'own')).toEqual(bare.desired[0]);
  });

  it.each([
    {
      name: 'plain http off loopback',
      yaml: 'hooks:\n  gapClosed:\n    url: http://backfill.example.com/x\n',
      want: 'c.yaml:9:10 hooks.gapClosed.url: hooks.gapClosed.url must use https (plain http only for loopback hosts), got http://backfill.example.com',
    },
    {
      name: 'credentials in the URL',
      yaml: 'hooks:\n  gapClosed:\n    url: https://u:p@backfill.example.com/x\n',
      want: 'c.yaml:9:10 hooks.gapClosed.url: hooks.gapClosed.url must not contain credentials (user:password@): put credentials in the hook\'s authToken',
    },
    {
      name: 'a short signing secret',
      yaml: 'hooks:\n  gapClosed:\n    url: https://backfill.example.com/x\n    signingSecret: short\n',
      want: 'c.yaml:10:20 hooks.gapClosed.signingSecret: hooks.gapClosed.signingSecret must be at least 16 characters',
    },
    {
      name: 'an auth token header without a token',
      yaml: 'hooks:\n  gapClosed:\n    url: https://backfill.example.com/x\n    authTokenHeader: X-Api-Key\n',
      want: 'c.yaml:10:22 hooks.gapClosed.authTokenHeader: hooks.gapClosed.authTokenHeader names the header of authToken, which is not set',
    },
    {
      name: "the token in a header hookwarden sets itself",
      yaml: 'hooks:\n  gapClosed:\n    url: https://backfill.example.com/x\n    authToken: abcdefgh\n    authTokenHeader: Idempotency-Key\n',
      want: 'c.yaml:11:22 hooks.gapClosed.authTokenHeader: hooks.gapClosed.authTokenHeader: header Idempotency-Key is set by hookwarden itself',
    },
    {
      name: 'a line break in the token',
      yaml: 'hooks:\n  gapClosed:\n    url: https://backfill.example.com/x\n    authToken: "abc\\r\\ndef"\n',
      want: 'c.yaml:10:16 hooks.gapClosed.authToken: hooks.gapClosed.authToken must not contain line breaks',
    },
    {
      name: 'an unknown key',
      yaml: 'hooks:\n  gapClosed:\n    url: https://backfill.example.com/x\n    secret: nope\n',
      want: 'c.yaml:10:5 hooks.gapClosed: unknown key "secret"',
    },
    {
      name: 'an unknown hook',
      yaml: 'hooks:\n  gapOpened:\n    url: https://backfill.example.com/x\n',
      want: 'c.yaml:8:3 hooks: unknown key "gapOpened"',
    },
    {
      name: 'no URL',
      yaml: 'hooks:\n  gapClosed:\n    authToken: abcdefgh\n',
      want: 'c.yaml:9:5 hooks.gapClosed.url: hooks.gapClosed.url must be a URL (a string)',
    },
    {
      name: 'gapAlertAfter below a minute',
      yaml: 'defaults:\n  gapAlertAfter: 10s\n',
      want: 'c.yaml:8:18 defaults.gapAlertAfter: gapAlertAfter must be at least 1m, got 10s',
    },
  ])('refuses $name, at file:line:col', ({ yaml, want }) => {
    const got = issues(file(account, yaml, 'subscriptions:\n', sub('a')));
    expect(got.some((g) => g.startsWith(want)), got.join('\n')).toBe(true);
  });

  it.each([
    { name: 'gapClosed: true', hooks: '    hooks: { gapClosed: true }\n', want: /^c\.yaml:14:\d+ subscriptions\[0\]\.hooks\.gapClosed: hooks\.gapClosed is \{ url, authToken\?, authTokenHeader\?, signingSecret\? \}, or false/ },
    { name: 'a bad URL', hooks: '    hooks:\n      gapClosed:\n        url: ftp://backfill.example.com/x\n', want: /^c\.yaml:16:14 subscriptions\[0\]\.hooks\.gapClosed\.url: hooks\.gapClosed\.url must use https/ },
    { name: 'an unknown key', hooks: '    hooks:\n      gapOpened: false\n', want: /^c\.yaml:15:7 subscriptions\[0\]\.hooks: unknown key "gapOpened"/ },
  ])('refuses a subscription hook with $name, at file:line:col', ({ hooks, want }) => {
    const got = issues(file(account, 'subscriptions:\n', sub('a', hooks)));
    expect(got.some((g) => want.test(g)), got.join('\n')).toBe(true);
  });

  it("reports a subscription's hook problems together with its other problems", () => {
    const got = issues(file(account, 'subscriptions:\n', sub('a', '    renewBefore: never\n    hooks: { gapClosed: { url: "http://example.com/x" } }\n')));
    expect(got.some((g) => g.includes('subscriptions[0].hooks.gapClosed.url')), got.join('\n')).toBe(true);
    expect(got.some((g) => g.includes('subscriptions[0].renewBefore')), got.join('\n')).toBe(true);
  });

  it('registers every auth token and signing secret with the scrubber, top level and per subscription', () => {
    const c = parseConfig(
      file(account, topHooks, 'subscriptions:\n', sub('own', '    hooks:\n      gapClosed:\n        url: https://b.example.com/own?sig=query-secret-value\n        authToken: own-token-value\n        authTokenHeader: X-Api-Key\n        signingSecret: ${OWN_SECRET}\n')),
      'c.yaml',
      { env },
    );
    const { values } = collectConfigSecrets(c);
    for (const s of [env.BACKFILL_TOKEN, env.BACKFILL_SECRET, env.OWN_SECRET, 'own-token-value', 'query-secret-value']) expect(values).toContain(s);
    expect(values).not.toContain('X-Api-Key');
    const scrubber = new Scrubber();
    registerConfigSecrets(c, {}, scrubber);
    expect(scrubber.scrub(`token ${env.BACKFILL_TOKEN}, secret ${env.OWN_SECRET}`)).toBe(`token ${REDACTED}, secret ${REDACTED}`);
  });

  it('a reload that changes only the hooks or the alert threshold is a change', () => {
    const base = file(account, 'subscriptions:\n', sub('a'));
    const load = (t: string) => parseConfig(t, 'c.yaml', { env });
    expect(diffConfig(load(base), load(base)).hooks).toBe(false);
    for (const next of [file(account, topHooks, 'subscriptions:\n', sub('a')), file(account, 'subscriptions:\n', sub('a', '    hooks: { gapClosed: false }\n')), file(account, 'defaults:\n  gapAlertAfter: 1h\n', 'subscriptions:\n', sub('a'))]) {
      const d = diffConfig(load(base), load(next));
      expect(d.hooks).toBe(true);
      expect(d.none).toBe(false);
      // Not a subscription change: nothing is reconciled again for it.
      expect(d.subscriptions.changed).toEqual([]);
    }
    // A rotated signing secret is a change, never named.
    const d = diffConfig(load(file(account, topHooks, 'subscriptions:\n', sub('a'))), parseConfig(file(account, topHooks, 'subscriptions:\n', sub('a')), 'c.yaml', { env: { ...env, BACKFILL_SECRET: 'rotated-signing-secret-0000' } }));
    expect(d.hooks).toBe(true);
    expect(JSON.stringify(d)).not.toContain('rotated');
  });

  it('the JSON Schema knows hooks, at the top and on every kind of subscription', () => {
    const s = configJsonSchema() as { properties: Record<string, unknown> };
    expect(JSON.stringify(s.properties.hooks)).toContain('gapClosed');
    expect(JSON.stringify(s.properties.defaults)).toContain('gapAlertAfter');
    const subs = JSON.stringify(s.properties.subscriptions);
    expect(subs.match(/"hooks"/g)?.length).toBeGreaterThanOrEqual(4);
  });
});
