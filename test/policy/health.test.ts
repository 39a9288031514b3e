import { describe, expect, it } from 'vitest';
import type { ProbeResult, RecordedTarget } from '../../src/domain/types.js';
import { applyProbe, healthOf, projections } from '../../src/policy/health.js';

const P = { unhealthyAfter: 3, disableAfterSeconds: 8 * 3600, deleteAfterSeconds: 7 * 86400 };
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const fail = (s: number): ProbeResult => ({ at: at(s), ok: false, failureClass: 'unavailable', status: 503, reason: 'HTTP 503', latencyMs: 12 });
const ok = (s: number): ProbeResult => ({ at: at(s), ok: true, status: 200, reason: 'HTTP 200', latencyMs: 5 });
const fresh = { consecutiveFailures: 0, failingSince: null, unhealthySince: null };

function run(results: ProbeResult[]) {
  let t: Partial<RecordedTarget> & typeof fresh = { ...fresh };
  for (const r of results) t = { ...t, ...applyProbe(t, r, P) } as typeof t;
  return t;
}

describe('callback health', () => {
  it('projects the cutoffs: disable 8 h after unhealthy, delete a week after that', () => {
    expect(projections(t0, P)).toEqual({ disableAt: new Date('2026-01-01T08:00:00Z'), deleteAt: new Date('2026-01-08T08:00:00Z') });
  });

  it.each([
    { name: 'one failure: failing, not unhealthy', results: [fail(0)], want: { consecutiveFailures: 1, failingSince: at(0), unhealthySince: null, disableAt: null } },
    { name: 'two failures: still failing', results: [fail(0), fail(60)], want: { consecutiveFailures: 2, unhealthySince: null } },
    // Counted from the first failure of the streak: the provider may start its clock that early.
    { name: 'three failures: unhealthy since the first', results: [fail(0), fail(60), fail(120)], want: { consecutiveFailures: 3, unhealthySince: at(0), disableAt: at(8 * 3600), deleteAt: at(8 * 3600 + 7 * 86400) } },
    { name: 'more failures keep the same cutoffs', results: [fail(0), fail(60), fail(120), fail(180)], want: { unhealthySince: at(0), disableAt: at(8 * 3600) } },
    { name: 'one 200 resets everything', results: [fail(0), fail(60), fail(120), ok(180)], want: { consecutiveFailures: 0, unhealthySince: null, disableAt: null, deleteAt: null, lastSuccessAt: at(180) } },
    { name: 'a new streak starts afresh', results: [fail(0), ok(60), fail(120), fail(180), fail(240)], want: { unhealthySince: at(120) } },
  ])('$name', ({ results, want }) => {
    expect(run(results)).toMatchObject(want);
  });

  it('records the failure class, reason and latency', () => {
    expect(run([fail(0)])).toMatchObject({ lastFailureClass: 'unavailable', lastFailureReason: 'HTTP 503', lastLatencyMs: 12, lastFailureAt: at(0) });
  });

  it.each([
    { name: 'never probed', t: undefined, now: 0, want: 'unknown' },
    { name: 'healthy', t: run([ok(0)]), now: 10, want: 'healthy' },
    { name: 'failing', t: run([fail(0)]), now: 10, want: 'failing' },
    { name: 'unhealthy', t: run([fail(0), fail(1), fail(2)]), now: 3600, want: 'unhealthy' },
    { name: 'past the disable cutoff', t: run([fail(0), fail(1), fail(2)]), now: 8 * 3600, want: 'presumed-disabled' },
    { name: 'past the delete cutoff', t: run([fail(0), fail(1), fail(2)]), now: 8 * 3600 + 7 * 86400, want: 'presumed-deleted' },
  ])('health: $name', ({ t, now, want }) => {
    expect(healthOf(t as RecordedTarget | undefined, at(now))).toBe(want);
  });
});
