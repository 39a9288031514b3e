import { describe, expect, it } from 'vitest';
import { actionGaps, declaredEvents, gapSeconds, hookRetryAt, mergeWindows, strongerConfidence, SUBSCRIPTION_CAUSES, type ActionGapInput, type Confidence, type GapLike } from '../../src/policy/gaps.js';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);

let n = 0;
/** A gap of subscription p/a from `from` to `to` seconds after T0 (null: open). */
function g(from: number, to: number | null, over: Partial<GapLike> = {}): GapLike {
  return { id: `g${++n}`, provider: 'p', name: 'a', cause: 'expired', confidence: 'certain', from: at(from), to: to === null ? null : at(to), events: [], ...over };
}

/** A window as [from, to|null, causes, confidence] in seconds, for short tables. */
const short = (ws: ReturnType<typeof mergeWindows>) =>
  ws.map((w) => [w.provider, w.name, (w.from.getTime() - T0) / 1000, w.to === null ? null : (w.to.getTime() - T0) / 1000, w.causes.join('+'), w.confidence]);

describe('mergeWindows', () => {
  it.each([
    { name: 'nothing', gaps: [], want: [] },
    { name: 'one closed gap', gaps: [g(0, 10)], want: [['p', 'a', 0, 10, 'expired', 'certain']] },
    { name: 'apart: two windows', gaps: [g(0, 10), g(20, 30, { cause: 'lost' })], want: [['p', 'a', 0, 10, 'expired', 'certain'], ['p', 'a', 20, 30, 'lost', 'certain']] },
    {
      name: 'overlapping: one window, both causes, the strongest confidence',
      gaps: [g(0, 20, { cause: 'callback-failing', confidence: 'possible' }), g(10, 30, { cause: 'presumed-disabled', confidence: 'presumed' })],
      want: [['p', 'a', 0, 30, 'callback-failing+presumed-disabled', 'presumed']],
    },
    // No moment is covered between a gap that ends and one that starts at that instant.
    { name: 'touching: one window', gaps: [g(0, 10), g(10, 20, { cause: 'recreating' })], want: [['p', 'a', 0, 20, 'expired+recreating', 'certain']] },
    { name: 'contained: the outer bounds stay', gaps: [g(0, 100), g(10, 20, { cause: 'lost', confidence: 'possible' })], want: [['p', 'a', 0, 100, 'expired+lost', 'certain']] },
    { name: 'an open gap absorbs what starts after it', gaps: [g(0, null, { cause: 'callback-failing', confidence: 'possible' }), g(50, 60, { cause: 'disabled' })], want: [['p', 'a', 0, null, 'callback-failing+disabled', 'certain']] },
    { name: 'a closed gap overlapping a later open one: open window from the earlier start', gaps: [g(0, 20), g(10, null, { cause: 'lost' })], want: [['p', 'a', 0, null, 'expired+lost', 'certain']] },
    { name: 'an open gap after a closed one that ended earlier: two windows', gaps: [g(0, 5), g(10, null, { cause: 'lost' })], want: [['p', 'a', 0, 5, 'expired', 'certain'], ['p', 'a', 10, null, 'lost', 'certain']] },
    { name: 'the same cause twice is listed once', gaps: [g(0, 10), g(5, 15)], want: [['p', 'a', 0, 15, 'expired', 'certain']] },
    {
      name: 'per subscription: overlapping gaps of different names or accounts stay apart, sorted',
      gaps: [g(0, 10, { name: 'b' }), g(0, 10, { provider: 'o' }), g(5, 15)],
      want: [['o', 'a', 0, 10, 'expired', 'certain'], ['p', 'a', 5, 15, 'expired', 'certain'], ['p', 'b', 0, 10, 'expired', 'certain']],
    },
    {
      name: 'order of input does not matter',
      gaps: [g(30, 40, { cause: 'lost' }), g(0, 10), g(5, 35, { cause: 'inactive', confidence: 'presumed' })],
      want: [['p', 'a', 0, 40, 'expired+inactive+lost', 'certain']],
    },
  ])('$name', ({ gaps, want }) => {
    expect(short(mergeWindows(gaps))).toEqual(want);
  });

  it('keeps the ids of the merged gaps (by start) and the union of their events', () => {
    const a = g(0, 10, { events: ['agent.state', 'queue.size'] });
    const b = g(5, 20, { cause: 'lost', events: ['queue.size', 'interaction.new'] });
    const [w] = mergeWindows([b, a]);
    expect(w!.gapIds).toEqual([a.id, b.id]);
    expect(w!.events).toEqual(['agent.state', 'queue.size', 'interaction.new']);
  });

  it('does not change its input', () => {
    const gaps = [g(10, 20), g(0, 15)];
    const copy = structuredClone(gaps);
    mergeWindows(gaps);
    expect(gaps).toEqual(copy);
  });
});

