import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { parseConfig, type Config } from '../../src/config/load.js';
import { ConfigError } from '../../src/lib/errors.js';
import { ROOT } from '../fixtures/cli.js';

/**
 * Whatever the text, parseConfig returns a Config or throws a ConfigError whose every issue
 * names the file, a line and a column; it never throws anything else, and never takes long.
 */

const dir = mkdtempSync(join(tmpdir(), 'hw-prop-'));
writeFileSync(join(dir, 'secret'), 's3cr3t\n');
writeFileSync(join(dir, 'big'), Buffer.alloc(1024 * 1024 + 1, 'a'));

const env: Record<string, string> = {
  A: 'value',
  SECRET: 's3cr3t',
  NL: 'a\nb',
  CRLF: 'x\r\nInjected: 1',
  NUL: 'a\u0000b',
  BIG: 'x'.repeat(10_000),
  EMPTY: '',
  URL: 'https://user:pass@hooks.example.com/a',
  YAML: '{ a: [1, 2], b: *x }',
};
const refs = [
  '${A}', '${SECRET}', '${NL}', '${CRLF}', '${NUL}', '${BIG}', '${EMPTY}', '${UNSET}', '${UNSET:-fallback}', '${URL}', '${YAML}', '${1bad}', '${}', '$${A}', '${A',
  `\${file:${join(dir, 'secret')}}`, `\${file:${join(dir, 'big')}}`, `\${file:${dir}}`, '${file:/nonexistent/x}', '${file:/dev/zero}', '${file:/proc/self/status}', '${file:}',
];

