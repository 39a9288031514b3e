import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { ProviderError } from '../../src/lib/errors.js';
import { createDispatcher } from '../../src/lib/http.js';
import { silentLogger } from '../../src/lib/logger.js';
import { avayaInfinity } from '../../src/providers/avaya-infinity/index.js';
import type { Provider } from '../../src/providers/types.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { infinityYaml, T0, testEnv } from '../fixtures/stack.js';

const clock = new ManualClock(T0);
const sandbox = new InfinitySandbox({ clock, subscriptionLifetimeSeconds: 900, tokenLifetimeSeconds: 900, clients: { good: 'sandbox-secret-value' } });
const dispatcher = createDispatcher({ maxRetryWaitMs: 2000 });
let provider: Provider;
let clientId = 'good';

function build(opts: { client?: string; timeout?: string } = {}): Provider {
  const yaml = infinityYaml(sandbox.url, [{ name: 'a', authToken: 'hook-token' }], { clientId: opts.client ?? 'good' }).replace('    clientSecret:', `${opts.timeout ? `    timeout: ${opts.timeout}\n` : ''}    clientSecret:`);
  const c = parseConfig(yaml, 't.yaml', { env: testEnv });
  return avayaInfinity.create('infinity', c.accounts.infinity!.settings as never, { dispatcher, clock, logger: silentLogger });
}
const desired = () => parseConfig(infinityYaml(sandbox.url, [{ name: 'a', authToken: 'hook-token', events: ['Agent.Ready', 'Agent.LoggedIn'] }]), 't.yaml', { env: testEnv }).desired[0]!;

beforeAll(async () => {
  await sandbox.listen();
});
afterAll(async () => {
  await sandbox.close();
  await dispatcher.close();
});
beforeEach(() => {
  sandbox.tenants.clear();
  sandbox.server.clearFaults();
  sandbox.server.stats.clear();
  clientId = 'good';
  provider = build();
});

