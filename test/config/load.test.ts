import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError } from '../../src/lib/errors.js';
import { ROOT } from '../fixtures/cli.js';

const account = `providers:
  infinity:
    kind: avaya-infinity
    baseUrl: https://core.avaya1234.ec.avayacloud.com
    clientId: id
    clientSecret: \${SECRET}
`;
const sub = (body: string) => `${account}subscriptions:\n  - name: s\n    provider: infinity\n${body}`;
const good = sub('    family: [AGENT]\n    events: [ALL]\n    callback:\n      url: https://hooks.example.com/a\n');

function issues(text: string, env: Record<string, string | undefined> = { SECRET: "x" }): string[] {
  try {
    parseConfig(text, 'c.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    throw err;
  }
  return [];
}

describe('config', () => {
  it('parses a valid file with defaults filled', () => {
    const c = parseConfig(good, '/etc/hookwarden/c.yaml', { env: { SECRET: 'x' } });
    expect(c.defaults).toEqual({ reconcileEverySeconds: 60, renewBefore: { percent: 33 }, concurrency: 8, actionConcurrency: 8, probe: { everySeconds: 60, timeoutSeconds: 5 }, deliveryPollEverySeconds: 300, leaseTtlSeconds: 60, passTimeoutSeconds: 300 });
    expect(c.livenessTimeoutSeconds).toBe(300);
    expect(c.policies.infinity).toEqual({ unhealthyAfter: 3, disableAfterSeconds: 8 * 3600, deleteAfterSeconds: 7 * 86400 });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(c.dataDir).toBe('/etc/hookwarden/.hookwarden');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.desired).toHaveLength(1);
    expect(c.desired[0]).toMatchObject({ provider: 'infinity', name: 's', kind: 'avaya-infinity' });
  });

  it('the example config is valid', () => {
    const env = { DATABASE_URL: 'postgresql://h/db', INFINITY_CLIENT_ID: 'a', INFINITY_CLIENT_SECRET: 'b', HOOK_TOKEN: 'c', AXP_ACCOUNT_ID: 'ABCDEF', AXP_APP_KEY: 'k', AXP_CLIENT_ID: 'i', AXP_CLIENT_SECRET: 's', DIXA_API_TOKEN: 't', DIXA_HOOK_PASSWORD: 'p' };
    const c = loadConfigFile(join(ROOT, 'config.example.yaml'), { env });
    expect(c.desired.map((d) => d.name)).toEqual(['agent-events', 'interaction-events', 'chat-messages', 'agent-engagements', 'conversations']);
    expect(c.watch.map((w) => w.name)).toEqual(['mycontactcenter-agents']);
  });

  it('substitutes ${VAR} after parsing, so a secret cannot break the YAML', () => {
    const nasty = `"quoted": {[yaml]} # not a comment\n  - not: a list`;
    const c = parseConfig(good, 'c.yaml', { env: { SECRET: nasty } });
    expect(c.accounts.infinity!.settings.clientSecret).toBe(nasty);
  });

  it('reads ${file:/path}, drops one trailing newline, and keeps $${ literal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hw-cfg-'));
    writeFileSync(join(dir, 'secret'), 's3cr3t\n');
    const text = good.replace('${SECRET}', `\${file:${join(dir, 'secret')}}`).replace('clientId: id', () => 'clientId: $${literal}');
    const c = parseConfig(text, 'c.yaml', { env: {} });
    expect(c.accounts.infinity!.settings.clientSecret).toBe('s3cr3t');
    expect(c.accounts.infinity!.settings.clientId).toBe('${literal}');
  });

  it('${NAME:-default} falls back when NAME is unset', () => {
    const c = parseConfig(good.replace('${SECRET}', '${SECRET:-fallback}'), 'c.yaml', { env: {} });
    expect(c.accounts.infinity!.settings.clientSecret).toBe('fallback');
  });

  it.each([
    { name: 'an unset variable', text: good, env: {}, want: ['6:19 environment variable SECRET is not set'] },
    { name: 'a missing secret file', text: good.replace('${SECRET}', '${file:/nonexistent/x}'), env: {}, want: ['6:19 ${file:/nonexistent/x}: cannot read /nonexistent/x: ENOENT'] },
    { name: 'a YAML syntax error', text: 'providers:\n  a: [1, 2\n', env: {}, want: [expect.stringMatching(/^3:1 /)] },
    { name: 'an unknown key', text: good.replace('    clientId: id', '    clientld: id'), env: { SECRET: 'x' }, want: ['3:5 providers.infinity: required key "clientId" is missing', '5:5 providers.infinity: unknown key "clientld"'] },
    { name: 'an unknown provider kind', text: good.replace('kind: avaya-infinity', 'kind: avaya-nope'), env: { SECRET: 'x' }, want: [expect.stringMatching(/^3:11 providers.infinity.kind: kind must be one of avaya-infinity/)] },
    { name: 'an undeclared provider', text: good.replace('provider: infinity', 'provider: other'), env: { SECRET: 'x' }, want: ['9:15 subscriptions[0].provider: provider "other" is not declared under providers (declared: infinity)'] },
    { name: 'four families', text: good.replace('[AGENT]', '[AGENT, QUEUE, INTERACTION, AGENT]'), env: { SECRET: 'x' }, want: expect.arrayContaining(['10:13 subscriptions[0].family: family takes at most 3 values']) },
    { name: 'ALL with another family', text: good.replace('[AGENT]', '[ALL, AGENT]'), env: { SECRET: 'x' }, want: ['10:13 subscriptions[0].family: family ALL must be the only value'] },
    { name: 'no events', text: good.replace('events: [ALL]', 'events: []'), env: { SECRET: 'x' }, want: ['11:13 subscriptions[0].events: events needs 1 to 25 values'] },
    { name: '26 events', text: good.replace('events: [ALL]', `events: [${Array.from({ length: 26 }, (_, i) => `E${i}`).join(', ')}]`), env: { SECRET: 'x' }, want: ['11:13 subscriptions[0].events: events takes at most 25 values'] },
    { name: 'an event name of 257 characters', text: good.replace('events: [ALL]', `events: [${'e'.repeat(257)}]`), env: { SECRET: 'x' }, want: ['11:14 subscriptions[0].events[0]: event names are at most 256 characters'] },
    { name: 'plain http to a public host', text: good.replace('https://hooks', 'http://hooks'), env: { SECRET: 'x' }, want: ['13:12 subscriptions[0].callback.url: callback.url must use https (plain http only for loopback hosts), got http://hooks.example.com'] },
    { name: 'a callback URL over 2048 characters', text: good.replace('https://hooks.example.com/a', `https://hooks.example.com/${'a'.repeat(2048)}`), env: { SECRET: 'x' }, want: ['13:12 subscriptions[0].callback.url: callback.url must be at most 2048 characters'] },
    { name: 'a token header without a token', text: good.replace('      url: https://hooks.example.com/a\n', '      url: https://hooks.example.com/a\n      authTokenHeader: X\n'), env: { SECRET: 'x' }, want: ['13:7 subscriptions[0].callback: authTokenHeader needs authToken (they work as a pair)'] },
    { name: 'a bad duration', text: good.replace('providers:', 'defaults:\n  reconcileEvery: soon\nproviders:'), env: { SECRET: 'x' }, want: ['2:19 defaults.reconcileEvery: reconcileEvery must be a duration such as 30s, 5m, 8h or 7d'] },
    { name: 'a bad renewBefore', text: good.replace('providers:', 'defaults:\n  renewBefore: 150%\nproviders:'), env: { SECRET: 'x' }, want: ['2:16 defaults.renewBefore: renewBefore must be a duration (5m) or a percentage below 100 (33%)'] },
    {
      name: 'a name declared twice',
      text: good + '  - name: s\n    provider: infinity\n    family: [AGENT]\n    events: [ALL]\n    callback:\n      url: https://hooks.example.com/b\n',
      env: { SECRET: 'x' },
      want: ['14:11 subscriptions[1].name: subscription "s" is declared twice for provider infinity (first at subscriptions[0])'],
    },
  ])('reports $name with its line and column', ({ text, env, want }) => {
    expect(issues(text, env)).toEqual(want);
  });

  it('reports every problem at once, across the providers and the subscriptions', () => {
    const text = good.replace('https://core.avaya1234.ec.avayacloud.com', 'ftp://x').replace('[AGENT]', '[NOPE]');
    expect(issues(text)).toEqual([
      '4:14 providers.infinity.baseUrl: baseUrl must use https (plain http only for loopback hosts), got ftp://x',
      '10:14 subscriptions[0].family[0]: family values are AGENT, INTERACTION, QUEUE, ALL',
    ]);
  });

  it('accepts plain http for loopback hosts (local receivers, the sandbox)', () => {
    expect(issues(good.replace('https://hooks.example.com/a', 'http://127.0.0.1:8080/a').replace('https://core.avaya1234.ec.avayacloud.com', 'http://localhost:8787'))).toEqual([]);
  });

  it('exports a JSON Schema that knows the provider kinds and limits', () => {
    const s = JSON.stringify(configJsonSchema());
    expect(s).toContain('avaya-infinity');
    expect(s).toContain('"maxItems":25');
  });
});

