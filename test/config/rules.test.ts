import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, MAX_ALIAS_COUNT, MAX_DEPTH, parseConfig, readBoundedFile, SECRET_FILE_MAX_BYTES } from '../../src/config/load.js';
import { parseDuration } from '../../src/domain/duration.js';
import { ConfigError } from '../../src/lib/errors.js';

/** Rules that keep bad input from reaching the daemon: each is a config error at file:line:col, never a crash. */

const infinity = `providers:
  infinity:
    kind: avaya-infinity
    baseUrl: https://core.avaya1234.ec.avayacloud.com
    clientId: id
    clientSecret: s
`;
const infinitySub = (callback: string) => `${infinity}subscriptions:
  - name: s
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback:
${callback}`;
const dixa = (callback: string, auth = '') => `providers:
  dixa:
    kind: dixa
    apiToken: t
subscriptions:
  - name: notes
    provider: dixa
    events: [ConversationNoteAdded]
    callback:
      url: https://hooks.example.com/n
${auth}${callback}`;
const watch = (extra: string) => `providers: {}
watch:
  - name: w
    url: https://w.example.com/hook
    format: mycontactcenter
${extra}`;

function issues(text: string, opts: Parameters<typeof parseConfig>[2] = { env: {} }): string[] {
  try {
    parseConfig(text, 'c.yaml', opts);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    throw err;
  }
  return [];
}

