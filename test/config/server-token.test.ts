import { describe, expect, it } from 'vitest';
import { isLoopbackListenHost } from '../../src/config/common.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/lib/errors.js';

/** server.token: required off loopback, validated without ever echoing it. */

function issues(text: string, env: Record<string, string | undefined> = {}): string[] {
  try {
    parseConfig(text, 'c.yaml', { env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.line}:${i.col} ${i.message}`);
    throw err;
  }
  return [];
}

const server = (lines: string) => `server:\n${lines}providers: {}\n`;
const TOKEN = 'a1b2c3d4e5f6a7b8c9d0e1f2';
const REQUIRED = 'is not a loopback address: set server.token (e.g. ${HOOKWARDEN_SERVER_TOKEN}); /status, /status.json and /metrics then require "Authorization: Bearer <token>"';

describe('server.listen off loopback needs server.token', () => {
  it.each([
    { name: 'all IPv4 interfaces', listen: '0.0.0.0:9464', host: '0.0.0.0' },
    { name: 'all IPv6 interfaces', listen: '"[::]:9464"', host: '::' },
    { name: 'a LAN address', listen: '10.1.2.3:9464', host: '10.1.2.3' },
    { name: 'a host name', listen: 'hookwarden.internal:9464', host: 'hookwarden.internal' },
    { name: 'an IPv4-mapped address off loopback', listen: '"[::ffff:a00:1]:9464"', host: '::ffff:a00:1' },
  ])('$name: an error at server.listen', ({ listen, host }) => {
    expect(issues(server(`  listen: ${listen}\n`))).toEqual([`2:11 server.listen: ${host} ${REQUIRED}`]);
  });

  it.each([
    { name: 'the default', text: 'providers: {}\n' },
    { name: '127.0.0.1', text: server('  listen: 127.0.0.1:9464\n') },
    { name: 'elsewhere in 127/8', text: server('  listen: 127.0.0.53:9464\n') },
    { name: 'localhost', text: server('  listen: localhost:9464\n') },
    { name: '::1', text: server('  listen: "[::1]:9464"\n') },
    { name: '::1 written out', text: server('  listen: "[0:0:0:0:0:0:0:1]:9464"\n') },
  ])('$name: no token needed', ({ text }) => {
    expect(issues(text)).toEqual([]);
  });

  it('off loopback with a token (from the environment): accepted, and the token is the one given', () => {
    const c = parseConfig(server('  listen: 0.0.0.0:9464\n  token: ${STATUS_TOKEN}\n'), 'c.yaml', { env: { STATUS_TOKEN: TOKEN } });
    expect(c.listen).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(c.server.token).toBe(TOKEN);
  });

  it('from a file, like every secret', () => {
    const c = parseConfig(server('  listen: 0.0.0.0:9464\n  token: ${file:/run/secrets/status-token}\n'), 'c.yaml', { env: {}, readFile: () => `${TOKEN}\n` });
    expect(c.server.token).toBe(TOKEN);
  });

  it('a loopback listen may have a token too (it is then required as well)', () => {
    expect(parseConfig(server(`  token: ${TOKEN}\n`), 'c.yaml', { env: {} }).server.token).toBe(TOKEN);
    expect(parseConfig('providers: {}\n', 'c.yaml', { env: {} }).server.token).toBeUndefined();
  });

  it.each([
    { name: 'too short', token: 'short-token', want: '3:10 server.token: server.token must be at least 16 characters (generate one: openssl rand -hex 32)' },
    { name: 'with a space', token: '"abcdefgh ijklmnopq"', want: '3:10 server.token: server.token may hold only letters, digits and - . _ ~ + / (then = padding), as a Bearer token does' },
    { name: 'a number', token: '1234567890123456789', want: '3:10 server.token: server.token must be a string' },
  ])('a token $name is refused without being echoed', ({ token, want }) => {
    const got = issues(server(`  listen: 0.0.0.0:9464\n  token: ${token}\n`));
    expect(got).toEqual([want]);
    expect(got.join('\n')).not.toContain(token.replace(/"/g, ''));
  });

  it('an unset variable is reported where it is used', () => {
    expect(issues(server('  listen: 0.0.0.0:9464\n  token: ${STATUS_TOKEN}\n'))).toEqual(['3:10 environment variable STATUS_TOKEN is not set']);
  });
});

describe('isLoopbackListenHost', () => {
  it.each([
    ['127.0.0.1', true], ['127.1', true], ['localhost', true], ['::1', true], ['[::1]', true], ['0:0:0:0:0:0:0:1', true], ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false], ['::', false], ['192.168.1.10', false], ['::ffff:10.0.0.1', false], ['example.com', false], ['', false],
  ] as const)('%s: %s', (host, want) => {
    expect(isLoopbackListenHost(host)).toBe(want);
  });
});