describe('config: callback health and the AXP kinds', () => {
  const axp = `providers:
  digital:
    kind: axp-digital
    baseUrl: https://na.api.avayacloud.com
    accountId: ABCDEF
    appKey: k
    clientId: c
    clientSecret: s
    policy: { unhealthyAfter: 5, disableAfter: 4h }
subscriptions:
  - name: chat
    provider: digital
    channelProviderId: ChatConnector01
    events: [MESSAGES]
    callback: { url: https://hooks.example.com/chat }
`;

  it('reads per-provider policy (defaults to AXP\'s) and defaults.probe', () => {
    const c = parseConfig(axp.replace('subscriptions:', 'watch:\n  - name: mcc\n    url: https://mcc.example.com/hook\n    format: mycontactcenter\n    every: 30s\nsubscriptions:'), 'c.yaml', { env: {} });
    expect(c.policies.digital).toEqual({ unhealthyAfter: 5, disableAfterSeconds: 4 * 3600, deleteAfterSeconds: 7 * 86400 });
    expect(c.desired[0]!.callback).toEqual({ url: 'https://hooks.example.com/chat', method: 'POST', format: 'axp-digital', headers: {}, probe: { enabled: true, event: 'unknown' } });
    expect(c.watch).toEqual([{ name: 'mcc', url: 'https://mcc.example.com/hook', method: 'POST', format: 'mycontactcenter', everySeconds: 30, timeoutSeconds: 5, event: 'unknown', headers: {}, policy: { unhealthyAfter: 3, disableAfterSeconds: 8 * 3600, deleteAfterSeconds: 7 * 86400 } }]);
  });

  it.each([
    { name: 'a short accountId', text: axp.replace('ABCDEF', 'ABC'), want: '5:16 providers.digital.accountId: accountId is the 6-letter AXP account id (e.g. ZWJJIQ)' },
    { name: 'seven event types', text: axp.replace('[MESSAGES]', '[MESSAGES, CC_MESSAGES, TYPING, PARTICIPANT_ADDED, PARTICIPANT_DISCONNECTED, ENGAGEMENT_CREATED, ENGAGEMENT_ERROR]'), want: '14:13 subscriptions[0].events: events takes at most 6 values' },
    { name: 'ALL with another type', text: axp.replace('[MESSAGES]', '[ALL, TYPING]'), want: '14:13 subscriptions[0].events: events ALL must be the only value' },
    { name: 'an unknown event type', text: axp.replace('[MESSAGES]', '[SMOKE]'), want: expect.stringMatching(/^14:14 subscriptions\[0\].events\[0\]: events are among MESSAGES/) },
    { name: 'a short channelProviderId', text: axp.replace('ChatConnector01', 'C1'), want: '13:24 subscriptions[0].channelProviderId: channelProviderId is 3 to 256 characters' },
    { name: 'an unknown watch format', text: axp.replace('subscriptions:', 'watch:\n  - name: w\n    url: https://w.example.com\n    format: smoke-signals\nsubscriptions:'), want: expect.stringMatching(/^13:13 watch\[0\].format: format is one of infinity, axp-digital/) },
    { name: 'a bad probe event', text: axp.replace('callback: { url: https://hooks.example.com/chat }', 'callback: { url: https://hooks.example.com/chat, probe: { event: loud } }'), want: expect.stringMatching(/^15:70 subscriptions\[0\].callback.probe.event: event is unknown/) },
  ])('reports $name', ({ text, want }) => {
    expect(issues(text, {})).toEqual([want]);
  });

  it('probe: false turns a callback\'s probe off', () => {
    const c = parseConfig(axp.replace('https://hooks.example.com/chat }', 'https://hooks.example.com/chat, probe: false }'), 'c.yaml', { env: {} });
    expect(c.desired[0]!.callback!.probe).toEqual({ enabled: false, event: 'unknown' });
  });
});

