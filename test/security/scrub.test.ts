import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/lib/logger.js';
import { collectConfigSecrets, derivedForms, displayUrl, MIN_SECRET_LENGTH, REDACTED, Scrubber, scrubber, scrubText } from '../../src/lib/scrub.js';
import { errorMessage, ProviderError } from '../../src/lib/errors.js';
import { providerKinds } from '../../src/providers/registry.js';

const SECRET = 's3cr3t-Value/with+chars=&"quote\\';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function with_(...secrets: string[]): Scrubber {
  const s = new Scrubber();
  for (const v of secrets) s.add(v);
  return s;
}

describe('scrubber: each derived form of a secret is replaced', () => {
  const s = with_(SECRET);
  const cases: { name: string; text: string }[] = [
    { name: 'raw', text: `error: ${SECRET} was rejected` },
    { name: 'Bearer header', text: `authorization: Bearer ${SECRET}` },
    { name: 'base64', text: `x-token: ${b64(SECRET)}` },
    { name: 'base64 without padding', text: `v=${b64(SECRET).replace(/=+$/, '')}.` },
    { name: 'base64url', text: `t=${Buffer.from(SECRET).toString('base64url')}` },
    { name: 'Basic base64(user:pass), the user unknown to the scrubber', text: `Authorization: Basic ${b64(`someone:${SECRET}`)}` },
    { name: 'Basic with a two-byte user', text: `Basic ${b64(`ab:${SECRET}`)}` },
    { name: 'Basic with a three-byte user', text: `Basic ${b64(`abc:${SECRET}`)}` },
    { name: 'encodeURIComponent', text: `GET /x?token=${encodeURIComponent(SECRET)}&a=1` },
    { name: 'form encoding', text: `grant_type=client_credentials&${new URLSearchParams({ client_secret: SECRET })}` },
    { name: 'JSON-escaped', text: JSON.stringify({ msg: `bad token ${SECRET}` }) },
    { name: 'JSON-escaped twice (a JSON body inside a log line)', text: JSON.stringify({ err: JSON.stringify({ detail: SECRET }) }) },
    { name: 'HTML-escaped', text: `<td>${SECRET.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}</td>` },
    { name: 'several times in one string', text: `${SECRET} and ${SECRET} and ${encodeURIComponent(SECRET)}` },
  ];
  it.each(cases)('$name', ({ text }) => {
    const out = s.scrub(text);
    expect(out).toContain(REDACTED);
    for (const f of [SECRET, JSON.stringify(SECRET).slice(1, -1), encodeURIComponent(SECRET), b64(SECRET).replace(/=+$/, '')]) expect(out).not.toContain(f);
    // Nothing of the secret's distinctive middle is left in any form.
    expect(out).not.toMatch(/s3cr3t|czNjcjN0|Value/);
  });

  it('Basic with a user/password pair registered redacts the whole credential', () => {
    const p = new Scrubber();
    p.addBasic('hook', 'pa55word!');
    expect(p.scrub(`Basic ${b64('hook:pa55word!')}`)).toBe(`Basic ${REDACTED}`);
    expect(p.scrub('user hook is fine')).toBe('user hook is fine');
  });
});

describe('scrubber: what it leaves alone', () => {
  it('text without any secret is returned unchanged (the same string)', () => {
    const s = with_(SECRET, 'another-secret');
    const text = 'renew agents: HTTP 503 Service Unavailable';
    expect(s.scrub(text)).toBe(text);
  });

  it(`values shorter than ${MIN_SECRET_LENGTH} characters are ignored`, () => {
    const s = with_('abc', 'x', '');
    expect(s.size).toBe(0);
    expect(s.scrub('abc xyz')).toBe('abc xyz');
    expect(derivedForms('abc')).toEqual([]);
  });

  it('a secret of exactly the minimum length counts', () => {
    expect(with_('wxyz').scrub('a wxyz b')).toBe(`a ${REDACTED} b`);
  });

  it('no secret registered: nothing is touched', () => {
    const s = new Scrubber();
    expect(s.scrub('anything at all')).toBe('anything at all');
    const v = { a: 'x', d: new Date(0) };
    expect(s.scrubValue(v)).toBe(v);
  });
});