describe('strongerConfidence', () => {
  it.each<[Confidence, Confidence, Confidence]>([
    ['certain', 'presumed', 'certain'],
    ['possible', 'presumed', 'presumed'],
    ['possible', 'possible', 'possible'],
    ['presumed', 'certain', 'certain'],
  ])('%s vs %s: %s', (a, b, want) => {
    expect(strongerConfidence(a, b)).toBe(want);
  });
});

describe('gapSeconds', () => {
  it.each([
    { name: 'closed', from: 0, to: 90, now: 1000, want: 90 },
    { name: 'open: up to now', from: 0, to: null, now: 42, want: 42 },
    { name: 'milliseconds kept', from: 0, to: 1.5, now: 0, want: 1.5 },
    // A clock behind the start (another replica opened it) never gives a negative duration.
    { name: 'open, now before the start', from: 100, to: null, now: 50, want: 0 },
  ])('$name', ({ from, to, now, want }) => {
    expect(gapSeconds({ from: at(from), to: to === null ? null : at(to) }, at(now))).toBe(want);
  });
});

describe('hookRetryAt (full jitter, 5 s base, 10 min cap)', () => {
  it.each([
    { name: 'first failure, top draw', attempts: 1, rand: 1, want: 5 },
    { name: 'first failure, half draw', attempts: 1, rand: 0.5, want: 2.5 },
    { name: 'third failure, top draw', attempts: 3, rand: 1, want: 20 },
    { name: 'capped at 600 s', attempts: 12, rand: 1, want: 600 },
    { name: 'far beyond the cap stays capped', attempts: 500, rand: 0.999, want: 599.4 },
    // A run of zero draws must not hammer the receiver.
    { name: 'zero draw floors at half a second', attempts: 4, rand: 0, want: 0.5 },
    { name: 'no attempt yet counts as the first', attempts: 0, rand: 1, want: 5 },
  ])('$name', ({ attempts, rand, want }) => {
    expect((hookRetryAt(attempts, at(0), rand).getTime() - T0) / 1000).toBe(want);
  });
});