describe('durations', () => {
  it.each([
    { text: '30s', want: 30 },
    { text: '1h30m', want: 5400 },
    { text: '500ms', want: 0.5 },
    { text: ' 2d ', want: 172800 },
    { text: '0s', want: 0 },
    { text: '', want: undefined },
    { text: '10', want: undefined },
    { text: '-5s', want: undefined },
    { text: '1e300s', want: undefined },
    { text: 'Infinitys', want: undefined },
    { text: 'NaNs', want: undefined },
    // Longer than any real duration: refused before any arithmetic.
    { text: `${'9'.repeat(400)}d`, want: undefined },
  ])('parseDuration($text) is $want', ({ text, want }) => {
    expect(parseDuration(text)).toBe(want);
  });

  const at = (key: string, value: string) => `defaults:\n  ${key}: ${value}\nproviders: {}\n`;
  it.each([
    { name: 'zero', text: at('reconcileEvery', '0s'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be more than zero' },
    { name: 'a negative value', text: at('reconcileEvery', '-5s'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be a duration such as 30s, 5m, 8h or 7d' },
    { name: 'a number without unit', text: at('reconcileEvery', '60'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be a duration such as 30s, 5m, 8h or 7d' },
    { name: '1e300', text: at('reconcileEvery', '1e300'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be a duration such as 30s, 5m, 8h or 7d' },
    { name: '.inf', text: at('reconcileEvery', '.inf'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be a duration such as 30s, 5m, 8h or 7d' },
    { name: 'too long a reconcile interval', text: at('reconcileEvery', '2d'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be at most 1d, got 2d' },
    { name: 'a sub-second reconcile interval', text: at('reconcileEvery', '500ms'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be at least 1s, got 500ms' },
    { name: 'a huge count of days', text: at('reconcileEvery', '99999999999999999999d'), want: '2:19 defaults.reconcileEvery: reconcileEvery must be at most 1d, got 99999999999999999999d' },
    { name: 'a probe timeout over a minute', text: 'defaults:\n  probe: { timeout: 2m }\nproviders: {}\n', want: '2:21 defaults.probe.timeout: probe.timeout must be at most 1m, got 2m' },
    { name: 'a probe interval over a day', text: 'defaults:\n  probe: { every: 25h }\nproviders: {}\n', want: '2:19 defaults.probe.every: probe.every must be at most 1d, got 25h' },
    { name: 'a delivery poll of zero', text: 'defaults:\n  deliveryPoll: { every: 0m }\nproviders: {}\n', want: '2:26 defaults.deliveryPoll.every: deliveryPoll.every must be more than zero' },
    { name: 'history kept over ten years', text: 'history:\n  keep: 3651d\nproviders: {}\n', want: '2:9 history.keep: history.keep must be at most 3650d, got 3651d' },
    { name: 'a lease shorter than 5s', text: at('leaseTtl', '1s'), want: '2:13 defaults.leaseTtl: leaseTtl must be at least 5s, got 1s' },
    { name: 'a lease over an hour', text: at('leaseTtl', '2h'), want: '2:13 defaults.leaseTtl: leaseTtl must be at most 1h, got 2h' },
    { name: 'a pass deadline over an hour', text: at('passTimeout', '61m'), want: '2:16 defaults.passTimeout: passTimeout must be at most 1h, got 61m' },
    { name: 'a liveness timeout under 10s', text: 'server:\n  livenessTimeout: 5s\nproviders: {}\n', want: '2:20 server.livenessTimeout: server.livenessTimeout must be at least 10s, got 5s' },
    { name: 'renewBefore of zero', text: at('renewBefore', '0s'), want: '2:16 defaults.renewBefore: renewBefore must be more than zero' },
    { name: 'renewBefore of 0%', text: at('renewBefore', '0%'), want: '2:16 defaults.renewBefore: renewBefore as a percentage must be more than 0% (and below 100%)' },
    { name: 'renewBefore over a year', text: at('renewBefore', '400d'), want: '2:16 defaults.renewBefore: renewBefore must be at most 365d, got 400d' },
    { name: 'a disableAfter over a year', text: watch('    policy: { disableAfter: 366d }\n'), want: '6:29 watch[0].policy.disableAfter: disableAfter must be at most 365d, got 366d' },
    { name: 'a provider timeout over 5 minutes', text: infinity.replace('clientSecret: s', 'clientSecret: s\n    timeout: 1h'), want: '7:14 providers.infinity.timeout: timeout must be at most 5m, got 1h' },
  ])('rejects $name', ({ text, want }) => {
    expect(issues(text)).toEqual([want]);
  });

  it('fills the reliability defaults: lease 60s, pass deadline 5m, liveness 5m', () => {
    const c = parseConfig('providers: {}\n', 'c.yaml', { env: {} });
    expect(c.defaults.leaseTtlSeconds).toBe(60);
    expect(c.defaults.passTimeoutSeconds).toBe(300);
    expect(c.livenessTimeoutSeconds).toBe(300);
  });

  it('reads the reliability settings', () => {
    const c = parseConfig('server:\n  livenessTimeout: 2m\ndefaults:\n  leaseTtl: 30s\n  passTimeout: 90s\nproviders: {}\n', 'c.yaml', { env: {} });
    expect([c.defaults.leaseTtlSeconds, c.defaults.passTimeoutSeconds, c.livenessTimeoutSeconds]).toEqual([30, 90, 120]);
  });
});

describe('${file:…} secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hw-rules-'));
  const withSecret = (path: string) => infinity.replace('clientSecret: s', `clientSecret: \${file:${path}}`);

  it('refuses a directory, saying what to do', () => {
    mkdirSync(join(dir, 'secrets'), { recursive: true });
    expect(issues(withSecret(join(dir, 'secrets')))).toEqual([`6:19 \${file:${join(dir, 'secrets')}}: ${join(dir, 'secrets')} is a directory; name the file that holds the value`]);
  });

  it('refuses a file over 1 MiB', () => {
    writeFileSync(join(dir, 'big'), Buffer.alloc(SECRET_FILE_MAX_BYTES + 1, 'a'));
    expect(issues(withSecret(join(dir, 'big')))).toEqual([`6:19 \${file:${join(dir, 'big')}}: ${join(dir, 'big')} is larger than 1 MiB (1 MiB); name the file that holds just the value`]);
  });

  it('reads a file of exactly 1 MiB', () => {
    writeFileSync(join(dir, 'edge'), Buffer.alloc(SECRET_FILE_MAX_BYTES, 'a'));
    expect(readBoundedFile(join(dir, 'edge'), SECRET_FILE_MAX_BYTES)).toHaveLength(SECRET_FILE_MAX_BYTES);
  });

  it('refuses a FIFO instead of waiting for a writer', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(issues(withSecret(fifo))).toEqual([`6:19 \${file:${fifo}}: ${fifo} is not a regular file; name a file that holds the value`]);
  });

  it('bounds what an injected reader returns as well', () => {
    expect(issues(withSecret('/x'), { env: {}, readFile: () => 'a'.repeat(SECRET_FILE_MAX_BYTES + 1) })).toEqual([
      '6:19 ${file:/x}: /x is larger than 1 MiB; name the file that holds just the value',
    ]);
  });

  it('the config itself may come through a pipe, as with -c <(envsubst < file)', () => {
    const fifo = join(dir, 'config-fifo');
    execFileSync('mkfifo', [fifo]);
    // A writer in another process keeps the pipe open until the reader has it all.
    const writer = spawn('sh', ['-c', `printf 'providers: {}\\n' > ${fifo}`]);
    try {
      expect(loadConfigFile(fifo, { env: {} }).accounts).toEqual({});
    } finally {
      writer.kill();
    }
  });

  it('a config path that is a directory is a config error at line 0', () => {
    expect(() => loadConfigFile(dir)).toThrowError(ConfigError);
    try {
      loadConfigFile(dir);
    } catch (err) {
      expect((err as ConfigError).issues).toEqual([{ file: dir, line: 0, col: 0, message: `cannot read the config: ${dir} is a directory; name the file that holds the value` }]);
    }
  });
});

describe('YAML that would exhaust resources', () => {
  it('an alias bomb is a config error at the first alias', () => {
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) laughs.push(`${'abcdefghi'[i]}: &${'abcdefghi'[i]} [${Array(10).fill(`*${'abcdefghi'[i - 1]}`).join(', ')}]`);
    const text = `providers: {}\n${laughs.join('\n')}\n`;
    expect(issues(text)).toEqual([`3:8 the YAML's aliases expand too far (at most ${MAX_ALIAS_COUNT} expansions): write the values out, or use fewer aliases`]);
  });

  it('an alias inside the node it refers to is a config error (the expansion guard counts it as free)', () => {
    expect(issues('providers: {}\nsubscriptions: &s\n  - *s\n')).toEqual(['3:5 alias *s is inside the node it refers to: a YAML value cannot contain itself']);
  });

  it(`more than ${MAX_ALIAS_COUNT} aliases is a config error, however small each expansion`, () => {
    const text = `providers: {}\ns: &s a\nx: [${Array(MAX_ALIAS_COUNT + 1).fill('*s').join(', ')}]\n`;
    expect(issues(text)).toEqual([`3:${5 + 4 * MAX_ALIAS_COUNT} the YAML has more than ${MAX_ALIAS_COUNT} aliases: write the values out, or use fewer aliases`]);
  });

  it('a shared block referenced by a few subscriptions is fine', () => {
    const text = infinitySub('      url: https://hooks.example.com/a\n').replace('    family: [AGENT]', '    family: &f [AGENT]') + '  - name: t\n    provider: infinity\n    family: *f\n    events: [ALL]\n    callback: { url: https://hooks.example.com/b }\n';
    expect(issues(text)).toEqual([]);
  });

  it.each([
    { name: 'flow sequences', text: `providers: {}\nx: ${'['.repeat(MAX_DEPTH + 1)}${']'.repeat(MAX_DEPTH + 1)}\n`, want: [expect.stringMatching(/^2:\d+ the YAML nests too deeply here \(at most 64 levels\)$/)] },
    { name: 'block mappings', text: `providers: {}\n${Array.from({ length: MAX_DEPTH + 1 }, (_, i) => `${'  '.repeat(i)}k:`).join('\n')} 1\n`, want: [expect.stringMatching(/^\d+:\d+ the YAML nests too deeply here/)] },
    { name: 'nesting past the parser\'s stack', text: `providers: {}\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, want: [expect.stringMatching(/^\d+:\d+ the YAML nests too deeply \(at most 64 levels\)$/)] },
  ])('deep nesting ($name) is a config error', ({ text, want }) => {
    expect(issues(text)).toEqual(want);
  });

  it.each([
    { name: 'a document that is a scalar', text: 'hello', want: ['1:1 the config must be a YAML mapping (providers:, subscriptions: …)'] },
    { name: 'two documents', text: 'providers: {}\n---\nproviders: {}\n', want: ['2:1 Source contains multiple documents; please use YAML.parseAllDocuments()'] },
    { name: 'a duplicate key', text: 'providers: {}\nproviders: {}\n', want: [expect.stringMatching(/^2:1 Map keys must be unique/)] },
    { name: 'an unknown tag', text: 'providers: !!binary {}\n', want: [expect.stringMatching(/^1:12 /)] },
    { name: 'a NUL byte', text: 'providers: {}\nx: "\u0000"\n', want: [expect.stringMatching(/^\d+:\d+ /)] },
  ])('$name is a config error', ({ text, want }) => {
    expect(issues(text)).toEqual(want);
  });
});

describe('headers', () => {
  it.each([
    { name: 'a watch header name with a space', text: watch('    headers: { "X Team": a }\n'), want: expect.stringMatching(/^6:26 watch\[0\]\.headers\.X Team: headers: header name "X Team" is not a valid HTTP field name/) },
    { name: 'a watch header value with CR LF', text: watch('    headers: { X-Team: "a\\r\\nX-Evil: 1" }\n'), want: '6:24 watch[0].headers.X-Team: headers: the value of X-Team must not contain line breaks (CR or LF): they would split the HTTP request' },
    { name: 'a watch header value with NUL', text: watch('    headers: { X-Team: "a\\0b" }\n'), want: '6:24 watch[0].headers.X-Team: headers: the value of X-Team must not contain control characters (NUL, escape…)' },
    { name: 'a header value with a trailing space', text: watch('    headers: { X-Team: "a " }\n'), want: '6:24 watch[0].headers.X-Team: headers: the value of X-Team must not start or end with spaces or tabs' },
    { name: 'a header value beyond Latin-1', text: watch('    headers: { X-Team: "日本" }\n'), want: '6:24 watch[0].headers.X-Team: headers: the value of X-Team must hold only ASCII or Latin-1 characters' },
    { name: 'a header value over 8192 characters', text: watch(`    headers: { X-Team: ${'a'.repeat(8193)} }\n`), want: '6:24 watch[0].headers.X-Team: headers: the value of X-Team is at most 8192 characters' },
    { name: 'a numeric header value', text: watch('    headers: { X-Count: 5 }\n'), want: '6:25 watch[0].headers.X-Count: headers values must be strings (quote numbers: "5")' },
    { name: 'a header HTTP sets itself', text: watch('    headers: { Content-Length: "0" }\n'), want: '6:32 watch[0].headers.Content-Length: headers: header Content-Length is set by HTTP itself and cannot be configured' },
    { name: 'a header given twice in two cases', text: watch('    headers: { X-A: "1", x-a: "2" }\n'), want: '6:31 watch[0].headers.x-a: headers: header x-a is given twice (also as X-A); header names ignore case' },
    { name: 'a Dixa header name with a colon', text: dixa('      headers: { "X:Y": v }\n'), want: expect.stringMatching(/^11:25 subscriptions\[0\]\.callback\.headers\.X:Y: headers: header name "X:Y" is not a valid HTTP field name/) },
    { name: 'a Dixa header value with LF', text: dixa('      headers: { X-Team: "a\\nb" }\n'), want: expect.stringMatching(/^11:26 .*must not contain line breaks/) },
    { name: 'a Dixa token with a line break', text: dixa('', '      authorization: { type: token, value: "t\\n" }\n'), want: '11:44 subscriptions[0].callback.authorization.value: value must not contain line breaks (CR or LF): they would split the HTTP request' },
    { name: 'a Dixa basic username with a colon', text: dixa('', '      authorization: { type: basic, username: "a:b", password: p }\n'), want: '11:47 subscriptions[0].callback.authorization.username: username must not contain ":"' },
    { name: 'a Dixa API token with a line break', text: dixa('').replace('apiToken: t', 'apiToken: "t\\r\\n"'), want: '4:15 providers.dixa.apiToken: apiToken must not contain line breaks (CR or LF): they would split the HTTP request' },
    { name: 'an Infinity token header that is no token', text: infinitySub('      url: https://hooks.example.com/a\n      authToken: t\n      authTokenHeader: "X Hook"\n'), want: expect.stringMatching(/^15:24 subscriptions\[0\]\.callback\.authTokenHeader: authTokenHeader: header name "X Hook" is not a valid HTTP field name/) },
    { name: 'an Infinity auth token with a line break', text: infinitySub('      url: https://hooks.example.com/a\n      authToken: "t\\r\\nX: y"\n'), want: '14:18 subscriptions[0].callback.authToken: authToken must not contain line breaks (CR or LF): they would split the HTTP request' },
  ])('rejects $name', ({ text, want }) => {
    expect(issues(text)).toEqual([want]);
  });

  it('accepts ordinary headers and tokens', () => {
    expect(issues(watch('    headers: { X-Team: "support desk", Authorization: "Bearer abc.def", "x_odd!#$%&\'*+-.^_`|~": "v\\tw" }\n'))).toEqual([]);
    expect(issues(dixa('      headers: { X-Team: support }\n', '      authorization: { type: basic, username: dixa, password: "p w:d" }\n'))).toEqual([]);
  });
});

describe('URLs', () => {
  it.each([
    { name: 'a callback URL with user and password', text: infinitySub('      url: https://user:pass@hooks.example.com/a\n'), want: "13:12 subscriptions[0].callback.url: callback.url must not contain credentials (user:password@): put credentials in the callback's auth token or headers instead" },
    { name: 'a callback URL with a user only', text: dixa('').replace('https://hooks.example.com/n', 'https://user@hooks.example.com/n'), want: "10:12 subscriptions[0].callback.url: callback.url must not contain credentials (user:password@): put credentials in the callback's auth token or headers instead" },
    { name: 'a watch URL with credentials', text: watch('').replace('https://w.example.com', 'https://u:p@w.example.com'), want: "4:10 watch[0].url: url must not contain credentials (user:password@): put credentials in the callback's auth token or headers instead" },
    { name: 'a provider base URL with credentials', text: infinity.replace('https://core', 'https://u:p@core'), want: "4:14 providers.infinity.baseUrl: baseUrl must not contain credentials (user:password@): put credentials in the account's clientId/clientSecret or token fields instead" },
    { name: 'a callback URL with a line break', text: infinitySub('      url: "https://hooks.example.com/a\\n"\n'), want: '13:12 subscriptions[0].callback.url: callback.url must not contain spaces or control characters' },
    { name: 'a callback URL with a space', text: infinitySub('      url: "https://hooks.example.com/a b"\n'), want: '13:12 subscriptions[0].callback.url: callback.url must not contain spaces or control characters' },
    { name: 'a callback URL that is a number', text: infinitySub('      url: 5\n'), want: '13:12 subscriptions[0].callback.url: callback.url must be a URL (a string)' },
    { name: 'a listen port beyond 65535', text: 'server:\n  listen: 127.0.0.1:99999\nproviders: {}\n', want: '2:11 server.listen: listen port must be at most 65535' },
    { name: 'a database URL that is not Postgres', text: 'database:\n  url: mysql://h/db\nproviders: {}\n', want: '2:8 database.url: database.url must be a postgresql:// URL' },
  ])('rejects $name', ({ text, want }) => {
    expect(issues(text)).toEqual([want]);
  });

  it('an account name that is no name says why, not only "Invalid key in record"', () => {
    expect(issues('providers:\n  "bad name": { kind: dixa, apiToken: t }\n')).toEqual([
      '2:15 providers.bad name: key "bad name": names are 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit',
    ]);
  });

  it('the database URL may carry credentials (Postgres URLs do)', () => {
    expect(parseConfig('database:\n  url: postgresql://u:p@h:5432/db\nproviders: {}\n', 'c.yaml', { env: {} }).databaseUrl).toBe('postgresql://u:p@h:5432/db');
  });
});
