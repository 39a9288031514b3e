import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { createDispatcher } from '../../src/lib/http.js';
import { silentLogger } from '../../src/lib/logger.js';
import { providerKinds } from '../../src/providers/registry.js';
import type { Provider } from '../../src/providers/types.js';
import { AxpSandbox } from '../../src/sandbox/axp.js';
import { AXP_ENV, axpYaml } from '../fixtures/health-stack.js';
import { T0 } from '../fixtures/stack.js';

const clock = new ManualClock(T0);
const axp = new AxpSandbox({ clock, subscriptionLifetimeSeconds: 900 });
const dispatcher = createDispatcher({ maxRetryWaitMs: 1000 });
let config: ReturnType<typeof parseConfig>;
const provider = (name: 'digital' | 'notify'): Provider => {
  const a = config.accounts[name]!;
  return providerKinds[a.kind]!.create(name, a.settings, { dispatcher, clock, logger: silentLogger });
};
const desired = (name: string) => config.desired.find((d) => d.name === name)!;

beforeAll(async () => {
  await axp.listen();
  config = parseConfig(axpYaml(axp.url, 'https://hooks.example.com'), 'c.yaml', { env: AXP_ENV });
});
afterAll(async () => {
  await axp.close();
  await dispatcher.close();
});
beforeEach(() => {
  axp.accounts.clear();
  axp.server.stats.clear();
});

describe('AXP Digital client against the sandbox', () => {
  it('takes a token with the appkey header, and creates, lists, gets, PUTs and deletes', async () => {
    const p = provider('digital');
    const o = await p.create(desired('chat-b'));
    expect(o).toMatchObject({ status: 'ACTIVE', spec: { channelProviderId: 'ChatConnector02', callbackUrl: 'https://hooks.example.com/hooks/axp-digital/shared', eventTypes: ['ENGAGEMENT_CREATED', 'PARTICIPANT_ADDED'] } });
    expect(axp.server.count('token')).toBe(1);
    expect((await p.list()).map((x) => x.remoteId)).toEqual([o.remoteId]);
    expect((await p.get(o.remoteId))?.remoteId).toBe(o.remoteId);
    const d = desired('chat-b');
    const changed = await p.update(o.remoteId, { ...d, spec: { ...d.spec, eventTypes: ['MESSAGES'] } });
    expect(changed.spec.eventTypes).toEqual(['MESSAGES']);
    await p.delete(o.remoteId);
    expect(await p.get(o.remoteId)).toBeUndefined();
    await expect(p.delete(o.remoteId)).resolves.toBeUndefined();
  });

  it('never relies on a disabled field, but reads one as a bonus when present', async () => {
    const p = provider('digital');
    const o = await p.create(desired('chat-a'));
    // The sandbox's disabled subscriptions look exactly like live ones, as in AXP.
    axp.account('ABCDEF').digital.get(o.remoteId)!.disabledAt = clock.now();
    expect((await p.list())[0]!.status).toBe('ACTIVE');
  });

  it('a bad request comes back as a typed error with the problem detail', async () => {
    const p = provider('digital');
    const d = desired('chat-a');
    await expect(p.create({ ...d, spec: { ...d.spec, channelProviderId: 'x' } })).rejects.toMatchObject({ code: 'PROVIDER_BAD_REQUEST', message: expect.stringContaining('channelProviderId must be 3 to 256 characters') });
  });
});

describe('AXP Notification client against the sandbox', () => {
  it('creates a WEBHOOK subscription, pages through the list, renews and deletes', async () => {
    const p = provider('notify');
    const o = await p.create(desired('engagements'));
    expect(o).toMatchObject({ status: 'ACTIVE', expiresIn: 900, spec: { family: 'AGENT_ENGAGEMENT', events: ['ALL'], transport: { type: 'WEBHOOK', authToken: AXP_ENV.HOOK_TOKEN, authTokenHeader: 'X-Hook-Token' } } });
    for (let i = 0; i < 30; i++) await p.create(desired('engagements'));
    expect(await p.list()).toHaveLength(31);
    expect(axp.server.count('notification.list')).toBe(2);
    clock.advance(1000);
    expect((await p.get(o.remoteId))!.status).toBe('INACTIVE');
    const renewed = await p.renew(o.remoteId, desired('engagements'));
    expect(renewed.status).toBe('ACTIVE');
    await p.delete(o.remoteId);
    expect(await p.get(o.remoteId)).toBeUndefined();
  });

  it('has no update: drift is handled by delete and create', () => {
    expect(provider('notify').capabilities).toEqual({ renew: true, update: false, disablesUnhealthyCallbacks: true });
  });

  it('rejects calls without the appkey header, as AXP does', async () => {
    const res = await fetch(`${axp.url}/api/auth/v1/ABCDEF/protocol/openid-connect/token`, { method: 'POST', body: 'grant_type=client_credentials&client_id=a&client_secret=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(401);
  });
});