describe('scrubber: overlapping secrets', () => {
  it.each([
    { name: 'one secret inside another: the longer wins', secrets: ['token-1234', 'token-1234-extended'], text: 'v=token-1234-extended;', want: `v=${REDACTED};` },
    { name: 'same, registered the other way round', secrets: ['token-1234-extended', 'token-1234'], text: 'v=token-1234-extended; w=token-1234', want: `v=${REDACTED}; w=${REDACTED}` },
    { name: 'sharing a prefix', secrets: ['abcdef-one', 'abcdef-two'], text: 'abcdef-one abcdef-two abcdef-three', want: `${REDACTED} ${REDACTED} abcdef-three` },
    { name: 'adjacent secrets', secrets: ['left-secret', 'right-secret'], text: 'left-secretright-secret', want: `${REDACTED}${REDACTED}` },
    { name: 'overlapping secrets: the whole span goes, no tail is left', secrets: ['abcd1234', '1234wxyz-long'], text: 'x abcd1234wxyz-long y', want: `x ${REDACTED} y` },
    { name: 'regex metacharacters are literal', secrets: ['a.b*c+d?(e)[f]{g}|h^$\\'], text: 'x a.b*c+d?(e)[f]{g}|h^$\\ y aXbbbcd', want: `x ${REDACTED} y aXbbbcd` },
    { name: 'non-ASCII', secrets: ['pässwörd-ü'], text: 'p=pässwörd-ü', want: `p=${REDACTED}` },
    { name: 'astral characters', secrets: ['key-🔑-secret'], text: '«key-🔑-secret»', want: `«${REDACTED}»` },
  ])('$name', ({ secrets, text, want }) => {
    expect(with_(...secrets).scrub(text)).toBe(want);
  });
});

describe('scrubber: runtime slots', () => {
  it('a slot keeps its latest value and the one before, and forgets older ones', () => {
    const s = new Scrubber();
    for (let i = 0; i < 50; i++) s.add(`access-token-${i}`, { slot: 'oauth infinity' });
    expect(s.size).toBe(2);
    expect(s.scrub('Bearer access-token-49')).toBe(`Bearer ${REDACTED}`);
    expect(s.scrub('Bearer access-token-48')).toBe(`Bearer ${REDACTED}`);
    expect(s.scrub('Bearer access-token-10')).toBe('Bearer access-token-10');
  });

  it('a value both configured and held by a slot stays scrubbed when the slot moves on', () => {
    const s = new Scrubber();
    s.add('shared-secret-value');
    s.add('shared-secret-value', { slot: 'k' });
    s.add('next-value-1', { slot: 'k' });
    s.add('next-value-2', { slot: 'k' });
    expect(s.scrub('shared-secret-value next-value-1 next-value-2')).toBe(`${REDACTED} ${REDACTED} ${REDACTED}`);
  });

  it('adding the same value twice does not grow anything', () => {
    const s = new Scrubber();
    s.add('same-secret');
    s.add('same-secret');
    s.add('same-secret', { slot: 'a' });
    s.add('same-secret', { slot: 'a' });
    expect(s.size).toBe(2);
  });
});

describe('scrubber: values and streams', () => {
  it('scrubValue scrubs nested strings, keeps identity keys, Dates and the input', () => {
    const s = with_('hunter2-secret');
    const at = new Date(0);
    const input = { remoteId: 'id-hunter2-secret', lastError: 'HTTP 400 hunter2-secret', nested: [{ text: 'x hunter2-secret' }], at, n: 3, none: null };
    const out = s.scrubValue(input, new Set(['remoteId']));
    expect(out).toEqual({ remoteId: 'id-hunter2-secret', lastError: `HTTP 400 ${REDACTED}`, nested: [{ text: `x ${REDACTED}` }], at, n: 3, none: null });
    expect(out.at).toBe(at);
    expect(input.lastError).toBe('HTTP 400 hunter2-secret');
  });

  it('every line the logger writes is scrubbed, with the redaction paths still in force', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    const canary = `logger-canary-${process.pid}"\\x`;
    scrubber.add(canary);
    logger.error({ err: `provider said: ${canary}`, nested: { body: JSON.stringify({ token: canary }) }, clientSecret: 'by-path' }, `failed: ${canary}`);
    const text = lines.join('');
    expect(text).toContain(REDACTED);
    for (const f of derivedForms(canary)) expect(text).not.toContain(f);
    expect(text).not.toContain('by-path');
    expect(JSON.parse(lines[0]!).msg).toBe(`failed: ${REDACTED}`);
  });

  it('errorMessage returns scrubbed text', () => {
    scrubber.add('errormessage-canary');
    expect(errorMessage(new ProviderError('PROVIDER_BAD_REQUEST', 'POST /x: HTTP 400 errormessage-canary', 'terminal'))).toBe(`POST /x: HTTP 400 ${REDACTED}`);
    expect(errorMessage('plain errormessage-canary')).toBe(`plain ${REDACTED}`);
  });
});

describe('displayUrl', () => {
  it.each([
    { url: 'https://hooks.example.com/a/b', want: 'https://hooks.example.com/a/b' },
    { url: 'https://hooks.example.com/a?token=abc123&x=1', want: 'https://hooks.example.com/a?…' },
    { url: 'https://user:pw@hooks.example.com:8443/a', want: 'https://hooks.example.com:8443/a' },
    { url: 'https://hooks.example.com/a#frag', want: 'https://hooks.example.com/a#…' },
    { url: 'name:hookwarden:x', want: 'name:hookwarden:x' },
    { url: 'not a url', want: 'not a url' },
  ])('$url', ({ url, want }) => {
    expect(displayUrl(url)).toBe(want);
  });
});