describe('config: Dixa', () => {
  const dixa = (sub: string) => `providers:
  dixa:
    kind: dixa
    apiToken: t
subscriptions:
  - name: notes
    provider: dixa
${sub}`;
  const ok = '    events: [ConversationNoteAdded]\n    callback:\n      url: https://hooks.example.com/n\n';

  it('defaults: v1, dev.dixa.io, 10 requests per second with a burst of 4, no authorization', () => {
    const c = parseConfig(dixa(ok), 'c.yaml', { env: {} });
    expect(c.accounts.dixa!.settings).toMatchObject({ baseUrl: 'https://dev.dixa.io', apiVersion: 'v1', rateLimit: { perSecond: 10, burst: 4 } });
    expect(c.desired[0]!.spec).toMatchObject({ name: 'hookwarden:notes', enabled: true, headers: {}, request: { authorization: { _type: 'NoAuth' }, customHeaders: {} } });
  });

  it.each([
    { name: 'an unknown event', sub: ok.replace('ConversationNoteAdded', 'ConversationExploded'), want: expect.stringMatching(/^8:14 subscriptions\[0\].events\[0\]: not a Dixa event name/) },
    { name: 'a basic authorization without password', sub: ok + '      authorization: { type: basic, username: u }\n', want: expect.stringMatching(/^11:22 subscriptions\[0\].callback.authorization: required key "password" is missing/) },
    { name: 'an unknown authorization type', sub: ok + '      authorization: { type: oauth }\n', want: '11:30 subscriptions[0].callback.authorization.type: authorization type is basic (username, password), token (value) or none' },
    { name: 'a filter without conditions', sub: ok + '    filters:\n      Conversation: { strategy: All, conditions: [] }\n', want: '12:50 subscriptions[0].filters.Conversation.conditions: conditions needs at least one condition' },
  ])('reports $name', ({ sub, want }) => {
    expect(issues(dixa(sub), {})).toEqual([want]);
  });

  it('accepts ConversationTranscriptionAdded (v1) and filters as Dixa shapes them', () => {
    const c = parseConfig(dixa(ok.replace('ConversationNoteAdded', 'ConversationTranscriptionAdded') + '    filters:\n      Conversation:\n        strategy: Any\n        conditions:\n          - { type: IsOneOf, field: QueueId, values: [q1] }\n'), 'c.yaml', { env: {} });
    expect((c.desired[0]!.spec.request as { filters: unknown }).filters).toEqual({ Conversation: { _type: 'CombinedFilters', strategy: 'Any', conditions: [{ _type: 'IsOneOf', field: 'QueueId', values: ['q1'] }] } });
  });
});
