import { describe, expect, it } from 'vitest';
import { backoffSeconds, dueAt, firstRenewalAt, jitterSeconds, renewAt, renewBeforeSeconds } from '../../src/policy/timing.js';

describe('renewBeforeSeconds', () => {
  it.each([
    { name: 'a third of 900 s', rb: { percent: 33 }, lifetime: 900, want: 297 },
    { name: 'a third of 20 s, whole seconds', rb: { percent: 33 }, lifetime: 20, want: 6 },
    { name: 'a fixed duration', rb: { seconds: 120 }, lifetime: 900, want: 120 },
    // A duration longer than the lifetime would renew forever: clamp to 1 s after the grant.
    { name: 'a duration longer than the lifetime', rb: { seconds: 3600 }, lifetime: 900, want: 899 },
    { name: 'never less than 1 s', rb: { percent: 1 }, lifetime: 20, want: 1 },
    { name: 'fractional lifetimes are floored', rb: { percent: 50 }, lifetime: 21.9, want: 10 },
  ])('$name', ({ rb, lifetime, want }) => {
    expect(renewBeforeSeconds(rb, lifetime)).toBe(want);
  });
});

describe('jitterSeconds', () => {
  it('is stable for a name and bounded by a tenth of renewBefore', () => {
    expect(jitterSeconds('agents', 297)).toBe(jitterSeconds('agents', 297));
    for (const n of ['a', 'b', 'c', 'agents', 'queues', 'x'.repeat(60)]) {
      expect(jitterSeconds(n, 297)).toBeGreaterThanOrEqual(0);
      expect(jitterSeconds(n, 297)).toBeLessThanOrEqual(29);
    }
  });
  it('spreads names created together', () => {
    const values = new Set(Array.from({ length: 50 }, (_, i) => jitterSeconds(`sub-${i}`, 297)));
    expect(values.size).toBeGreaterThan(10);
  });
  it('is zero when renewBefore is too short to spread (20 s lifetimes)', () => {
    expect(jitterSeconds('agents', 6)).toBe(0);
  });
});

describe('renewAt', () => {
  it('is expiresAt - renewBefore - jitter, in whole seconds', () => {
    const expires = new Date('2026-01-01T12:15:00.700Z');
    const at = renewAt(expires, 900, { percent: 33 }, 'agents');
    const j = jitterSeconds('agents', 297);
    expect(at.toISOString()).toBe(new Date(Date.parse('2026-01-01T12:15:00.000Z') - (297 + j) * 1000).toISOString());
  });
});

describe('backoffSeconds (full jitter)', () => {
  it.each([
    { name: 'first failure, top draw', failures: 1, rand: 1, toExpiry: undefined, want: 1 },
    { name: 'fourth failure, top draw', failures: 4, rand: 1, toExpiry: undefined, want: 8 },
    { name: 'half draw', failures: 4, rand: 0.5, toExpiry: undefined, want: 4 },
    { name: 'capped at 300 s', failures: 30, rand: 1, toExpiry: undefined, want: 300 },
    { name: 'zero draw floors at 0.5 s', failures: 3, rand: 0, toExpiry: undefined, want: 0.5 },
    // The retry must land before expiry: at most half of what is left.
    { name: 'capped before expiry', failures: 10, rand: 1, toExpiry: 6, want: 3 },
    { name: 'already expired: plain backoff', failures: 2, rand: 1, toExpiry: -5, want: 2 },
  ])('$name', ({ failures, rand, toExpiry, want }) => {
    expect(backoffSeconds(failures, rand, toExpiry)).toBe(want);
  });
});

describe('firstRenewalAt', () => {
  const made = new Date('2026-01-01T12:00:00.000Z');
  const expires = new Date('2026-01-01T12:15:00.000Z');
  const names = Array.from({ length: 2000 }, (_, i) => `sub-${i}`);

  it('lies between a quarter of the cycle and the usual renewal time, in whole seconds, stable per name', () => {
    for (const n of names.slice(0, 200)) {
      const at = firstRenewalAt(made, expires, 900, { percent: 33 }, n);
      const usual = renewAt(expires, 900, { percent: 33 }, n);
      const cycle = usual.getTime() - made.getTime();
      expect(at.getTime()).toBeLessThanOrEqual(usual.getTime());
      expect(at.getTime()).toBeGreaterThanOrEqual(made.getTime() + cycle / 4);
      expect(at.getTime() % 1000).toBe(0);
      expect(firstRenewalAt(made, expires, 900, { percent: 33 }, n)).toEqual(at);
    }
  });

  it('spreads subscriptions made in the same second evenly over three quarters of the cycle', () => {
    // Where each lands in its own spread window (a quarter of its cycle to the usual time), in tenths.
    const buckets = new Array<number>(10).fill(0);
    for (const n of names) {
      const at = firstRenewalAt(made, expires, 900, { percent: 33 }, n).getTime();
      const cycle = renewAt(expires, 900, { percent: 33 }, n).getTime() - made.getTime();
      const f = (at - made.getTime() - cycle / 4) / ((cycle * 3) / 4);
      buckets[Math.min(9, Math.max(0, Math.floor(f * 10)))]!++;
    }
    // Peak over mean at most 1.3 (a uniform spread is 1).
    expect(Math.max(...buckets) / (names.length / 10)).toBeLessThan(1.3);
    expect(Math.min(...buckets)).toBeGreaterThan(0);
  });

  it('is the usual time when the subscription was made after it (a clock gone backwards)', () => {
    const late = new Date('2026-01-01T12:14:00.000Z');
    expect(firstRenewalAt(late, expires, 900, { percent: 33 }, 'a')).toEqual(renewAt(expires, 900, { percent: 33 }, 'a'));
  });

  it('dueAt is the usual renewal time unless the first renewal is pending', () => {
    expect(dueAt(expires, 900, { percent: 33 }, 'a')).toEqual(renewAt(expires, 900, { percent: 33 }, 'a'));
    expect(dueAt(expires, 900, { percent: 33 }, 'a', { madeAt: made })).toEqual(firstRenewalAt(made, expires, 900, { percent: 33 }, 'a'));
    expect(dueAt(expires, 900, { percent: 33 }, 'a', { madeAt: null })).toEqual(renewAt(expires, 900, { percent: 33 }, 'a'));
  });

  it('is the usual time once the expiry is later than its creation granted: renewed already, by a replica that died before recording it', () => {
    const renewed = new Date(made.getTime() + 1200_000); // 20 minutes after the make, with a 900 s lifetime
    expect(dueAt(renewed, 900, { percent: 33 }, 'a', { madeAt: made })).toEqual(renewAt(renewed, 900, { percent: 33 }, 'a'));
  });
});
