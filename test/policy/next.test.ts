import { describe, expect, it } from 'vitest';
import {
  afterAction,
  afterListFailure,
  DOWN_RETRY_CAP_SECONDS,
  effectiveExpiry,
  IDLE_RECHECK_SECONDS,
  touchedCheck,
  MAX_RETRY_AFTER_SECONDS,
  MIN_RETRY_SECONDS,
  minRenewGapSeconds,
  nextCheckFor,
  retryDelaySeconds,
  retryWithinPass,
  listingBudgetMs,
  MIN_LISTING_BUDGET_MS,
  heldUpAfterSeconds,
  type FailureInfo,
} from '../../src/policy/next.js';
import { jitterSeconds, renewAt, renewBeforeSeconds } from '../../src/policy/timing.js';
import { desired, NOW, observed, recorded, secondsFromNow } from '../fixtures/builders.js';

const timing = { now: NOW, reconcileEverySeconds: 60, rand01: 0.5, renews: true };
const secondsUntil = (d: Date) => (d.getTime() - NOW.getTime()) / 1000;
const err = (over: Partial<FailureInfo> = {}): FailureInfo => ({ code: 'PROVIDER_SERVER_ERROR', retry: 'retryable', ...over });

describe('effectiveExpiry: the earliest the answer allows', () => {
  it.each([
    // The Infinity spec's own example: expiresIn 900 next to an expiresAt a week later.
    { name: 'expiresIn sooner than expiresAt', at: secondsFromNow(7 * 86400), inS: 900, want: 900 },
    { name: 'expiresAt sooner than expiresIn', at: secondsFromNow(300), inS: 900, want: 300 },
    { name: 'expiresAt only', at: secondsFromNow(300), inS: undefined, want: 300 },
    { name: 'expiresIn only', at: undefined, inS: 120, want: 120 },
    { name: 'a skewed expiresAt already past', at: secondsFromNow(-30), inS: 900, want: -30 },
    { name: 'a negative expiresIn counts as zero', at: undefined, inS: -5, want: 0 },
  ])('$name', ({ at, inS, want }) => {
    const e = effectiveExpiry({ ...(at ? { expiresAt: at } : {}), ...(inS !== undefined ? { expiresIn: inS } : {}) }, NOW);
    expect(secondsUntil(e!)).toBe(want);
  });
  it('is undefined when the answer says nothing of expiry', () => {
    expect(effectiveExpiry({}, NOW)).toBeUndefined();
  });
});

describe('retryDelaySeconds', () => {
  it.each([
    { name: 'first failure: backoff with jitter', p: { failures: 1, rand01: 0.5, expiresAt: null }, want: 1 },
    { name: 'Retry-After longer than the backoff is honoured', p: { failures: 1, rand01: 0.5, retryAfterSeconds: 120, expiresAt: secondsFromNow(3600) }, want: 120 },
    // A day of Retry-After on a subscription that expires in 10 minutes: at most a third of what is left.
    { name: 'Retry-After capped to leave room for two more tries before expiry', p: { failures: 1, rand01: 0.5, retryAfterSeconds: 86400, expiresAt: secondsFromNow(600) }, want: 200 },
    { name: 'Retry-After without an expiry is capped too', p: { failures: 1, rand01: 0.5, retryAfterSeconds: 86400, expiresAt: null }, want: MAX_RETRY_AFTER_SECONDS },
    { name: 'an absurd Retry-After stays finite', p: { failures: 1, rand01: 0.5, retryAfterSeconds: 1e300, expiresAt: null }, want: MAX_RETRY_AFTER_SECONDS },
    { name: 'a non-finite Retry-After is ignored', p: { failures: 1, rand01: 0.5, retryAfterSeconds: Number.NaN, expiresAt: null }, want: 1 },
    { name: 'backoff grows and is capped at 300 s', p: { failures: 30, rand01: 0.999, expiresAt: null }, want: 299.7 },
    { name: 'never a tight loop: at least 1 s, even next to expiry', p: { failures: 1, rand01: 0, expiresAt: secondsFromNow(0.5) }, want: MIN_RETRY_SECONDS },
    { name: 'already expired: plain backoff', p: { failures: 3, rand01: 0.5, expiresAt: secondsFromNow(-60) }, want: 2 },
  ])('$name', ({ p, want }) => {
    expect(retryDelaySeconds({ ...p, now: NOW })).toBeCloseTo(want, 5);
  });
});

