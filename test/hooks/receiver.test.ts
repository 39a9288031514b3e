import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GapHookSender, signBody } from '../../src/hooks/gap-hook.js';
import { ManualClock } from '../../src/lib/clock.js';
import { CallbackReceiver } from '../../src/sandbox/receiver.js';
import type { GapRow, GapStore, HookAttempt } from '../../src/store/types.js';

const SECRET = 'receiver-signing-secret';
const dispatcher = new Agent({ keepAliveTimeout: 1000 });
let receiver: CallbackReceiver;
beforeAll(async () => {
  receiver = new CallbackReceiver().expect('/hooks/dixa', 'dixa').acceptBackfill({ secret: SECRET });
  await receiver.listen();
});
afterEach(() => {
  receiver.mend();
  receiver.backfills.clear();
  receiver.rejected.length = 0;
});
afterAll(async () => {
  await receiver.close();
  await dispatcher.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await request(`${receiver.url}${path}`, { dispatcher, method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await res.body.dump();
  return res.statusCode;
}

async function listed(): Promise<{ id: string; deliveries: number; body: unknown }[]> {
  const res = await request(`${receiver.url}/backfill`, { dispatcher });
  expect(res.statusCode).toBe(200);
  return ((await res.body.json()) as { gaps: { id: string; deliveries: number; body: unknown }[] }).gaps;
}

const doc = (id: string) => JSON.stringify({ id, provider: 'p', name: 'a', cause: 'expired', from: '2026-06-01T00:00:00.000Z', to: '2026-06-01T00:01:00.000Z' });

describe('the sandbox receiver', () => {
  it('still takes callback events as before', async () => {
    const event = { event_id: '00000000-0000-4000-8000-000000000001', event_fqn: 'CONVERSATION_CREATED', event_version: '1', event_timestamp: '2026-06-01T00:00:00Z', data: {} };
    expect(await post('/hooks/dixa/x', JSON.stringify(event))).toBe(200);
    expect(await post('/hooks/dixa/x', '{"wrong":true}')).toBe(400);
    expect(receiver.count({ path: '/hooks/dixa' })).toBe(1);
    // Backfill hooks are not callback events.
    expect(await post('/backfill', doc('g-0'), { 'x-hookwarden-signature': signBody(doc('g-0'), SECRET) })).toBe(200);
    expect(receiver.count()).toBe(1);
  });

  it('keeps a signed gap once, however many times it arrives', async () => {
    const body = doc('g-1');
    const sig = { 'x-hookwarden-signature': signBody(body, SECRET), 'idempotency-key': 'g-1' };
    expect(await post('/backfill', body, sig)).toBe(200);
    expect(await post('/backfill', body, sig)).toBe(200);
    const gaps = await listed();
    expect(gaps.map((g) => [g.id, g.deliveries])).toEqual([['g-1', 2]]);
    expect(gaps[0]!.body).toEqual(JSON.parse(body));
  });

  it.each<{ name: string; headers: Record<string, string> }>([
    { name: 'no signature', headers: {} },
    { name: 'signed with another secret', headers: { 'x-hookwarden-signature': signBody(doc('g-2'), 'not-the-secret') } },
    { name: 'the signature of another body', headers: { 'x-hookwarden-signature': signBody(doc('g-3'), SECRET) } },
  ])('refuses a hook that does not verify: $name (401)', async ({ headers }) => {
    expect(await post('/backfill', doc('g-2'), headers)).toBe(401);
    expect(await listed()).toEqual([]);
    expect(receiver.rejected).toEqual([{ path: '/backfill', why: 'signature does not verify' }]);
  });

  it('needs a gap id (400), and takes it from Idempotency-Key when the body has none', async () => {
    const noId = '{"provider":"p"}';
    expect(await post('/backfill', noId, { 'x-hookwarden-signature': signBody(noId, SECRET) })).toBe(400);
    expect(await post('/backfill', noId, { 'x-hookwarden-signature': signBody(noId, SECRET), 'idempotency-key': 'g-4' })).toBe(200);
    expect((await listed()).map((g) => g.id)).toEqual(['g-4']);
  });

  it('can be broken like any callback; what arrived stays readable meanwhile', async () => {
    const body = doc('g-5');
    expect(await post('/backfill', body, { 'x-hookwarden-signature': signBody(body, SECRET) })).toBe(200);
    receiver.break({ kind: 'status', status: 503 }, '/backfill');
    expect(await post('/backfill', doc('g-6'), { 'x-hookwarden-signature': signBody(doc('g-6'), SECRET) })).toBe(503);
    expect((await listed()).map((g) => g.id)).toEqual(['g-5']);
  });

  it('accepts unsigned hooks when no secret is set', async () => {
    const open = new CallbackReceiver().acceptBackfill({ path: '/gaps' });
    await open.listen();
    try {
      const res = await request(`${open.url}/gaps`, { dispatcher, method: 'POST', body: doc('g-7') });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      expect([...open.backfills.keys()]).toEqual(['g-7']);
    } finally {
      await open.close();
    }
  });

  it("verifies and de-duplicates hookwarden's own sender", async () => {
    const row: GapRow = {
      id: '6f1c1d2e-0000-4000-8000-00000000aaaa', provider: 'p', name: 'agents', subject: 'subscription', remoteId: 'r', previousRemoteId: null, cause: 'lost', confidence: 'certain',
      from: new Date('2026-06-01T00:00:00Z'), to: new Date('2026-06-01T00:05:00Z'), events: ['agent.state'], openedAt: new Date(0), closedAt: new Date(0), updatedAt: new Date(0),
      hookState: 'pending', hookAttempts: 0, hookNextAttemptAt: new Date(0), hookLastAttemptAt: null, hookLastStatus: null, hookLastError: null, hookDeliveredAt: null,
    };
    // A queue that hands the same gap out twice (as after a lost acknowledgement).
    const attempts: HookAttempt[] = [];
    const queue: Pick<GapStore, 'dueHooks' | 'recordHookAttempt'> = {
      dueHooks: async () => [row],
      recordHookAttempt: async (_id, r) => (attempts.push(r), undefined),
    };
    const sender = new GapHookSender({ store: queue, dispatcher, clock: new ManualClock(), resolve: () => ({ url: `${receiver.url}/backfill`, signingSecret: SECRET }) });
    await sender.deliverDue();
    await sender.deliverDue();
    expect(attempts.map((a) => [a.ok, a.status])).toEqual([[true, 200], [true, 200]]);
    const gaps = await listed();
    expect(gaps.map((g) => [g.id, g.deliveries])).toEqual([[row.id, 2]]);
    expect(gaps[0]!.body).toMatchObject({ id: row.id, cause: 'lost', seconds: 300 });
  });
});
