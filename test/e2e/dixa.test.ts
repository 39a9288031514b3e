import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { healthOf } from '../../src/policy/health.js';
import { query } from '../fixtures/db.js';
import { DIXA_ENV, dixaYaml, startDixaStack, type DixaStack } from '../fixtures/dixa-stack.js';

let stack: DixaStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const hooks = (s: DixaStack) => [...s.dixa.org(DIXA_ENV.DIXA_API_TOKEN).values()];
const byName = (s: DixaStack, n: string) => hooks(s).find((w) => w.name === `hookwarden:${n}`)!;
const summary = (r: { actions: { name: string; action: string; reason: string; outcome: string }[] }) => r.actions.map((a) => `${a.name}:${a.action}:${a.reason}:${a.outcome}`);

describe('Dixa webhook subscriptions', () => {
  it('creates them named for hookwarden, with the authorization and headers asked for', async () => {
    stack = await startDixaStack();
    const s = stack;
    expect(summary(await s.app.reconciler.pass('dixa'))).toEqual(['conversations:create:missing:succeeded', 'notes:create:missing:succeeded']);
    const c = s.dixa.view(byName(s, 'conversations'));
    expect(c).toMatchObject({ url: `${s.receiver.url}/hooks/dixa/conversations`, enabled: true, subscribedEvents: ['ConversationClosed', 'ConversationCreated'] });
    expect(c.headers).toEqual({ Authorization: `Basic ${Buffer.from(`hook:${DIXA_ENV.DIXA_HOOK_PASSWORD}`).toString('base64')}`, 'X-Team': 'support' });
    expect(s.dixa.view(byName(s, 'notes')).headers).toEqual({ Authorization: `Bearer ${DIXA_ENV.DIXA_HOOK_TOKEN}` });
    expect((await s.app.reconciler.pass('dixa')).actions.map((a) => a.action)).toEqual(['none', 'none']);
  });

  it('adopts by name, exactly: a lookalike under another name stays an orphan', async () => {
    stack = await startDixaStack();
    const s = stack;
    const org = s.dixa.org(DIXA_ENV.DIXA_API_TOKEN);
    const base = { authorization: { _type: 'NoAuth' }, customHeaders: {}, events: ['ConversationNoteAdded'], enabled: true, secretKey: 'k', createdAt: s.clock.now(), updatedAt: s.clock.now(), status: new Map(), logs: new Map(), failures: 0 };
    const mine = randomUUID();
    const lookalike = randomUUID();
    org.set(mine, { ...base, id: mine, name: 'hookwarden:notes', url: `${s.receiver.url}/hooks/dixa/notes` });
    org.set(lookalike, { ...base, id: lookalike, name: 'Dashboard Integration', url: `${s.receiver.url}/hooks/dixa/conversations` });
    const r = await s.app.reconciler.pass('dixa');
    expect(summary(r)).toEqual(['conversations:create:missing:succeeded', 'notes:adopt:found-existing:succeeded', 'notes:update:drift:succeeded']);
    expect(r.orphans.map((o) => o.remoteId)).toEqual([lookalike]);
    expect(org.get(mine)!.authorization).toEqual({ _type: 'TokenAuth', value: DIXA_ENV.DIXA_HOOK_TOKEN });
    expect(hooks(s)).toHaveLength(3);
  });

  it('patches drift (url, events, authorization, headers) back, naming only the fields', async () => {
    stack = await startDixaStack();
    const s = stack;
    await s.app.reconciler.pass('dixa');
    const w = byName(s, 'conversations');
    w.url = 'https://elsewhere.example.com/x';
    w.events = ['ConversationRated'];
    w.authorization = { _type: 'BasicAuth', username: 'hook', password: 'changed' };
    w.customHeaders = {};
    const r = await s.app.reconciler.pass('dixa');
    expect(r.actions[0]).toMatchObject({ action: 'update', reason: 'drift', outcome: 'succeeded', changes: ['url', 'events', 'headers.x-team', 'headers.authorization'] });
    expect(r.actions[0]!.message).not.toContain('changed');
    expect(s.dixa.view(w)).toMatchObject({ url: `${s.receiver.url}/hooks/dixa/conversations`, subscribedEvents: ['ConversationClosed', 'ConversationCreated'], headers: { 'X-Team': 'support' } });
    expect(w.authorization).toEqual({ _type: 'BasicAuth', username: 'hook', password: DIXA_ENV.DIXA_HOOK_PASSWORD });
  });

  it('enables a disabled subscription again with PATCH, and says so', async () => {
    stack = await startDixaStack();
    const s = stack;
    await s.app.reconciler.pass('dixa');
    const w = byName(s, 'notes');
    w.enabled = false;
    const r = await s.app.reconciler.pass('dixa');
    expect(summary(r)).toContain('notes:reactivate:disabled-at-provider:succeeded');
    expect(w.enabled).toBe(true);
    expect(byName(s, 'notes').id).toBe(w.id);
    const h = await s.app.store.history({ name: 'notes' });
    expect(h.find((x) => x.action === 'reactivate' && x.phase === 'succeeded')!.message).toMatch(/enabled again with PATCH$/);
  });

  it('creates it again when enabling it is refused, and says so (a 5xx is only retried)', async () => {
    stack = await startDixaStack();
    const s = stack;
    await s.app.reconciler.pass('dixa');
    const old = byName(s, 'notes');
    old.enabled = false;
    // A server error is retried as it is: a new subscription would get a new signing key.
    s.dixa.addFault({ method: 'PATCH', status: 503 });
    const retried = (await s.app.reconciler.pass('dixa')).actions.find((x) => x.name === 'notes')!;
    expect(retried).toMatchObject({ action: 'reactivate', outcome: 'failed' });
    expect(byName(s, 'notes').id).toBe(old.id);
    s.clock.advance(600);
    s.dixa.addFault({ method: 'PATCH', status: 400 });
    const r = await s.app.reconciler.pass('dixa');
    const a = r.actions.find((x) => x.name === 'notes')!;
    expect(a).toMatchObject({ action: 'reactivate', outcome: 'succeeded' });
    expect(a.newRemoteId).toBeDefined();
    expect(a.newRemoteId).not.toBe(old.id);
    expect(byName(s, 'notes')).toMatchObject({ id: a.newRemoteId, enabled: true });
    expect(hooks(s)).toHaveLength(2);
    const h = await s.app.store.history({ name: 'notes' });
    const done = h.find((x) => x.action === 'reactivate' && x.phase === 'succeeded')!;
    expect(done.message).toMatch(/enabling failed \(.*HTTP 400.*\); deleted and created again$/);
    expect(done.previousRemoteId).toBe(old.id);
    const [row] = (await s.app.store.listSubscriptions()).filter((x) => x.name === 'notes');
    expect(row).toMatchObject({ remoteId: a.newRemoteId, previousRemoteId: old.id, state: 'active' });
  });

  it('sees failed deliveries through delivery-status, in health and metrics, reading the logs once', async () => {
    stack = await startDixaStack();
    const s = stack;
    await s.app.reconciler.pass('dixa');
    await s.dixa.deliver();
    await s.app.deliveries.pollAccount('dixa');
    let recs = await s.app.store.listDeliveries('dixa');
    expect(recs.map((d) => `${d.name}/${d.event}:${d.kind}:${d.success}`)).toEqual(['conversations/ConversationClosed:delivered:true', 'conversations/ConversationCreated:delivered:true', 'notes/ConversationNoteAdded:delivered:true']);
    // The receiver starts failing; Dixa's delivery-status tells.
    s.receiver.break({ kind: 'status', status: 503 }, '/hooks/dixa/conversations');
    s.clock.advance(5);
    await s.dixa.deliver();
    await s.app.deliveries.pollAccount('dixa');
    recs = await s.app.store.listDeliveries('dixa');
    const created = recs.find((d) => d.event === 'ConversationCreated')!;
    expect(created).toMatchObject({ kind: 'delivered', success: false, responseCode: 503, lastFailureCode: 503 });
    expect(created.lastFailureAt!.getTime()).toBe(s.clock.now().getTime());
    expect(s.dixa.server.count('logs')).toBe(2); // once per failed event
    await s.app.deliveries.pollAccount('dixa');
    expect(s.dixa.server.count('logs')).toBe(2); // not again for the same failure
    const t = (await s.app.store.listTargets()).find((x) => x.name === 'conversations')!;
    expect(t.consecutiveFailures).toBe(2);
    expect(t.lastSignal).toMatch(/conversations: delivery of ConversationC\w+ failed \(HTTP 503\)/);
    expect(healthOf(t, s.clock.now())).toBe('failing');
    const metrics = await s.app.metrics.registry.metrics();
    expect(metrics).toContain('hookwarden_delivery_last_success{provider="dixa",subscription="conversations"} 0');
    expect(metrics).toContain('hookwarden_delivery_last_success{provider="dixa",subscription="notes"} 1');
    expect(metrics).toContain(`hookwarden_delivery_last_timestamp_seconds{provider="dixa",subscription="conversations"} ${s.clock.now().getTime() / 1000}`);
    expect(metrics).toMatch(/hookwarden_provider_requests_total\{provider="dixa",operation="deliveries",status_class="2xx"\} [1-9]/);
    // NoRecentDelivery is recorded as such.
    const r = (await s.app.store.listSubscriptions()).find((x) => x.name === 'notes')!;
    s.dixa.org(DIXA_ENV.DIXA_API_TOKEN).get(r.remoteId!)!.status.clear();
    await s.app.deliveries.pollAccount('dixa');
    expect((await s.app.store.listDeliveries('dixa')).find((d) => d.name === 'notes')).toMatchObject({ kind: 'none' });
  });

  it('keeps the API token, the callback credentials and the secretKey out of logs and Postgres; shows the secretKey only when asked', async () => {
    stack = await startDixaStack();
    const s = stack;
    await s.app.reconciler.pass('dixa');
    await s.dixa.deliver();
    await s.app.deliveries.pollAccount('dixa');
    const secretKey = byName(s, 'conversations').secretKey;
    const dump = JSON.stringify([
      ...(await query(s.dbUrl, 'SELECT * FROM subscription')),
      ...(await query(s.dbUrl, 'SELECT * FROM history')),
      ...(await query(s.dbUrl, 'SELECT * FROM callback_target')),
      ...(await query(s.dbUrl, 'SELECT * FROM delivery_status')),
    ]);
    const basic = Buffer.from(`hook:${DIXA_ENV.DIXA_HOOK_PASSWORD}`).toString('base64');
    for (const secret of [...Object.values(DIXA_ENV), secretKey, basic]) {
      expect(dump).not.toContain(secret);
      expect(s.logs.join('\n')).not.toContain(secret);
    }
    const row = (await s.app.store.listSubscriptions()).find((x) => x.name === 'conversations')!;
    expect(await s.app.providers.get('dixa')!.secret!(row.remoteId!)).toBe(secretKey);
  });

  it('serves both path prefixes: beta as well as v1', async () => {
    stack = await startDixaStack((url, h) => dixaYaml(url, h).replace('    apiToken:', '    apiVersion: beta\n    apiToken:'));
    const s = stack;
    await s.app.reconciler.pass('dixa');
    expect(s.dixa.server.count('create')).toBe(2);
    const res = await fetch(`${s.dixa.url}/beta/webhooks`, { headers: { authorization: DIXA_ENV.DIXA_API_TOKEN } });
    expect(((await res.json()) as { data: unknown[] }).data).toHaveLength(2);
  });
});