/** Every issue is placed: the file, a line from 1 (0 only for an unreadable file) and a column. */
function check(text: string): Config | ConfigError {
  const started = performance.now();
  let result: Config | ConfigError;
  try {
    result = parseConfig(text, 'c.yaml', { env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`parseConfig threw ${String(err)} for ${JSON.stringify(text.slice(0, 500))}`, { cause: err });
    expect(err.issues.length).toBeGreaterThan(0);
    for (const i of err.issues) {
      expect(i.file).toBe('c.yaml');
      expect(Number.isInteger(i.line) && i.line >= 1).toBe(true);
      expect(Number.isInteger(i.col) && i.col >= 1).toBe(true);
      expect(typeof i.message === 'string' && i.message.length > 0).toBe(true);
    }
    result = err;
  }
  expect(performance.now() - started).toBeLessThan(2000);
  if (!(result instanceof ConfigError)) checkConfig(result);
  return result;
}

/** What a config that was accepted promises: durations positive, finite and within their bounds. */
function checkConfig(c: Config): void {
  const within = (v: number, min: number, max: number) => expect(Number.isFinite(v) && v >= min && v <= max, `${v} in [${min}, ${max}]`).toBe(true);
  within(c.defaults.reconcileEverySeconds, 1, 86400);
  within(c.defaults.probe.everySeconds, 1, 86400);
  within(c.defaults.probe.timeoutSeconds, 1, 60);
  within(c.defaults.deliveryPollEverySeconds, 1, 86400);
  within(c.defaults.leaseTtlSeconds, 5, 3600);
  within(c.defaults.passTimeoutSeconds, 5, 3600);
  within(c.livenessTimeoutSeconds, 10, 86400);
  within(c.historyKeepSeconds, 60, 3650 * 86400);
  for (const p of Object.values(c.policies)) {
    within(p.disableAfterSeconds, 1, 365 * 86400);
    within(p.deleteAfterSeconds, 1, 365 * 86400);
  }
  for (const w of c.watch) {
    within(w.everySeconds, 1, 86400);
    within(w.timeoutSeconds, 1, 60);
    for (const [k, v] of Object.entries(w.headers)) {
      expect(k).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
      expect(v).not.toMatch(/[\u0000-\u0008\u000a-\u001f\u007f]/);
    }
    expect(new URL(w.url).username).toBe('');
  }
  for (const d of c.desired) if (d.callback) expect(new URL(d.callback.url).password).toBe('');
}

// Pieces of YAML syntax, joined at random: mostly nonsense, sometimes almost a config.
const token = fc.constantFrom(
  'providers:', 'subscriptions:', 'watch:', 'defaults:', 'server:', 'history:', 'kind: dixa', 'kind: avaya-infinity', 'apiToken: t', 'name: s', 'provider: dixa',
  '\n', '\n  ', '\n    ', '  ', ' ', '- ', ': ', '[', ']', '{', '}', ',', '&a ', '*a', '&b ', '*b', '<<: *a', '!!str ', '!!binary ', '!custom ', '? ', '|', '>-', '"', "'", '#', '---', '...', '%YAML 1.2\n', '\t', '\u0000', '\ufeff', '\r\n',
  '30s', '0s', '-5s', '1e300', '.inf', '.nan', '99999999999999999999d', '500ms', '~', 'null', 'true', '0x1F', '0o17', '-1', '1e309',
  'https://hooks.example.com/a', 'http://x', 'https://u:p@h/', ...refs,
);
const randomYaml = fc.array(token, { maxLength: 60 }).map((t) => t.join(''));

// Values of the wrong kind, or at the edges of the right one.
const junk = fc.oneof(
  fc.constantFrom<unknown>(null, true, 0, -1, 1e300, -1e300, Number.MAX_SAFE_INTEGER, 0.5, '', ' ', '\n', [], {}, '\u0000', 'x'.repeat(5000)),
  fc.string({ maxLength: 20, unit: 'binary-ascii' }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(...refs),
);
/** Mostly a valid value, sometimes a broken one: most documents then hold a few mistakes, some none. */
const ok = <T>(valid: fc.Arbitrary<T>, broken: fc.Arbitrary<unknown> = junk) => fc.oneof({ arbitrary: valid as fc.Arbitrary<unknown>, weight: 12 }, { arbitrary: broken, weight: 1 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });

const badDuration = fc.oneof(
  fc.constantFrom('0s', '0m', '-5s', '1e300', '1e300s', `${'9'.repeat(70)}d`, '99999999999999999999d', '10', '', '400d', '3651d', 'Infinity', '1 h', '4s'),
  fc.integer({ min: -10, max: 100_000 }).map((n) => `${n}${['s', 'm', 'h', 'd', 'ms', 'w'][Math.abs(n) % 6]}`),
  junk,
);
const duration = (valid: string[]) => ok(fc.constantFrom(...valid), badDuration);
const headerName = ok(fc.constantFrom('X-Team', 'Authorization', 'x_odd!#', 'X-Request-Id'), fc.oneof(fc.constantFrom('X Team', 'X:Y', '', 'Content-Length', 'host', 'ü'), fc.string({ maxLength: 12, unit: 'binary-ascii' })));
const headerValueArb = ok(
  fc.constantFrom('support', 'a b', 'Bearer abc.def', '${A}'),
  fc.oneof(fc.constantFrom('a\r\nX-Evil: 1', 'a\nb', 'a\u0000b', ' lead', 'trail ', '日本', 'x'.repeat(9000), '${CRLF}', '${NL}'), fc.string({ maxLength: 12, unit: 'binary-ascii' }), junk),
);
const headers = ok(fc.dictionary(headerName as fc.Arbitrary<string>, headerValueArb, { maxKeys: 4 }));
const url = ok(
  fc.constantFrom('https://hooks.example.com/a', 'http://127.0.0.1:8080/a', 'https://[::1]/', 'https://hooks.example.com/b?x=1#f'),
  fc.oneof(
    fc.constantFrom('https://user:pass@hooks.example.com/a', 'https://u@h.example.com/', 'http://hooks.example.com/a', 'ftp://x', 'javascript:alert(1)', 'https://h/\n', 'https:// h', 'https://' + 'a'.repeat(3000), '${URL}'),
    fc.webUrl({ authoritySettings: { withUserInfo: true, withPort: true }, withQueryParameters: true, withFragments: true }),
    junk,
  ),
);
const policy = fc.record({ unhealthyAfter: maybe(ok(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -2, max: 2000 }))), disableAfter: maybe(duration(['8h', '1h'])), deleteAfter: maybe(duration(['7d', '2d'])) }, { requiredKeys: [] });
const timeout = maybe(duration(['10s', '500ms', '2m']));

