import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ProviderError } from '../../src/lib/errors.js';
import { errorFromResponse, expectJson, MAX_BODY_BYTES, MAX_RETRY_AFTER_SECONDS, parseRetryAfter, requestJson, type JsonResponse } from '../../src/lib/http.js';

const received = new Date('2026-03-01T12:00:00Z');

describe('parseRetryAfter', () => {
  it.each([
    { name: 'delta-seconds', value: '7', want: 7 },
    { name: 'zero', value: '0', want: 0 },
    { name: 'delta-seconds with spaces around', value: ' 30 ', want: 30 },
    { name: 'more than a day, clamped', value: '999999', want: MAX_RETRY_AFTER_SECONDS },
    { name: 'digits beyond any integer, clamped', value: '99999999999999999999999', want: MAX_RETRY_AFTER_SECONDS },
    { name: 'digits beyond any number (not finite)', value: '9'.repeat(400), want: undefined },
    { name: 'absent', value: undefined, want: undefined },
    { name: 'empty', value: '', want: undefined },
    { name: 'negative', value: '-5', want: undefined },
    { name: 'fractional', value: '1.5', want: undefined },
    { name: 'exponent notation', value: '1e300', want: undefined },
    { name: 'Infinity', value: 'Infinity', want: undefined },
    { name: 'NaN', value: 'NaN', want: undefined },
    { name: 'text', value: 'abc', want: undefined },
    { name: 'hex', value: '0x10', want: undefined },
    { name: 'a loose date Date.parse would take', value: '2026-03-01', want: undefined },
    { name: 'an IMF-fixdate a minute ahead', value: 'Sun, 01 Mar 2026 12:01:00 GMT', want: 60 },
    { name: 'an RFC 850 date a minute ahead', value: 'Sunday, 01-Mar-26 12:01:00 GMT', want: 60 },
    { name: 'an asctime date a minute ahead', value: 'Sun Mar  1 12:01:00 2026', want: 60 },
    { name: 'a date in the past', value: 'Sun, 01 Mar 2026 11:00:00 GMT', want: 0 },
    { name: 'a date years ahead, clamped', value: 'Fri, 01 Mar 2030 12:00:00 GMT', want: MAX_RETRY_AFTER_SECONDS },
    { name: 'a date with the wrong weekday', value: 'Mon, 01 Mar 2026 12:01:00 GMT', want: undefined },
    { name: 'an impossible date', value: 'Sun, 31 Feb 2026 12:01:00 GMT', want: undefined },
  ])('$name: $value -> $want', ({ value, want }) => {
    expect(parseRetryAfter(value, received)).toBe(want);
  });

  // The provider's clock is an hour behind ours: its Date header and its Retry-After agree,
  // so the pause it asked for is 2 minutes, whatever our clock says.
  it('measures an HTTP-date against the answer\'s own Date header (clock skew does not matter)', () => {
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:02:00 GMT', received, 'Sun, 01 Mar 2026 11:00:00 GMT')).toBe(120);
    expect(parseRetryAfter('Sun, 01 Mar 2026 13:02:00 GMT', received, 'Sun, 01 Mar 2026 13:00:00 GMT')).toBe(120);
  });

  it('falls back to the receipt time when the Date header is unreadable', () => {
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:01:00 GMT', received, 'yesterday')).toBe(60);
  });

  it('the Date header has no say over delta-seconds', () => {
    expect(parseRetryAfter('5', received, 'Sun, 01 Mar 2026 11:00:00 GMT')).toBe(5);
  });
});

describe('errors from answers', () => {
  const res = (over: Partial<JsonResponse>): JsonResponse => ({ status: 500, headers: {}, body: undefined, receivedAt: received, ...over });

  it('puts a finite Retry-After on the error, and none when it is unreadable', () => {
    expect(errorFromResponse('op', res({ status: 429, headers: { 'retry-after': '1e300' } })).details.retryAfterSeconds).toBeUndefined();
    expect(errorFromResponse('op', res({ status: 429, headers: { 'retry-after': '86401' } })).details.retryAfterSeconds).toBe(86400);
    expect(errorFromResponse('op', res({ status: 503, headers: { 'retry-after': 'Sun, 01 Mar 2026 12:00:10 GMT', date: 'Sun, 01 Mar 2026 12:00:00 GMT' } })).details.retryAfterSeconds).toBe(10);
  });

  it.each([
    { name: 'a long plain-text body', body: 'x'.repeat(100_000) },
    { name: 'a long problem detail', body: { title: 'Bad', detail: 'd'.repeat(100_000) } },
    { name: 'thousands of violations', body: { title: 'Bad', violations: Array.from({ length: 5000 }, (_, i) => ({ field: `f${i}`, message: 'm'.repeat(50) })) } },
    { name: 'a long Dixa message', body: { message: 'm'.repeat(100_000) } },
  ])('keeps the message short for $name', ({ body }) => {
    const err = errorFromResponse('op', res({ status: 400, body }));
    expect(err.message.length).toBeLessThan(330);
    expect(JSON.stringify(err.details).length).toBeLessThan(3000);
  });

  it('turns line breaks of a provider text into spaces (one log line per error)', () => {
    expect(errorFromResponse('op', res({ status: 400, body: 'a\r\nforged: line' })).message).toBe('op: HTTP 400 a forged: line');
  });

  it('names at most three schema issues of a bad body', () => {
    const err = (() => {
      try {
        expectJson('op', res({ status: 200, body: Array.from({ length: 1000 }, () => ({})) }), [200], z.array(z.object({ id: z.string() })));
      } catch (e) {
        return e as ProviderError;
      }
    })()!;
    expect(err.code).toBe('PROVIDER_BAD_RESPONSE');
    expect(err.message).toMatch(/\(and 997 more\)$/);
  });
});

