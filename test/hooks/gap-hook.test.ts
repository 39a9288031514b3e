import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GapHookSender, gapDocument, signBody, verifySignature, type GapHookTarget } from '../../src/hooks/gap-hook.js';
import { ManualClock } from '../../src/lib/clock.js';
import { PrismaStore } from '../../src/store/prisma.js';
import type { GapRow, GapStore } from '../../src/store/types.js';
import { freshDatabase } from '../fixtures/db.js';

const TOKEN = 'hook-token-7f3a9c1e5b';
const SECRET = 'hook-signing-secret-2d8e4a';

/** A backfill receiver on loopback: records every request, answers with `answer` (a status and a body). */
class Receiver {
  readonly requests: { headers: IncomingHttpHeaders; raw: Buffer; status: number }[] = [];
  answer: (headers: IncomingHttpHeaders, raw: Buffer) => { status: number; body?: string } = () => ({ status: 200 });
  /** Requests held open until released (for the concurrency bound). */
  hold = false;
  inFlight = 0;
  maxInFlight = 0;
  readonly #waiting: (() => void)[] = [];
  #server: Server | undefined;
  url = '';

  async listen(): Promise<void> {
    this.#server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      if (this.hold) await new Promise<void>((r) => this.#waiting.push(r));
      this.inFlight--;
      const a = this.answer(req.headers, raw);
      this.requests.push({ headers: req.headers, raw, status: a.status });
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(a.body ?? '');
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/backfill`;
  }

  /** Lets held requests go, once `n` of them are waiting. */
  async release(n: number): Promise<void> {
    while (this.#waiting.length < n) await new Promise((r) => setTimeout(r, 10));
    for (const w of this.#waiting.splice(0)) w();
  }

  /** Successful deliveries per gap id (the idempotency key). */
  deliveredIds(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.requests) if (r.status >= 200 && r.status < 300) out.set(String(r.headers['idempotency-key']), (out.get(String(r.headers['idempotency-key'])) ?? 0) + 1);
    return out;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: PrismaStore;
let receiver: Receiver;
const dispatcher = new Agent({ keepAliveTimeout: 1000 });
beforeAll(async () => {
  db = await freshDatabase();
  store = new PrismaStore(db.url);
  receiver = new Receiver();
  await receiver.listen();
});
afterAll(async () => {
  await receiver.close();
  await dispatcher.close();
  await store.close();
  await db.drop();
});

const T0 = new Date('2026-06-01T00:00:00Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

/** A closed gap of `provider`/`name` with its hook queued at T0 + 100 s. */
async function closedGap(provider: string, name: string): Promise<GapRow> {
  await store.openGap({ provider, name, subject: 'subscription', cause: 'expired', confidence: 'certain', from: at(0), remoteId: 'r-1', events: ['agent.state'], now: at(0) });
  const [row] = await store.closeGaps(provider, name, { to: at(100), hook: true, now: at(100) });
  return row!;
}

function sender(clock: ManualClock, target: (row: GapRow) => GapHookTarget | undefined, over: Partial<ConstructorParameters<typeof GapHookSender>[0]> = {}) {
  return new GapHookSender({ store, dispatcher, clock, resolve: target, rand: () => 1, ...over });
}

/** Rows of one account (each test uses accounts of its own; the queue is shared). */
async function rowsOf(provider: string): Promise<GapRow[]> {
  return store.listGaps({ provider });
}

describe('the gap document and its signature', () => {
  const row: GapRow = {
    id: '6f1c1d2e-0000-4000-8000-000000000001', provider: 'infinity-prod', name: 'agents', subject: 'subscription', remoteId: 'new', previousRemoteId: 'old',
    cause: 'recreating', confidence: 'certain', from: new Date('2026-06-01T00:00:00.250Z'), to: new Date('2026-06-01T00:01:30.750Z'), events: ['agent.state', 'agent.login'],
    openedAt: T0, closedAt: T0, updatedAt: T0, hookState: 'pending', hookAttempts: 0, hookNextAttemptAt: T0, hookLastAttemptAt: null, hookLastStatus: null, hookLastError: null, hookDeliveredAt: null,
  };

  it('describes the gap in ISO 8601, with its length in seconds', () => {
    expect(gapDocument(row)).toEqual({
      id: row.id, provider: 'infinity-prod', name: 'agents', subject: 'subscription', remoteId: 'new', previousRemoteId: 'old', cause: 'recreating', confidence: 'certain',
      from: '2026-06-01T00:00:00.250Z', to: '2026-06-01T00:01:30.750Z', seconds: 90.5, events: ['agent.state', 'agent.login'],
    });
  });

  it('lists the causes of the merged window only when there are several', () => {
    expect(gapDocument(row, { causes: ['recreating'] })).not.toHaveProperty('causes');
    expect(gapDocument(row, { causes: ['presumed-disabled', 'recreating'] }).causes).toEqual(['presumed-disabled', 'recreating']);
  });

  it.each([
    { name: 'the exact body with its secret', body: '{"id":"x"}', header: signBody('{"id":"x"}', SECRET), secret: SECRET, want: true },
    { name: 'bytes work as well as text', body: Buffer.from('{"id":"x"}'), header: signBody('{"id":"x"}', SECRET), secret: SECRET, want: true },
    { name: 'upper-case hex', body: '{"id":"x"}', header: `sha256=${signBody('{"id":"x"}', SECRET).slice('sha256='.length).toUpperCase()}`, secret: SECRET, want: true },
    // One changed byte (even whitespace) fails: consumers must verify the raw body, not re-serialized JSON.
    { name: 'a re-serialized body', body: '{"id": "x"}', header: signBody('{"id":"x"}', SECRET), secret: SECRET, want: false },
    { name: 'another secret', body: '{"id":"x"}', header: signBody('{"id":"x"}', 'other-secret'), secret: SECRET, want: false },
    { name: 'no header', body: '{"id":"x"}', header: undefined, secret: SECRET, want: false },
    { name: 'no scheme', body: '{"id":"x"}', header: signBody('{"id":"x"}', SECRET).slice('sha256='.length), secret: SECRET, want: false },
    { name: 'a truncated digest', body: '{"id":"x"}', header: signBody('{"id":"x"}', SECRET).slice(0, -2), secret: SECRET, want: false },
    { name: 'a repeated header', body: '{"id":"x"}', header: [signBody('{"id":"x"}', SECRET), signBody('{"id":"x"}', SECRET)], secret: SECRET, want: false },
  ])('verifySignature: $name', ({ body, header, secret, want }) => {
    expect(verifySignature(body, header, secret)).toBe(want);
  });

  it('signs as sha256=<hex of HMAC-SHA256>', () => {
    // RFC 4231 test case 2.
    expect(signBody('what do ya want for nothing?', 'Jefe')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });
});

describe('GapHookSender', () => {
  it('POSTs the signed document with its idempotency key and token; delivered on 2xx', async () => {
    receiver.answer = () => ({ status: 204 });
    const clock = new ManualClock(at(100));
    const gap = await closedGap('signed', 'agents');
    const summary = await sender(clock, () => ({ url: receiver.url, authToken: TOKEN, signingSecret: SECRET })).deliverDue();
    expect(summary).toEqual({ attempted: 1, delivered: 1, failed: 0 });
    const req = receiver.requests.find((r) => r.headers['idempotency-key'] === gap.id)!;
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(verifySignature(req.raw, req.headers['x-hookwarden-signature'], SECRET)).toBe(true);
    const doc = JSON.parse(req.raw.toString('utf8'));
    expect(doc).toEqual(gapDocument(gap));
    expect(doc).toMatchObject({ id: gap.id, provider: 'signed', name: 'agents', cause: 'expired', from: at(0).toISOString(), to: at(100).toISOString(), seconds: 100, events: ['agent.state'] });
    const [row] = await rowsOf('signed');
    expect(row).toMatchObject({ hookState: 'delivered', hookAttempts: 1, hookLastStatus: 204, hookLastError: null, hookDeliveredAt: at(100) });
  });

  it('a custom token header carries the bare token; no secret, no signature', async () => {
    receiver.answer = () => ({ status: 200 });
    const gap = await closedGap('custom-header', 'agents');
    await sender(new ManualClock(at(100)), () => ({ url: receiver.url, authToken: TOKEN, authTokenHeader: 'X-Api-Key' })).deliverDue();
    const req = receiver.requests.find((r) => r.headers['idempotency-key'] === gap.id)!;
    expect(req.headers['x-api-key']).toBe(TOKEN);
    expect(req.headers.authorization).toBeUndefined();
    expect(req.headers['x-hookwarden-signature']).toBeUndefined();
  });

  it('failing for a while, then delivered exactly once; retried with backoff; the secrets never recorded', async () => {
    const clock = new ManualClock(at(100));
    const a = await closedGap('flaky', 'a');
    const b = await closedGap('flaky', 'b');
    const ids = new Set([a.id, b.id]);
    let failuresLeft = 6;
    // The receiver echoes what it was sent, as some error pages do: the token and the signature key must not reach the record.
    receiver.answer = (headers) => {
      if (!ids.has(String(headers['idempotency-key']))) return { status: 200 };
      if (failuresLeft-- > 0) return { status: 500, body: `upstream down; you sent ${headers.authorization} ${Buffer.from(TOKEN).toString('base64')} key=${SECRET}` };
      return { status: 200 };
    };
    const s = sender(clock, () => ({ url: receiver.url, authToken: TOKEN, signingSecret: SECRET }));
    const waits: number[] = [];
    for (let round = 0; round < 3; round++) {
      const summary = await s.deliverDue();
      expect(summary).toMatchObject({ attempted: 2, delivered: 0, failed: 2 });
      const rows = await rowsOf('flaky');
      for (const r of rows) {
        expect(r).toMatchObject({ hookState: 'pending', hookAttempts: round + 1, hookLastStatus: 500 });
        expect(r.hookLastError).toMatch(/^HTTP 500: upstream down/);
        for (const secret of [TOKEN, SECRET, Buffer.from(TOKEN).toString('base64')]) expect(r.hookLastError).not.toContain(secret);
      }
      // Not due again before its backoff has passed.
      expect(await s.deliverDue()).toMatchObject({ attempted: 0 });
      const next = Math.max(...rows.map((r) => r.hookNextAttemptAt!.getTime()));
      waits.push((next - clock.now().getTime()) / 1000);
      clock.set(new Date(next));
    }
    // Full jitter with a top draw: 5 s, 10 s, 20 s.
    expect(waits).toEqual([5, 10, 20]);
    expect(await s.deliverDue()).toMatchObject({ attempted: 2, delivered: 2 });
    // Nothing more is sent, however long hookwarden runs.
    clock.advance(86_400);
    expect(await s.deliverDue()).toMatchObject({ attempted: 0 });
    const delivered = receiver.deliveredIds();
    expect([delivered.get(a.id), delivered.get(b.id)]).toEqual([1, 1]);
    for (const r of await rowsOf('flaky')) expect(r).toMatchObject({ hookState: 'delivered', hookAttempts: 4, hookLastStatus: 200, hookLastError: null });
  });

  it('an unreachable hook is a recorded failure without the URL, token or secret; it never throws', async () => {
    const closed = new Receiver();
    await closed.listen();
    const url = closed.url.replace('http://', `http://user:${TOKEN}@`) + `?token=${SECRET}`;
    await closed.close();
    const gap = await closedGap('unreachable', 'a');
    const summary = await sender(new ManualClock(at(100)), () => ({ url, authToken: TOKEN, signingSecret: SECRET })).deliverDue();
    expect(summary).toMatchObject({ attempted: 1, failed: 1 });
    const [row] = await rowsOf('unreachable');
    expect(row!.id).toBe(gap.id);
    expect(row).toMatchObject({ hookState: 'pending', hookLastStatus: null, hookLastError: 'connection refused' });
  });

  it('no answer within the timeout is a failed attempt', async () => {
    receiver.hold = true;
    try {
      const gap = await closedGap('slow', 'a');
      const summary = await sender(new ManualClock(at(100)), () => ({ url: receiver.url }), { timeoutMs: 200 }).deliverDue();
      expect(summary).toMatchObject({ attempted: 1, failed: 1 });
      expect((await rowsOf('slow'))[0]).toMatchObject({ id: gap.id, hookState: 'pending', hookLastError: 'no answer within 200 ms' });
    } finally {
      receiver.hold = false;
      await receiver.release(0);
    }
  });

  it('a gap whose hook is no longer configured is given up, visibly', async () => {
    await closedGap('unconfigured', 'a');
    await sender(new ManualClock(at(100)), () => undefined).deliverDue();
    expect((await rowsOf('unconfigured'))[0]).toMatchObject({ hookState: 'failed', hookAttempts: 1, hookLastError: 'no backfill hook is configured for this gap', hookNextAttemptAt: null });
  });

  it('sends at most `concurrency` hooks at once', async () => {
    for (let i = 0; i < 5; i++) await closedGap('bounded', `s${i}`);
    receiver.answer = () => ({ status: 200 });
    receiver.hold = true;
    receiver.maxInFlight = 0;
    const run = sender(new ManualClock(at(100)), (row) => (row.provider === 'bounded' ? { url: receiver.url } : undefined), { concurrency: 2, batch: 10 }).deliverDue();
    // Two at a time: released in pairs (and the last one alone).
    await receiver.release(2);
    await receiver.release(2);
    await receiver.release(1);
    receiver.hold = false;
    const summary = await run;
    expect(summary.delivered).toBe(5);
    expect(receiver.maxInFlight).toBe(2);
  });

  it('a store that fails never makes deliverDue throw', async () => {
    const clock = new ManualClock(at(100));
    const down: Pick<GapStore, 'dueHooks' | 'recordHookAttempt'> = {
      dueHooks: () => Promise.reject(new Error('connection terminated')),
      recordHookAttempt: () => Promise.reject(new Error('connection terminated')),
    };
    const s1 = new GapHookSender({ store: down, dispatcher, clock, resolve: () => ({ url: receiver.url }) });
    expect(await s1.deliverDue()).toMatchObject({ attempted: 0, error: expect.stringContaining('connection terminated') });
    // Sent, but the outcome could not be written: still no throw (the claim runs out and it is sent again).
    const gap = await closedGap('unrecorded', 'a');
    const half: Pick<GapStore, 'dueHooks' | 'recordHookAttempt'> = { dueHooks: (now, limit, claim) => store.dueHooks(now, limit, claim), recordHookAttempt: down.recordHookAttempt };
    receiver.answer = () => ({ status: 200 });
    const s2 = new GapHookSender({ store: half, dispatcher, clock, resolve: (row) => (row.id === gap.id ? { url: receiver.url } : undefined) });
    expect(await s2.deliverDue()).toMatchObject({ delivered: 1 });
  });

  it('replay sends a delivered gap again with the same id', async () => {
    receiver.answer = () => ({ status: 200 });
    const clock = new ManualClock(at(100));
    const gap = await closedGap('replay', 'a');
    const s = sender(clock, (row) => (row.provider === 'replay' ? { url: receiver.url, signingSecret: SECRET } : undefined));
    await s.deliverDue();
    clock.advance(3600);
    await store.requeueHook(gap.id, clock.now());
    await s.deliverDue();
    const sent = receiver.requests.filter((r) => r.headers['idempotency-key'] === gap.id);
    expect(sent.length).toBe(2);
    // The same document, byte for byte: receivers de-duplicate it by id.
    expect(sent[0]!.raw.equals(sent[1]!.raw)).toBe(true);
  });
});