describe('actionGaps: which gap a planned action opens, from when, and what its success closes', () => {
  const now = new Date('2026-12-04T12:00:00Z');
  const at = (s: number) => new Date(now.getTime() + s * 1000);
  const row = { remoteId: 'r1', expiresAt: at(-50), lastObservedAt: at(-70), status: 'ACTIVE', presumedDisabledAt: null };
  const cases: [string, ActionGapInput, { cause: string; confidence: Confidence; from: Date }[], string[]][] = [
    ['expired: from the expiry, not from now', { action: 'renew', reason: 'expired', row, observed: { status: 'INACTIVE', expiresAt: at(-50) }, now }, [{ cause: 'expired', confidence: 'certain', from: at(-50) }], ['expired', 'inactive', 'disabled']],
    ['INACTIVE past its expiry is an expiry', { action: 'reactivate', reason: 'inactive', row, observed: { status: 'INACTIVE', expiresAt: at(-50) }, now }, [{ cause: 'expired', confidence: 'certain', from: at(-50) }], ['expired', 'inactive', 'disabled']],
    ['INACTIVE before its expiry: since last seen active', { action: 'reactivate', reason: 'inactive', row: { ...row, expiresAt: at(300) }, observed: { status: 'INACTIVE', expiresAt: at(300) }, now }, [{ cause: 'inactive', confidence: 'certain', from: at(-70) }], ['expired', 'inactive', 'disabled']],
    ['disabled at the provider: since last seen enabled', { action: 'reactivate', reason: 'disabled-at-provider', row, observed: { status: 'DISABLED' }, now }, [{ cause: 'disabled', confidence: 'certain', from: at(-70) }], ['expired', 'inactive', 'disabled']],
    ['presumed disabled: from the projected disable time', { action: 'none', reason: 'presumed-disabled', record: 'presumed-disabled', row, target: { disableAt: at(-30), deleteAt: at(600) }, now }, [{ cause: 'presumed-disabled', confidence: 'presumed', from: at(-30) }], []],
    ['recreated after a presumed disable closes everything', { action: 'recreate', reason: 'presumed-disabled', row: { ...row, presumedDisabledAt: at(-20) }, target: { disableAt: at(-30), deleteAt: at(600) }, now }, [{ cause: 'presumed-disabled', confidence: 'presumed', from: at(-30) }], SUBSCRIPTION_CAUSES],
    ['lost: since last seen', { action: 'recreate', reason: 'lost-at-provider', row, now }, [{ cause: 'lost', confidence: 'certain', from: at(-70) }], SUBSCRIPTION_CAUSES],
    ['lost after the projected delete: deleted by the provider', { action: 'recreate', reason: 'lost-at-provider', row, target: { disableAt: at(-900), deleteAt: at(-100) }, now }, [{ cause: 'deleted-by-provider', confidence: 'presumed', from: at(-100) }], SUBSCRIPTION_CAUSES],
    ['waiting for the callback while lost', { action: 'none', reason: 'callback-unhealthy', row, now }, [{ cause: 'lost', confidence: 'certain', from: at(-70) }], []],
    ['a drift recreate: nothing subscribed between delete and create', { action: 'recreate', reason: 'drift-needs-recreate', row, observed: { status: 'ACTIVE', expiresAt: at(100) }, now }, [{ cause: 'recreating', confidence: 'certain', from: now }], SUBSCRIPTION_CAUSES],
    ['an ordinary renewal opens nothing', { action: 'renew', reason: 'renewal-due', row: { ...row, expiresAt: at(100) }, observed: { status: 'ACTIVE', expiresAt: at(100) }, now }, [], ['expired', 'inactive', 'disabled']],
    ['a first create opens nothing', { action: 'create', reason: 'missing', now }, [], SUBSCRIPTION_CAUSES],
  ];
  it.each(cases)('%s', (_name, input, open, close) => {
    const g = actionGaps(input);
    expect(g.open).toEqual(open);
    expect(g.closeOnSuccess).toEqual(close);
  });

  it('declared events: names as the provider takes them, or family/event pairs', () => {
    expect(declaredEvents({ eventTypes: ['MESSAGES', 'ENGAGEMENT_CREATED'] })).toEqual(['ENGAGEMENT_CREATED', 'MESSAGES']);
    expect(declaredEvents({ family: ['AGENT', 'QUEUE'], events: ['ALL'] })).toEqual(['AGENT/ALL', 'QUEUE/ALL']);
    expect(declaredEvents({ events: ['ConversationCreated'] })).toEqual(['ConversationCreated']);
    expect(declaredEvents({ family: 'AGENT_ENGAGEMENT', events: ['ALL'] })).toEqual(['AGENT_ENGAGEMENT/ALL']);
  });
});
