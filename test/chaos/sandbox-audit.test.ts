import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OffsetClock } from '../../src/lib/clock.js';
import { AxpSandbox } from '../../src/sandbox/axp.js';
import { DixaSandbox } from '../../src/sandbox/dixa.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';

const infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: 20 });
const axpClock = new OffsetClock();
const dixa = new DixaSandbox({ rateLimit: { perSecond: 100, burst: 100 } });
const axp = new AxpSandbox({ clock: axpClock, policy: { unhealthyAfter: 1, disableAfterSeconds: 10, deleteAfterSeconds: 20, timeoutMs: 500 } });
let token = '';

async function call(method: string, path: string, body?: unknown) {
  const r = await request(infinity.url + path, { method: method as 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await r.body.text();
  return { status: r.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}
const spec = (endpoint: string) => ({ family: ['AGENT'], events: ['ALL'], transport: { endpoint } });
type Audit = ReturnType<InfinitySandbox['audit']['report']>;
const audit = async (url: string) => (await (await request(`${url}/_sandbox/audit`)).body.json()) as Audit;

beforeAll(async () => {
  await infinity.listen();
  await axp.listen();
  await dixa.listen();
  const r = await request(`${infinity.url}/auth/realms/avaya/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=c1&client_secret=s1' });
  token = ((await r.body.json()) as { access_token: string }).access_token;
});
afterAll(async () => {
  await infinity.close();
  await axp.close();
  await dixa.close();
});

describe('sandbox audit', () => {
  it('counts duplicates, creates and renews performed twice, and renews after an ambiguous answer apart', async () => {
    const a = await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/a'));
    await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/a'));
    await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/b'));
    const b = (await call('GET', '/api/events/v1/subscriptions?pageSize=25')).body.subscriptions as { subscriptionId: string; transport: { endpoint: string } }[];
    const idB = b.find((s) => s.transport.endpoint.endsWith('/b'))!.subscriptionId;
    await call('POST', `/api/events/v1/subscriptions/${idB}:renew`);
    await call('POST', `/api/events/v1/subscriptions/${idB}:renew`);
    infinity.addFault({ method: 'POST', path: ':renew', status: 503, afterCommit: true });
    await call('POST', `/api/events/v1/subscriptions/${a.body.subscriptionId as string}:renew`);
    await call('POST', `/api/events/v1/subscriptions/${a.body.subscriptionId as string}:renew`);
    await call('DELETE', `/api/events/v1/subscriptions/${idB}`);
    await call('DELETE', `/api/events/v1/subscriptions/${idB}`);

    const r = await audit(infinity.url);
    const byUrl = (u: string) => r.identities.find((i) => i.identity.includes(u))!;
    expect(byUrl('/a').maxLive).toBe(2);
    expect(byUrl('/a').maxLiveIds).toHaveLength(2);
    expect(byUrl('/b').maxLive).toBe(1);
    expect(byUrl('/b').live).toBe(0);
    expect(r.twice.map((t) => t.op).sort()).toEqual(['create', 'delete', 'renew']);
    expect(r.afterAmbiguous.map((t) => t.op)).toEqual(['renew']);
    expect(r.calls).toEqual({ create: 3, renew: 4, delete: 2 });
    expect(r.lapses).toEqual([]);
  });

  it('records a lapse on expiry, and whether the subscription was renewed or recreated after it', async () => {
    infinity.subscriptionLifetimeSeconds = 1;
    const c = await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/c'));
    const d = await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/d'));
    await new Promise((r) => setTimeout(r, 1200));
    infinity.subscriptionLifetimeSeconds = 20;
    await call('POST', `/api/events/v1/subscriptions/${c.body.subscriptionId as string}:renew`);
    await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/d'));
    const r = await audit(infinity.url);
    const lapse = (u: string) => r.lapses.find((l) => l.identity.includes(u))!;
    expect(lapse('/c')).toMatchObject({ why: 'expired', recoveredBy: 'renewed' });
    expect(lapse('/d')).toMatchObject({ id: d.body.subscriptionId, why: 'expired', recoveredBy: 'recreated' });
    expect(Date.parse(lapse('/c').at)).toBe(Date.parse(c.body.expiresAt as string));
    // An expired subscription is still listed: the recreation left two of /d.
    expect(r.identities.find((i) => i.identity.includes('/d'))!.maxLive).toBe(2);
  });

  it('records AXP subscriptions disabled and deleted by the callback policy', async () => {
    const tok = await request(`${axp.url}/api/auth/v1/ABCDEF/protocol/openid-connect/token`, { method: 'POST', headers: { appkey: 'k', 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=c&client_secret=s' });
    const t = ((await tok.body.json()) as { access_token: string }).access_token;
    const r = await request(`${axp.url}/api/digital/webhook/v1/accounts/ABCDEF/subscriptions`, { method: 'POST', headers: { appkey: 'k', authorization: `Bearer ${t}`, 'content-type': 'application/json' }, body: JSON.stringify({ channelProviderId: 'cp1', callbackUrl: 'http://127.0.0.1:1/dead', eventTypes: ['MESSAGES'] }) });
    expect(r.statusCode).toBe(201);
    await r.body.dump();
    await axp.deliver();
    axpClock.advance(11);
    axp.evaluate();
    axpClock.advance(21);
    axp.evaluate();
    const a = await audit(axp.url);
    expect(a.lapses).toHaveLength(1);
    expect(a.lapses[0]).toMatchObject({ kind: 'axp-digital', why: 'disabled' });
    expect(a.lapses[0]!.recoveredAt).toBeUndefined();
    expect(a.identities[0]).toMatchObject({ live: 0, maxLive: 1 });
  });

  it('records Dixa subscriptions by organisation and name, their duplicates, and a disable undone by enabling', async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await request(`${dixa.url}${path}`, { method: method as 'POST', headers: { authorization: 'secret-api-token', 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return r.statusCode === 204 ? undefined : ((await r.body.json()) as { data: { id: string } });
    };
    const hook = { name: 'hookwarden:a', url: 'http://127.0.0.1:1/a', authorization: { _type: 'NoAuth' }, events: ['ConversationCreated'] };
    const first = await call('POST', '/v1/webhooks', hook);
    await call('POST', '/v1/webhooks', hook);
    await request(`${dixa.url}/_sandbox/webhooks/${first!.data.id}/disable`, { method: 'POST' });
    await call('PATCH', `/v1/webhooks/${first!.data.id}`, { enabled: true });
    const a = await audit(dixa.url);
    expect(a.identities).toHaveLength(1);
    expect(a.identities[0]!.identity).not.toContain('secret-api-token');
    expect(a.identities[0]).toMatchObject({ kind: 'dixa', maxLive: 2, creates: 2 });
    expect(a.lapses).toEqual([expect.objectContaining({ why: 'disabled', recoveredBy: 're-enabled' })]);
    expect(a.twice.map((t) => t.op)).toEqual(['create']);
  });

  it('a renew the provider handled only after the client gave up and sent its retry is the one ambiguous call, not a renew twice', async () => {
    const made = await call('POST', '/api/events/v1/subscriptions', spec('http://127.0.0.1:1/late'));
    const id = made.body.subscriptionId as string;
    const renew = `/api/events/v1/subscriptions/${id}:renew`;
    infinity.addFault({ method: 'POST', path: ':renew', delayMs: 1500 });
    // The first renew reaches the provider, which sits on it; the client gives up after 300 ms.
    const first = request(infinity.url + renew, { method: 'POST', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      () => 'gave up',
    );
    expect(await first).toBe('gave up');
    // Its retry is handled at once; the provider commits the first one a second later.
    expect((await call('POST', renew)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    const r = await audit(infinity.url);
    expect(r.calls.renew).toBeGreaterThanOrEqual(2);
    expect(r.twice.filter((t) => t.id === id)).toEqual([]);
    expect(r.afterAmbiguous.filter((t) => t.id === id).map((t) => t.op)).toEqual(['renew']);
  });
});