describe('afterAction', () => {
  const d = desired('a');
  it('a renewal that succeeded: next check at the renewal time of the new expiry', () => {
    const o = observed('r1', { expiresAt: secondsFromNow(900) });
    const next = afterAction(recorded('a'), 'renew', { ok: true, observed: o, lifetimeSeconds: 900 }, d, timing);
    expect(next.state).toBe('active');
    expect(next.failureCount).toBe(0);
    // The renewal time itself (the periodic pass comes anyway, from memory): an idle pass has nothing to write.
    expect(next.nextCheckAt.getTime()).toBe(renewAt(o.expiresAt!, 900, d.renewBefore, 'a').getTime());
  });
  it('a renewal on time keeps its phase: the next one comes renewBefore ahead of the new expiry', () => {
    // Recorded: renewed 600 s ago for 900 s, so due now (renewBefore 33% of 900 s, less its jitter).
    const row = recorded('a', { expiresAt: secondsFromNow(300), lifetimeSeconds: 900, lastRenewedAt: secondsFromNow(-600), firstRenewalPending: false });
    const o = observed('r1', { expiresAt: secondsFromNow(900) });
    const next = afterAction(row, 'renew', { ok: true, observed: o, lifetimeSeconds: 900 }, d, timing);
    expect(next.firstRenewalPending).toBe(false);
    expect(next.spreadFrom).toBeNull();
    expect(next.nextCheckAt.getTime()).toBe(renewAt(o.expiresAt!, 900, d.renewBefore, 'a').getTime());
  });
  it('renewals held up together (an outage, a backlog) are spread again over their next cycle, not renewed together in every cycle after', () => {
    const before = renewBeforeSeconds(d.renewBefore, 900);
    const late = heldUpAfterSeconds(before) + 30;
    const names = Array.from({ length: 200 }, (_, i) => `held-up-${i}`);
    const nexts = names.map((name) => {
      const dn = desired(name);
      // Due `late` seconds ago: its expiry is that much closer than renewBefore.
      const row = recorded(name, { expiresAt: secondsFromNow(before - late), lifetimeSeconds: 900, lastRenewedAt: secondsFromNow(before - late - 900), firstRenewalPending: false });
      const o = observed(`r-${name}`, { expiresAt: secondsFromNow(900) });
      const next = afterAction(row, 'renew', { ok: true, observed: o, lifetimeSeconds: 900 }, dn, timing);
      expect(next.firstRenewalPending).toBe(true);
      // Never within half a lifetime of this renewal (nor a second after it), never after the usual renewal time.
      expect(next.spreadFrom).toEqual(secondsFromNow(451));
      const usual = renewAt(o.expiresAt!, 900, dn.renewBefore, name).getTime();
      expect(next.nextCheckAt.getTime()).toBeLessThanOrEqual(usual);
      expect(next.nextCheckAt.getTime()).toBeGreaterThanOrEqual(NOW.getTime() + 451_000);
      // The rows as recorded give the same time on every pass after (the plan's and the executor's next check).
      const recordedAfter = { ...row, expiresAt: o.expiresAt!, lastRenewedAt: NOW, firstRenewalPending: true, spreadFrom: next.spreadFrom! };
      expect(nextCheckFor(dn, o, 900, NOW, timing, true, recordedAfter.spreadFrom).getTime()).toBe(next.nextCheckAt.getTime());
      // Renewed at that time, it is on time: the phase is kept from then on.
      const at = { ...timing, now: next.nextCheckAt };
      const after = afterAction(recordedAfter, 'renew', { ok: true, observed: observed(`r-${name}`, { expiresAt: new Date(next.nextCheckAt.getTime() + 900_000) }), lifetimeSeconds: 900 }, dn, at);
      expect([after.firstRenewalPending, after.spreadFrom]).toEqual([false, null]);
      return next.nextCheckAt.getTime();
    });
    // Spread over that window (from half a lifetime to the usual time): its busiest tenth holds far fewer than all of them.
    const from = NOW.getTime() + 451_000;
    const window = Math.max(...nexts) - from;
    expect(window).toBeGreaterThan(100_000);
    const bins = new Map<number, number>();
    for (const t of nexts) bins.set(Math.min(9, Math.floor(((t - from) / window) * 10)), (bins.get(Math.min(9, Math.floor(((t - from) / window) * 10))) ?? 0) + 1);
    expect(Math.max(...bins.values())).toBeLessThan(names.length / 4);
    // Barely late (within heldUpAfterSeconds of its due time, jitter included): the phase is kept.
    const onTime = recorded('a', { expiresAt: secondsFromNow(before + jitterSeconds('a', before) - heldUpAfterSeconds(before) + 1), lifetimeSeconds: 900, lastRenewedAt: secondsFromNow(-600), firstRenewalPending: false });
    expect(afterAction(onTime, 'renew', { ok: true, observed: observed('r1', { expiresAt: secondsFromNow(900) }), lifetimeSeconds: 900 }, d, timing).firstRenewalPending).toBe(false);
  });
  it('a skewed expiry already past after a renewal: bounded rate, never every wake-up', () => {
    const o = observed('r1', { expiresAt: secondsFromNow(-3600), expiresIn: 900 });
    const next = afterAction(recorded('a'), 'renew', { ok: true, observed: o, lifetimeSeconds: 900 }, d, timing);
    expect(secondsUntil(next.nextCheckAt)).toBe(minRenewGapSeconds(900));
    expect(minRenewGapSeconds(900)).toBe(30);
  });
  it.each([
    { name: 'retryable: failing, backoff', action: 'renew' as const, e: err(), state: 'failing', delay: 1 },
    { name: 'a one-day Retry-After still lands before expiry', action: 'renew' as const, e: err({ code: 'PROVIDER_RATE_LIMITED', retryAfterSeconds: 86400 }), state: 'failing', delay: 100 },
    { name: 'terminal on create: rejected until the config changes (the periodic pass looks anyway)', action: 'create' as const, e: err({ code: 'PROVIDER_BAD_REQUEST', retry: 'terminal' }), state: 'rejected', delay: IDLE_RECHECK_SECONDS },
    { name: 'a 404 under a renew is no rejection: retried (the plan recreates it)', action: 'renew' as const, e: err({ code: 'PROVIDER_NOT_FOUND', retry: 'terminal' }), state: 'failing', delay: 1 },
    { name: 'auth: slowly, but before expiry', action: 'renew' as const, e: err({ code: 'PROVIDER_AUTH_FAILED', retry: 'auth' }), state: 'failing', delay: 60 },
    // Nothing is delivered while the subscription is missing: a day of Retry-After becomes a minute.
    { name: 'a missing subscription is tried again within a minute, whatever Retry-After says', action: 'create' as const, e: err({ code: 'PROVIDER_RATE_LIMITED', retryAfterSeconds: 86400 }), state: 'failing', delay: DOWN_RETRY_CAP_SECONDS },
  ])('$name', ({ action, e, state, delay }) => {
    const row = recorded('a', { expiresAt: secondsFromNow(300), failureCount: 0 });
    const next = afterAction(row, action, { ok: false, error: e }, d, timing);
    expect(next.state).toBe(state);
    expect(next.failureCount).toBe(1);
    expect(secondsUntil(next.nextCheckAt)).toBeCloseTo(delay, 5);
  });
});