describe('Avaya Infinity client against the sandbox', () => {
  it('creates with the contract body and maps the answer', async () => {
    const o = await provider.create(desired());
    expect(o).toMatchObject({ status: 'ACTIVE', expiresIn: 900 });
    const stored = sandbox.subscriptions(clientId)[0]!;
    expect(stored.subscriptionId).toBe(o.remoteId);
    expect(stored).toMatchObject({ family: ['AGENT'], events: ['Agent.LoggedIn', 'Agent.Ready'], transport: { type: 'WEBHOOK', method: 'POST', endpoint: 'https://hooks.example.com/a', authToken: 'hook-token', authTokenHeader: 'X-Hook-Token' } });
    expect(o.expiresAt!.toISOString()).toBe(new Date(T0 + 900_000).toISOString());
  });

  it('gets, patches, renews and deletes; a deleted id is gone and deleting it again is fine', async () => {
    const o = await provider.create(desired());
    expect((await provider.get(o.remoteId))?.remoteId).toBe(o.remoteId);
    clock.advance(100);
    const renewed = await provider.renew(o.remoteId, desired());
    expect(renewed.expiresAt!.getTime()).toBe(T0 + 1000_000);
    const d = desired();
    d.spec = { ...d.spec, family: ['QUEUE'] };
    const patched = await provider.update(o.remoteId, d);
    expect(patched.spec.family).toEqual(['QUEUE']);
    await provider.delete(o.remoteId);
    expect(await provider.get(o.remoteId)).toBeUndefined();
    await expect(provider.delete(o.remoteId)).resolves.toBeUndefined();
    clock.advance(-100);
  });

  it('lists every page', async () => {
    for (let i = 0; i < 60; i++) await provider.create({ ...desired(), spec: { ...desired().spec, events: [`E${i}`] } });
    const before = sandbox.server.count('list');
    const all = await provider.list();
    expect(all).toHaveLength(60);
    expect(new Set(all.map((o) => o.remoteId)).size).toBe(60);
    expect(sandbox.server.count('list') - before).toBe(3); // pages of 25: 25 + 25 + 10
  });

  it('caches the token and fetches a new one shortly before it expires', async () => {
    await provider.list();
    await provider.list();
    expect(sandbox.server.count('token')).toBe(1);
    clock.advance(900 - 60); // within the last tenth (90 s) of the 900 s token
    await provider.list();
    expect(sandbox.server.count('token')).toBe(2);
    clock.advance(-(900 - 60));
  });

  it('fetches a fresh token once on a 401 and retries the call', async () => {
    await provider.list();
    sandbox.revokeTokens();
    await expect(provider.list()).resolves.toEqual([]);
    expect(sandbox.server.count('token')).toBe(2);
  });

  it('wrong credentials are an auth error naming the OAuth error', async () => {
    clientId = 'bad';
    const err = await build({ client: 'bad' }).list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ code: 'PROVIDER_AUTH_FAILED', retry: 'auth' });
    expect((err as Error).message).toContain('invalid_client: Invalid client or Invalid client credentials');
  });

  it.each([
    { status: 400, code: 'PROVIDER_BAD_REQUEST', retry: 'terminal' },
    { status: 403, code: 'PROVIDER_FORBIDDEN', retry: 'auth' },
    { status: 500, code: 'PROVIDER_SERVER_ERROR', retry: 'retryable' },
    { status: 429, code: 'PROVIDER_RATE_LIMITED', retry: 'retryable' },
  ])('a $status on create becomes $code ($retry)', async ({ status, code, retry }) => {
    sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', status, retryAfterSeconds: 7 });
    const err = await provider.create(desired()).catch((e: unknown) => e);
    expect(err).toMatchObject({ code, retry, details: { status } });
    if (status === 429) expect((err as ProviderError).details.retryAfterSeconds).toBe(7);
  });

  it('reads RFC 7807 problem bodies, violations included', async () => {
    const d = desired();
    d.spec = { ...d.spec, family: ['NOPE'] };
    const err = (await provider.create(d).catch((e: unknown) => e)) as ProviderError;
    expect(err.code).toBe('PROVIDER_BAD_REQUEST');
    expect(err.details.problem).toMatchObject({ type: 'https://developers.avayacloud.com/avaya-infinity/docs/error-handling#constraint-violation', title: 'Constraint Violation', status: 400 });
    expect(err.message).toContain('family must be an array of at most 3 of AGENT, INTERACTION, QUEUE, ALL');
  });

  it('retries idempotent calls on 429 and 503, honouring Retry-After', async () => {
    sandbox.addFault({ method: 'GET', path: '/subscriptions', status: 429, retryAfterSeconds: 1, count: 1 });
    sandbox.addFault({ method: 'GET', path: '/subscriptions', status: 503, count: 1 });
    const started = Date.now();
    await expect(provider.list()).resolves.toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('never retries a create by itself (the reconciler adopts instead)', async () => {
    sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', status: 503, count: 1 });
    await expect(provider.create(desired())).rejects.toMatchObject({ code: 'PROVIDER_SERVER_ERROR' });
    expect(sandbox.server.count('create')).toBe(0);
  });

  it('times out a slow answer with PROVIDER_TIMEOUT', async () => {
    const slow = build({ timeout: '300ms' });
    await slow.list(); // token first
    sandbox.addFault({ method: 'POST', path: '/api/events/v1/subscriptions', delayMs: 1500 });
    await expect(slow.create(desired())).rejects.toMatchObject({ code: 'PROVIDER_TIMEOUT', retry: 'retryable' });
  });

  it('a malformed answer is PROVIDER_BAD_RESPONSE naming the field', async () => {
    const o = await provider.create(desired());
    (sandbox.tenants.get(clientId)!.get(o.remoteId)!.transport as { type: unknown }).type = undefined;
    const err = await provider.get(o.remoteId).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PROVIDER_BAD_RESPONSE' });
    expect((err as Error).message).toContain('transport.type');
  });

  it('a subscription id that is not a UUID is a 400 from the sandbox, as in the contract', async () => {
    await expect(provider.renew('not-a-uuid', desired())).rejects.toMatchObject({ code: 'PROVIDER_BAD_REQUEST' });
    await expect(provider.renew(randomUUID(), desired())).rejects.toMatchObject({ code: 'PROVIDER_NOT_FOUND' });
  });
});