describe('requestJson against a loopback server', () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.end();
  const closed: string[] = [];
  const dispatcher = new Agent();
  beforeAll(async () => {
    server = createServer((req, res) => {
      res.on('close', () => closed.push(req.url ?? ''));
      handler(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await dispatcher.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  const get = (path: string, extra: Partial<Parameters<typeof requestJson>[1]> = {}) => requestJson(dispatcher, { method: 'GET', url: base + path, timeoutMs: 5000, operation: 'test: GET', ...extra });
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return err as ProviderError;
    }
    throw new Error('expected a failure');
  };

  it('stamps receivedAt with the injected clock', async () => {
    handler = (_q, s) => s.end('{"a":1}');
    const r = await get('/ok', { now: () => received });
    expect(r).toMatchObject({ status: 200, body: { a: 1 }, receivedAt: received });
  });

  it('refuses a body whose declared length is over the limit, without reading it', async () => {
    handler = (_q, s) => {
      s.writeHead(200, { 'content-length': String(MAX_BODY_BYTES + 1) });
      s.write('x'.repeat(1024));
    };
    const err = await failure(get('/declared'));
    expect(err).toBeInstanceOf(ProviderError);
    expect([err.code, err.retry, err.details.status]).toEqual(['PROVIDER_BAD_RESPONSE', 'retryable', 200]);
    expect(err.message).toBe(`test: GET: HTTP 200 answer larger than ${MAX_BODY_BYTES} bytes (${MAX_BODY_BYTES + 1} declared)`);
  });

  it('stops reading an endless chunked body at the limit and drops the connection', async () => {
    let written = 0;
    handler = (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        while (!s.destroyed && written < 64 * MAX_BODY_BYTES && s.write(chunk)) written += chunk.length;
        if (!s.destroyed && written < 64 * MAX_BODY_BYTES) s.once('drain', pump);
      };
      pump();
    };
    const err = await failure(get('/endless'));
    expect(err.code).toBe('PROVIDER_BAD_RESPONSE');
    await expect.poll(() => closed.includes('/endless')).toBe(true);
    expect(written).toBeLessThan(8 * MAX_BODY_BYTES);
  });

  it('takes a body of exactly the limit', async () => {
    handler = (_q, s) => s.end(JSON.stringify('x'.repeat(MAX_BODY_BYTES - 2)));
    expect(((await get('/edge')).body as string).length).toBe(MAX_BODY_BYTES - 2);
  });

  it('a smaller limit can be asked for', async () => {
    handler = (_q, s) => s.end('x'.repeat(100));
    expect((await failure(get('/small', { maxBodyBytes: 10 }))).code).toBe('PROVIDER_BAD_RESPONSE');
  });

  it('refuses JSON nested too deeply for later walks', async () => {
    handler = (_q, s) => s.end(`${'['.repeat(10_000)}${']'.repeat(10_000)}`);
    expect((await failure(get('/deep'))).message).toBe('test: GET: HTTP 200 answer nests deeper than 64 levels');
  });

  it('keeps an HTML error page short', async () => {
    handler = (_q, s) => {
      s.writeHead(502, { 'content-type': 'text/html' });
      s.end(`<html><body>${'<p>Bad gateway</p>\n'.repeat(5000)}</body></html>`);
    };
    const r = await get('/html');
    expect(r.status).toBe(502);
    expect((r.body as string).length).toBeLessThanOrEqual(301);
    expect(errorFromResponse('op', r).message.length).toBeLessThan(330);
  });

  it('a body that stalls past the deadline is a timeout', async () => {
    handler = (_q, s) => {
      s.writeHead(200, { 'content-type': 'application/json' });
      s.write('[');
    };
    expect((await failure(get('/stall', { timeoutMs: 300 }))).code).toBe('PROVIDER_TIMEOUT');
  });

  it('a connection cut mid-body is a network error', async () => {
    handler = (_q, s) => {
      s.writeHead(200, { 'content-length': '100' });
      s.write('[1,');
      setTimeout(() => s.destroy(), 20);
    };
    expect((await failure(get('/cut'))).code).toBe('PROVIDER_NETWORK');
  });

  it('the caller\'s own abort is not turned into a provider error', async () => {
    handler = () => undefined;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    const err = await failure(get('/hang', { signal: ac.signal }));
    expect(err).not.toBeInstanceOf(ProviderError);
  });
});