const account = ok(
  fc.oneof(
    fc.record({ kind: fc.constant('avaya-infinity'), baseUrl: url, clientId: ok(fc.constant('id')), clientSecret: ok(fc.constantFrom('${SECRET}', `\${file:${join(dir, 'secret')}}`), fc.constantFrom(...refs)), timeout, pageSize: maybe(ok(fc.integer({ min: 1, max: 25 }), fc.integer({ min: -1, max: 30 }))), policy: maybe(policy) }, { requiredKeys: ['kind', 'baseUrl', 'clientId', 'clientSecret'] }),
    fc.record({ kind: fc.constantFrom('axp-digital', 'axp-notification'), baseUrl: url, accountId: ok(fc.constant('ABCDEF')), appKey: ok(fc.constant('k')), clientId: fc.constant('c'), clientSecret: fc.constant('s'), timeout, policy: maybe(policy) }, { requiredKeys: ['kind', 'baseUrl', 'accountId', 'appKey', 'clientId', 'clientSecret'] }),
    fc.record({ kind: fc.constant('dixa'), apiToken: headerValueArb, baseUrl: maybe(url), apiVersion: maybe(ok(fc.constantFrom('v1', 'beta'))), rateLimit: maybe(ok(fc.record({ perSecond: ok(fc.integer({ min: 1, max: 100 }), fc.double()), burst: ok(fc.integer({ min: 1, max: 10 })) }))), timeout, policy: maybe(policy) }, { requiredKeys: ['kind', 'apiToken'] }),
  ),
  fc.oneof(fc.record({ kind: junk }), junk),
);
const accountName = ok(fc.constantFrom('inf', 'digital', 'notify', 'dixa'), fc.constantFrom('bad name', '', 'undeclared')) as fc.Arbitrary<string>;
const callback = ok(
  fc.record(
    {
      url,
      method: maybe(ok(fc.constantFrom('POST', 'PUT'), fc.constant('GET'))),
      authToken: maybe(headerValueArb),
      authTokenHeader: maybe(headerName),
      headers: maybe(headers),
      authorization: maybe(ok(fc.oneof(fc.record({ type: fc.constant('basic'), username: ok(fc.constant('u'), fc.constant('a:b')), password: headerValueArb }), fc.record({ type: fc.constant('token'), value: headerValueArb }), fc.constant({ type: 'none' })))),
      probe: maybe(ok(fc.oneof(fc.boolean(), fc.record({ event: fc.constantFrom('sample', 'unknown') })), fc.constant({ event: 'loud' }))),
    },
    { requiredKeys: ['url'] },
  ),
);
const subscription = fc.record(
  {
    name: ok(fc.constantFrom('s', 't', 'agent-events')),
    provider: accountName,
    family: maybe(ok(fc.constantFrom(['AGENT'], 'AGENT_ENGAGEMENT'), fc.constantFrom(['ALL', 'AGENT'], ['AGENT', 'QUEUE', 'INTERACTION', 'AGENT']))),
    events: maybe(ok(fc.constantFrom(['ALL'], ['MESSAGES'], ['ConversationCreated']), fc.constantFrom([], Array.from({ length: 30 }, (_, i) => `E${i}`)))),
    channelProviderId: maybe(ok(fc.constant('Chat01'))),
    renewBefore: maybe(ok(fc.constantFrom('33%', '99.9%', '5m'), fc.oneof(fc.constantFrom('0%', '150%', '0s'), badDuration))),
    callback,
  },
  { requiredKeys: ['name', 'provider', 'callback'] },
);
const watchEntry = fc.record(
  { name: ok(fc.constantFrom('w', 'v')), url, format: ok(fc.constantFrom('mycontactcenter', 'dixa'), fc.constant('smoke')), every: maybe(duration(['30s', '1m'])), timeout: maybe(duration(['5s', '1m'])), headers: maybe(headers), policy: maybe(policy) },
  { requiredKeys: ['name', 'url', 'format'] },
);
const configValue = fc.record(
  {
    database: maybe(ok(fc.record({ url: ok(fc.constantFrom('postgresql://u:p@h/db', 'postgres://h/db'), fc.constantFrom('mysql://h/db', '')) }))),
    server: maybe(ok(fc.record({ listen: maybe(ok(fc.constantFrom('127.0.0.1:9464', '[::1]:0'), fc.constantFrom('0.0.0.0:99999', 'nohost'))), livenessTimeout: maybe(duration(['5m', '10s', '1d'])) }, { requiredKeys: [] }))),
    defaults: maybe(
      ok(
        fc.record(
          {
            reconcileEvery: maybe(duration(['30s', '1m', '1d'])),
            renewBefore: maybe(ok(fc.constantFrom('33%', '5m'), fc.oneof(fc.constantFrom('0%', '150%'), badDuration))),
            concurrency: maybe(ok(fc.integer({ min: 1, max: 64 }), fc.integer({ min: -1, max: 100 }))),
            leaseTtl: maybe(duration(['5s', '60s', '1h'])),
            passTimeout: maybe(duration(['5s', '5m', '1h'])),
            probe: maybe(fc.record({ every: maybe(duration(['1s', '60s'])), timeout: maybe(duration(['1s', '5s', '60s'])) }, { requiredKeys: [] })),
            deliveryPoll: maybe(fc.record({ every: duration(['5m', '1d']) })),
          },
          { requiredKeys: [] },
        ),
      ),
    ),
    history: maybe(fc.record({ keep: duration(['30d', '1m', '3650d']) })),
    providers: ok(fc.dictionary(accountName, account, { maxKeys: 4 })),
    watch: maybe(ok(fc.array(watchEntry, { maxLength: 3 }))),
    subscriptions: maybe(ok(fc.array(subscription, { maxLength: 4 }))),
    extra: fc.option(junk, { nil: undefined, freq: 12 }),
  },
  { requiredKeys: ['providers'] },
);
// Shared objects become YAML anchors and aliases (the yaml package's default).
const structured = configValue.map((v) => stringify(v, { aliasDuplicateObjects: true }));