describe('afterListFailure', () => {
  it('a due row waits the account backoff, honouring Retry-After within its expiry bound', () => {
    const row = recorded('a', { nextCheckAt: secondsFromNow(-1), expiresAt: secondsFromNow(600) });
    expect(secondsUntil(afterListFailure(row, 1, err({ retryAfterSeconds: 86400 }), timing)!)).toBe(200);
  });
  it('a row not yet due keeps its time: a failed list never postpones a renewal', () => {
    const row = recorded('a', { nextCheckAt: secondsFromNow(30), expiresAt: secondsFromNow(600) });
    expect(afterListFailure(row, 5, err({ retryAfterSeconds: 86400 }), timing)).toBeUndefined();
  });
});

describe('nextCheckFor', () => {
  it('never before the minimum gap after the last renewal', () => {
    const o = observed('r1', { expiresAt: secondsFromNow(5) });
    const next = nextCheckFor(desired('a'), o, 20, NOW, timing);
    expect(secondsUntil(next)).toBe(minRenewGapSeconds(20));
  });
  it('a PENDING subscription is looked at again shortly', () => {
    expect(secondsUntil(nextCheckFor(desired('a'), observed('r1', { status: 'PENDING' }), 900, null, timing))).toBe(5);
  });
});

describe('touchedCheck: an idle pass writes nothing', () => {
  it.each([
    { name: 'unchanged: no write', recorded: 600, wanted: 600, want: undefined },
    { name: 'within a second: no write', recorded: 600, wanted: 600.4, want: undefined },
    { name: 'later than recorded and the row not due: no write', recorded: 600, wanted: 86400, want: undefined },
    { name: 'sooner than recorded: written', recorded: 600, wanted: 30, want: 30 },
    // A row left due would make its account due on every wake-up.
    { name: 'the row is due: moved forward', recorded: -5, wanted: 86400, want: 86400 },
  ])('$name', ({ recorded: r, wanted, want }) => {
    const got = touchedCheck(secondsFromNow(r), secondsFromNow(wanted), NOW);
    expect(got === undefined ? undefined : secondsUntil(got)).toBe(want);
  });
  it.each([
    // renewBefore 33% -> 10%: the renewal comes later; left alone, the row would come due for nothing.
    { name: 'a renewal time now later: moved later', recorded: 300, wanted: 510, want: 510 },
    { name: 'later by no more than a second: no write', recorded: 300, wanted: 300.8, want: undefined },
    { name: 'a renewal time now sooner: moved sooner', recorded: 510, wanted: 300, want: 300 },
  ])('renewal time: $name', ({ recorded: r, wanted, want }) => {
    const got = touchedCheck(secondsFromNow(r), secondsFromNow(wanted), NOW, true);
    expect(got === undefined ? undefined : secondsUntil(got)).toBe(want);
  });
});