describe('config secrets', () => {
  const env = {
    INF: 'inf-client-secret', AXP_KEY: 'axp-app-key', AXP_SECRET: 'axp-client-secret', DIXA: 'dixa-api-token',
    INF_HOOK: 'inf-hook-token', NOTE_HOOK: 'note-hook-token', DIXA_PW: 'dixa-basic-pw', DIXA_TOK: 'dixa-bearer', DIXA_HDR: 'dixa-header-val', WATCH_HDR: 'watch-header-val', DB_PW: 'db-pass-word',
  };
  const yaml = `database:
  url: postgresql://app:\${DB_PW}@db.example.com:5432/hw
providers:
  inf:
    kind: avaya-infinity
    baseUrl: https://core.example.com
    clientId: inf-client
    clientSecret: \${INF}
  digital:
    kind: axp-digital
    baseUrl: https://na.api.avayacloud.com
    accountId: ABCDEF
    appKey: \${AXP_KEY}
    clientId: axp-client
    clientSecret: \${AXP_SECRET}
  notify:
    kind: axp-notification
    baseUrl: https://na.api.avayacloud.com
    accountId: ABCDEF
    appKey: \${AXP_KEY}
    clientId: axp-client
    clientSecret: \${AXP_SECRET}
  dixa:
    kind: dixa
    apiToken: \${DIXA}
watch:
  - name: mcc
    url: https://mcc.example.com/hook?sig=watch-url-signature&page=2
    format: mycontactcenter
    headers: { X-Api-Key: "\${WATCH_HDR}" }
subscriptions:
  - name: agents
    provider: inf
    family: [AGENT]
    events: [ALL]
    callback: { url: https://hooks.example.com/a, authToken: "\${INF_HOOK}", authTokenHeader: X-Hook-Token }
  - name: engagements
    provider: notify
    family: AGENT_ENGAGEMENT
    events: [ALL]
    callback: { url: https://hooks.example.com/n, authToken: "\${NOTE_HOOK}" }
  - name: chat
    provider: digital
    channelProviderId: Chat01
    events: [MESSAGES]
    callback: { url: https://hooks.example.com/c }
  - name: conv
    provider: dixa
    events: [ConversationCreated]
    callback:
      url: https://hooks.example.com/d
      authorization: { type: basic, username: hookuser, password: "\${DIXA_PW}" }
      headers: { X-Custom: "\${DIXA_HDR}" }
  - name: notes
    provider: dixa
    events: [ConversationNoteAdded]
    callback:
      url: https://hooks.example.com/e
      authorization: { type: token, value: "\${DIXA_TOK}" }
`;
  const config = parseConfig(yaml, 'c.yaml', { env });

  it('finds every secret slot of every provider kind, and nothing that is not one', () => {
    const found = collectConfigSecrets(config, providerKinds);
    const values = new Set(found.values);
    for (const v of [...Object.values(env), 'watch-url-signature', `Bearer ${env.DIXA_TOK}`, `Basic ${b64(`hookuser:${env.DIXA_PW}`)}`]) expect(values, v).toContain(v);
    expect(found.basic).toContainEqual(['hookuser', env.DIXA_PW]);
    for (const v of ['inf-client', 'axp-client', 'ABCDEF', 'X-Hook-Token', 'hookuser', 'agents', 'https://hooks.example.com/a', '2', 'BasicAuth', 'TokenAuth']) expect(values, v).not.toContain(v);
  });
});

describe('performance sanity', () => {
  it('thousands of secrets (a provider-issued key per subscription): added one by one, then one pass per line', () => {
    const s = new Scrubber();
    const line = JSON.stringify({ level: 30, time: '2026-01-01T00:00:00.000Z', provider: 'dixa', subscription: 'agents', msg: 'renew agents: expires at 2026-01-01T00:10:00.000Z; renewal was due at 2026-01-01T00:05:00.000Z' });
    for (let i = 0; i < 5000; i++) {
      s.add(`${i.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`, { slot: `dixa ${i}` });
      // Scrubbing between additions costs nothing extra: the index is updated in place, never rebuilt.
      expect(s.scrub(line)).toBe(line);
    }
    expect(s.size).toBe(5000);
    let changed = 0;
    for (let i = 0; i < 20_000; i++) if (s.scrub(line) !== line) changed++;
    expect(changed).toBe(0);
    const big = `${'a'.repeat(100_000)} 00000fff${'ab'.repeat(28)} ${'b'.repeat(100_000)}`;
    expect(s.scrub(big)).toBe(`${'a'.repeat(100_000)} ${REDACTED} ${'b'.repeat(100_000)}`);
  });

  it('the text served at /metrics goes through the same scrubber', () => {
    scrubber.add('metrics-canary-value');
    expect(scrubText('x{label="metrics-canary-value"} 1\n')).toBe(`x{label="${REDACTED}"} 1\n`);
  });
});
