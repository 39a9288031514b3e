import { describe, expect, it } from 'vitest';
import { nextProbeAt } from '../../src/watchdog/prober.js';

const at = (s: number) => new Date(Date.UTC(2026, 5, 1) + s * 1000);

describe('probe cadence', () => {
  it('the next probe is an interval after this one was due, not after it ended: no drift', () => {
    // Due at 0 s, run at 0.9 s (the next wake-up): next due at 10 s, then 20 s, however late each ran within its second.
    expect(nextProbeAt(at(0), at(0.9), 10)).toEqual(at(10));
    expect(nextProbeAt(at(10), at(10.95), 10)).toEqual(at(20));
    // Ten probes, each run up to a second late: the tenth is still due at 100 s.
    let due = at(0);
    for (let i = 0; i < 10; i++) due = nextProbeAt(due, new Date(due.getTime() + 999), 10);
    expect(due).toEqual(at(100));
  });

  it('a probe that ran an interval or more late (a start, an outage) counts from when it ran: no catch-up burst', () => {
    expect(nextProbeAt(at(0), at(35), 10)).toEqual(at(45));
    expect(nextProbeAt(at(0), at(10), 10)).toEqual(at(20));
  });

  it('never sooner than a second after the probe', () => {
    expect(nextProbeAt(at(0), at(0.5), 1)).toEqual(at(1.5));
  });
});