describe('retryWithinPass', () => {
  it.each([
    { name: 'next try in 2 s: wait 2 s', expiresIn: 60, nextIn: 2, retry: 'retryable', want: 2000 },
    { name: 'past expiry (reactivation), next try now: at once', expiresIn: -5, nextIn: 0, retry: 'retryable', want: 0 },
    // The next pass waits for this one's slowest call, then lists first: it may come too late.
    { name: 'early in the window, next try in 2 s: wait 2 s all the same', expiresIn: 200, nextIn: 2, retry: 'retryable', want: 2000 },
    { name: 'next try later than 5 s (a Retry-After): the next pass will do', expiresIn: 60, nextIn: 20, retry: 'retryable', want: undefined },
    { name: 'wrong credentials: not retried in the pass', expiresIn: 60, nextIn: 2, retry: 'auth', want: undefined },
    { name: 'refused: not retried in the pass', expiresIn: 60, nextIn: 2, retry: 'terminal', want: undefined },
  ] as const)('$name', ({ expiresIn, nextIn, retry, want }) => {
    const row = recorded('a', { expiresAt: secondsFromNow(expiresIn), nextCheckAt: secondsFromNow(nextIn), lifetimeSeconds: 900 });
    expect(retryWithinPass(row, retry, NOW)).toBe(want);
  });
  it('not for a subscription whose lifetime is unknown', () => {
    expect(retryWithinPass(recorded('a', { expiresAt: secondsFromNow(10), nextCheckAt: NOW, lifetimeSeconds: null }), 'retryable', NOW)).toBeUndefined();
  });
});

describe('listingBudgetMs', () => {
  it.each([
    { name: 'nothing urgent: no bound', expiresIn: [], want: undefined },
    { name: 'a third of what the most urgent renewal has left', expiresIn: [90, 30, 600], want: 10_000 },
    { name: 'never below a second', expiresIn: [1], want: MIN_LISTING_BUDGET_MS },
    // Only a listing shows what became of an expired one: no reason to cut it short.
    { name: 'already expired: no bound', expiresIn: [-20], want: undefined },
    { name: 'expired ones left out', expiresIn: [-20, 90], want: 30_000 },
  ])('$name', ({ expiresIn, want }) => {
    expect(listingBudgetMs(expiresIn.map(secondsFromNow), NOW)).toBe(want);
  });
});
