import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';

const sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 60 });
let token = '';

async function call(method: 'GET' | 'POST', path: string, body?: unknown) {
  return request(sandbox.url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-secret': 'canary-header' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
const createBody = { family: ['AGENT'], events: ['AGENT_LOGIN'], transport: { endpoint: 'http://127.0.0.1:1/hook', authToken: 'canary-token' } };
const live = () => [...sandbox.tenants.values()].reduce((n, t) => n + t.size, 0);

beforeAll(async () => {
  await sandbox.listen();
  const r = await request(`${sandbox.url}/auth/realms/avaya/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=c1&client_secret=s1',
  });
  token = ((await r.body.json()) as { access_token: string }).access_token;
});
afterAll(() => sandbox.close());
beforeEach(() => {
  sandbox.server.clearFaults();
  sandbox.tenants.clear();
});

describe('sandbox fault injection', () => {
  it('answers a given body and headers instead of the problem document', async () => {
    sandbox.addFault({ method: 'GET', path: '/subscriptions', status: 503, body: { oops: true }, headers: { 'x-why': 'maintenance' } });
    const r = await call('GET', '/api/events/v1/subscriptions');
    expect(r.statusCode).toBe(503);
    expect(r.headers['x-why']).toBe('maintenance');
    expect(await r.body.json()).toEqual({ oops: true });
  });

  it('echoes the request headers and body when asked, as a careless provider does', async () => {
    sandbox.addFault({ method: 'POST', path: '/subscriptions', status: 400, echoRequest: true });
    const r = await call('POST', '/api/events/v1/subscriptions', createBody);
    const text = await r.body.text();
    expect(r.statusCode).toBe(400);
    expect(text).toContain('canary-header');
    expect(text).toContain('canary-token');
    expect(live()).toBe(0);
  });

  it('answers an HTML page, or a 200 with invalid JSON', async () => {
    sandbox.addFault({ method: 'GET', status: 502, html: true });
    sandbox.addFault({ method: 'GET', malformed: true });
    const html = await call('GET', '/api/events/v1/subscriptions');
    expect(html.statusCode).toBe(502);
    expect(html.headers['content-type']).toContain('text/html');
    expect(await html.body.text()).toContain('<html>');
    const bad = await call('GET', '/api/events/v1/subscriptions');
    expect(bad.statusCode).toBe(200);
    await expect(bad.body.json()).rejects.toThrow();
  });

  it('resets the connection without answering', async () => {
    sandbox.addFault({ method: 'GET', reset: true });
    await expect(call('GET', '/api/events/v1/subscriptions')).rejects.toThrow();
    expect((await call('GET', '/api/events/v1/subscriptions')).statusCode).toBe(200);
  });

  it('commits the change and then answers the fault with afterCommit', async () => {
    sandbox.addFault({ method: 'POST', path: '/subscriptions', status: 500, afterCommit: true });
    const r = await call('POST', '/api/events/v1/subscriptions', createBody);
    expect(r.statusCode).toBe(500);
    await r.body.dump();
    expect(live()).toBe(1);
    sandbox.addFault({ method: 'POST', path: '/subscriptions', reset: true, afterCommit: true });
    await expect(call('POST', '/api/events/v1/subscriptions', createBody)).rejects.toThrow();
    expect(live()).toBe(2);
  });

  it('fires on a share of the calls in random mode, without a count', async () => {
    sandbox.addFault({ method: 'GET', status: 429, retryAfterSeconds: 3, probability: 0.5 });
    const codes: number[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await call('GET', '/api/events/v1/subscriptions');
      await r.body.dump();
      codes.push(r.statusCode);
    }
    const limited = codes.filter((c) => c === 429).length;
    expect(limited).toBeGreaterThan(10);
    expect(limited).toBeLessThan(50);
    expect(sandbox.server.faults).toHaveLength(1);
    const view = (await (await request(`${sandbox.url}/_sandbox/faults`)).body.json()) as { fired: Record<string, number> };
    expect(view.fired['429']).toBe(limited);
  });

  it('keeps a count in random mode when one is given, and the admin route takes a list', async () => {
    await request(`${sandbox.url}/_sandbox/faults`, { method: 'POST', body: JSON.stringify([{ method: 'GET', status: 503, probability: 1, count: 2 }, { method: 'GET', status: 500 }]) });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await call('GET', '/api/events/v1/subscriptions');
      await r.body.dump();
      codes.push(r.statusCode);
    }
    expect(codes).toEqual([503, 503, 500, 200]);
  });
});