/** Deep nesting and alias fan-out, in flow and block style, around a config. */
const hostile = fc.oneof(
  fc.integer({ min: 1, max: 400 }).map((d) => `providers: {}\nx: ${'['.repeat(d)}${']'.repeat(d)}\n`),
  fc.integer({ min: 1, max: 120 }).map((d) => `providers: {}\n${Array.from({ length: d }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n')} 1\n`),
  fc.integer({ min: 1, max: 120 }).map((d) => `providers: {}\n${Array.from({ length: d }, (_, i) => `${'  '.repeat(i)}-`).join('\n')} 1\n`),
  fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })).map(([levels, fan]) => {
    const lines = ['providers: {}', 'l0: &l0 [x, x]'];
    for (let i = 1; i <= levels; i++) lines.push(`l${i}: &l${i} [${Array(fan).fill(`*l${i - 1}`).join(', ')}]`);
    return `${lines.join('\n')}\n`;
  }),
  fc.integer({ min: 1, max: 1500 }).map((n) => `providers: {}\nsubscriptions: &s\n${'  - *s\n'.repeat(Math.min(n, 3))}x: [${Array(n).fill('*s').join(', ')}]\n`),
  fc.integer({ min: 1, max: 1500 }).map((n) => `providers: {}\ns: &s [a]\nx: [${Array(n).fill('*s').join(', ')}]\n`),
);

// The example config with a few characters changed: errors then land anywhere in a real file.
const example = readFileSync(join(ROOT, 'config.example.yaml'), 'utf8');
const mutated = fc
  .array(fc.tuple(fc.nat({ max: example.length }), fc.nat({ max: 3 }), fc.oneof(fc.string({ maxLength: 3, unit: 'binary-ascii' }), token)), { minLength: 1, maxLength: 4 })
  .map((edits) => edits.reduce((t, [at, del, ins]) => t.slice(0, at % (t.length + 1)) + ins + t.slice((at % (t.length + 1)) + del), example));

describe('parseConfig on generated input', () => {
  it('random YAML syntax', () => {
    fc.assert(fc.property(randomYaml, (t) => void check(t)), { numRuns: 1000 });
  });

  it('config-shaped documents with wrong types, bad durations, headers, URLs and env refs', () => {
    let accepted = 0;
    fc.assert(
      fc.property(structured, (t) => {
        if (!(check(t) instanceof ConfigError)) accepted++;
      }),
      { numRuns: 1000 },
    );
    // The generator is not so hostile that nothing valid ever comes out.
    expect(accepted).toBeGreaterThan(0);
  });

  it('deep nesting and alias bombs', () => {
    fc.assert(fc.property(hostile, (t) => void check(t)), { numRuns: 200 });
  });

  it('the example config with random edits', () => {
    fc.assert(fc.property(mutated, (t) => void check(t.replaceAll(/\$\{[A-Z_]+\}/g, 'x'))), { numRuns: 400 });
  });
});
