import { describe, expect, it } from 'vitest';
import type { RecordedSubscription, RecordedTarget } from '../../src/domain/types.js';
import { plan } from '../../src/policy/plan.js';
import { desired, input, NOW, observed, recorded, secondsFromNow } from '../fixtures/builders.js';

const brief = (r: ReturnType<typeof plan>) => r.actions.map((a) => `${a.name}:${a.action}:${a.reason}`);

describe('plan: one declared subscription', () => {
  it.each([
    {
      name: 'nothing anywhere: create',
      in: input({ desired: [desired('a')] }),
      want: ['a:create:missing'],
    },
    {
      name: 'an unclaimed exact match: adopt it (the time it has left stands in for its lifetime)',
      in: input({ desired: [desired('a')], observed: [observed('r1', { fingerprint: 'fp-a' })] }),
      want: ['a:adopt:found-existing'],
    },
    {
      name: 'an unclaimed exact match already past its expiry but listed ACTIVE: adopt it and renew it',
      in: input({ desired: [desired('a')], observed: [observed('r1', { fingerprint: 'fp-a', expiresAt: secondsFromNow(-1), expiresIn: 0 })] }),
      want: ['a:adopt:found-existing', 'a:renew:expired'],
    },
    {
      name: 'bound before without a known lifetime: renew to learn it',
      in: input({ desired: [desired('a')], observed: [observed('r1', { fingerprint: 'fp-a' })], recorded: [recorded('a', { remoteId: 'r1', lifetimeSeconds: null })] }),
      want: ['a:renew:lifetime-unknown'],
    },
    {
      name: 'a drifted subscription on the same callback URL: adopt, then update',
      in: input({ desired: [desired('a')], observed: [observed('r1', { matchKey: 'https://hooks.example.com/a', spec: { events: ['X'], family: ['AGENT'] } })] }),
      want: ['a:adopt:found-existing', 'a:update:drift'],
    },
    {
      name: 'a match already bound to another name is not adopted',
      in: input({ desired: [desired('a')], observed: [observed('r1', { fingerprint: 'fp-a' })], recorded: [recorded('b', { remoteId: 'r1' })] }),
      // (b is the only subscription owned: deleting it would be "more than half".)
      want: ['a:create:missing', 'b:none:mass-delete-refused'],
    },
    {
      name: 'recorded but gone at the provider: recreate',
      in: input({ desired: [desired('a')], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:recreate:lost-at-provider'],
    },
    {
      name: 'bound and in sync, renewal not due: nothing',
      in: input({ desired: [desired('a')], observed: [observed('r1')], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:none:in-sync'],
    },
    {
      name: 'within renewBefore of expiry: renew',
      in: input({ desired: [desired('a')], observed: [observed('r1', { expiresAt: secondsFromNow(200) })], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:renew:renewal-due'],
    },
    {
      name: 'INACTIVE: reactivate',
      in: input({ desired: [desired('a')], observed: [observed('r1', { status: 'INACTIVE' })], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:reactivate:inactive'],
    },
    {
      name: 'past expiry but still listed ACTIVE: renew',
      in: input({ desired: [desired('a')], observed: [observed('r1', { expiresAt: secondsFromNow(-1) })], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:renew:expired'],
    },
    {
      name: 'PENDING: wait',
      in: input({ desired: [desired('a')], observed: [observed('r1', { status: 'PENDING' })], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:none:pending-at-provider'],
    },
    {
      name: 'drift where the provider cannot update: recreate',
      in: input({ caps: { renew: true, update: false }, desired: [desired('a')], observed: [observed('r1', { spec: { events: ['X'], family: ['AGENT'] } })], recorded: [recorded('a', { remoteId: 'r1' })] }),
      want: ['a:recreate:drift-needs-recreate'],
    },
    {
      name: 'failed recently, backoff not elapsed: wait',
      in: input({ desired: [desired('a')], observed: [observed('r1', { expiresAt: secondsFromNow(100) })], recorded: [recorded('a', { remoteId: 'r1', failureCount: 2, nextCheckAt: secondsFromNow(5) })] }),
      want: ['a:none:backing-off'],
    },
    {
      name: 'rejected spec, config unchanged: wait for a config change',
      in: input({ desired: [desired('a')], recorded: [recorded('a', { state: 'rejected', failureCount: 1 })] }),
      want: ['a:none:rejected-until-config-changes'],
    },
    {
      name: 'rejected spec, config changed: try again',
      in: input({ desired: [desired('a', { hash: 'new' })], recorded: [recorded('a', { state: 'rejected', failureCount: 1, nextCheckAt: secondsFromNow(30) })] }),
      want: ['a:create:missing'],
    },
  ])('$name', ({ in: i, want }) => {
    expect(brief(plan(i))).toEqual(want);
  });
});

describe('plan: the account as a whole', () => {
  it('orders the most urgent renewals first', () => {
    const r = plan(
      input({
        desired: [desired('late'), desired('soon')],
        observed: [observed('r-late', { expiresAt: secondsFromNow(250) }), observed('r-soon', { expiresAt: secondsFromNow(10) })],
        recorded: [recorded('late', { remoteId: 'r-late' }), recorded('soon', { remoteId: 'r-soon' })],
      }),
    );
    expect(brief(r)).toEqual(['soon:renew:renewal-due', 'late:renew:renewal-due']);
  });

  it('keeps the healthiest of several matches and deletes the others', () => {
    const r = plan(
      input({
        desired: [desired('a')],
        observed: [
          observed('old', { fingerprint: 'fp-a', status: 'INACTIVE' }),
          observed('best', { fingerprint: 'fp-a', expiresAt: secondsFromNow(800) }),
          observed('short', { fingerprint: 'fp-a', expiresAt: secondsFromNow(400) }),
        ],
      }),
    );
    expect(r.actions.map((a) => `${a.action}:${a.remoteId}`)).toEqual(['adopt:best', 'delete:short', 'delete:old']);
  });

  it('reports orphans and deletes them only when told to', () => {
    const base = { observed: [observed('stray')] };
    expect(plan(input(base)).orphans).toEqual([{ provider: 'acct', remoteId: 'stray', matchKey: 'https://hooks.example.com/stray', deleted: false }]);
    expect(plan(input(base)).actions).toEqual([]);
    expect(brief(plan(input({ ...base, deleteOrphans: true })))).toEqual(['stray:delete:orphan']);
  });

  it.each([
    // Two of four is half: allowed. Three of four is more than half: refused.
    { removed: 2, owned: 4, refused: false },
    { removed: 3, owned: 4, refused: true },
    { removed: 1, owned: 1, refused: true },
    { removed: 1, owned: 3, refused: false },
  ])('removing $removed of $owned owned: refused=$refused', ({ removed, owned, refused }) => {
    const names = Array.from({ length: owned }, (_, i) => `s${i}`);
    const keep = names.slice(removed);
    const r = plan(
      input({
        desired: keep.map((n) => desired(n)),
        observed: names.map((n) => observed(`r-${n}`)),
        recorded: names.map((n) => recorded(n, { remoteId: `r-${n}` })),
      }),
    );
    const reasons = r.actions.filter((a) => !keep.includes(a.name)).map((a) => a.reason);
    expect(reasons).toEqual(Array(removed).fill(refused ? 'mass-delete-refused' : 'removed-from-config'));
    const confirmed = plan(input({ desired: keep.map((n) => desired(n)), observed: names.map((n) => observed(`r-${n}`)), recorded: names.map((n) => recorded(n, { remoteId: `r-${n}` })), allowMassDelete: true }));
    expect(confirmed.actions.filter((a) => a.action === 'delete')).toHaveLength(removed);
  });

  it('schedules the next look at the renewal time, or the periodic pass if sooner', () => {
    const r = plan(input({ desired: [desired('a')], observed: [observed('r1', { expiresAt: secondsFromNow(320) })], recorded: [recorded('a', { remoteId: 'r1' })] }));
    // 320 s left, renewBefore 297 s (+ jitter): due in at most 23 s, sooner than the 60 s pass.
    const next = r.nextCheck.get('a')!.getTime() - NOW.getTime();
    expect(next).toBeLessThanOrEqual(23_000);
    expect(next).toBeGreaterThanOrEqual(0);
  });

  it('is pure: the same input gives the same plan', () => {
    const i = input({ desired: [desired('a'), desired('b')], observed: [observed('r1', { fingerprint: 'fp-a' })] });
    expect(plan(i)).toEqual(plan(i));
  });
});

describe('plan: callbacks the provider disables (AXP)', () => {
  const url = 'https://hooks.example.com/a';
  const axp = { renew: false, update: true, disablesUnhealthyCallbacks: true };
  const d = () => desired('a', { callback: { url, method: 'POST', format: 'axp-digital', headers: {}, probe: { enabled: true, event: 'unknown' } } });
  const target = (over: Partial<RecordedTarget>): RecordedTarget => ({
    id: 't', provider: 'acct', name: 'a', url, format: 'axp-digital', consecutiveFailures: 0, failingSince: null, unhealthySince: null, disableAt: null, deleteAt: null,
    lastSuccessAt: NOW, lastFailureAt: null, lastFailureClass: null, lastFailureReason: null, lastLatencyMs: 3, lastProbeAt: NOW, nextProbeAt: NOW,
    lastSignal: null, lastSignalAt: null, version: 1, ...over,
  });
  const sick = (disableIn: number) => target({ consecutiveFailures: 5, failingSince: secondsFromNow(-100), unhealthySince: secondsFromNow(-100), disableAt: secondsFromNow(disableIn), deleteAt: secondsFromNow(disableIn + 600), lastFailureReason: 'HTTP 503' });
  const run = (t: RecordedTarget, rec: Partial<RecordedSubscription>, obs = [observed('r1', { fingerprint: 'fp-a' })]) =>
    brief(plan(input({ caps: axp, desired: [d()], observed: obs, recorded: [recorded('a', { remoteId: 'r1', ...rec })], targets: new Map([[url, t]]) })));

  it.each([
    { name: 'unhealthy but before the cutoff: business as usual', t: sick(60), rec: {}, want: ['a:none:in-sync'] },
    { name: 'past the cutoff: presumed disabled (recorded, nothing recreated)', t: sick(-1), rec: {}, want: ['a:none:presumed-disabled'] },
    { name: 'presumed disabled and still failing: wait', t: sick(-1), rec: { presumedDisabledAt: secondsFromNow(-5) }, want: ['a:none:callback-unhealthy'] },
    { name: 'presumed disabled and healthy again: delete and create', t: target({}), rec: { presumedDisabledAt: secondsFromNow(-5) }, want: ['a:recreate:presumed-disabled'] },
    { name: 'deleted by the provider while failing: wait', t: sick(-700), rec: { presumedDisabledAt: secondsFromNow(-5) }, obs: [], want: ['a:none:callback-unhealthy'] },
    { name: 'lost while unhealthy (not yet presumed): wait', t: sick(60), rec: {}, obs: [], want: ['a:none:callback-unhealthy'] },
    { name: 'lost while healthy: recreate', t: target({}), rec: {}, obs: [], want: ['a:recreate:lost-at-provider'] },
    { name: 'a provider that volunteers DISABLED, callback healthy: recreate', t: target({}), rec: {}, obs: [observed('r1', { status: 'DISABLED' })], want: ['a:recreate:disabled-at-provider'] },
  ] as { name: string; t: RecordedTarget; rec: Partial<RecordedSubscription>; obs?: ReturnType<typeof observed>[]; want: string[] }[])('$name', ({ t, rec, obs, want }) => {
    expect(run(t, rec, obs)).toEqual(want);
  });

  // Crash windows: a recreation cut short after its create, before its outcome was recorded.
  it.each([
    {
      name: 'presumed disabled, healthy again, and a replacement made after the disable: adopt it, delete the old one',
      obs: [observed('r1', { fingerprint: 'fp-a' }), observed('r2', { fingerprint: 'fp-a', createdAt: secondsFromNow(-1) })],
      open: false,
      want: ['a:adopt:found-existing', 'a:delete:duplicate'],
    },
    {
      name: 'the old one already deleted, the create journalled without outcome: adopt what it made',
      obs: [observed('r2', { fingerprint: 'fp-a' })],
      open: true,
      want: ['a:adopt:found-existing'],
    },
    {
      name: 'an open intent, but the match is older than it: someone else\'s; delete and create',
      obs: [observed('r1', { fingerprint: 'fp-a' }), observed('r0', { fingerprint: 'fp-a', createdAt: secondsFromNow(-3600) })],
      open: true,
      want: ['a:recreate:presumed-disabled'],
    },
    {
      name: 'an older match and no open intent: not ours to adopt; delete and create',
      obs: [observed('r1', { fingerprint: 'fp-a' }), observed('r0', { fingerprint: 'fp-a', createdAt: secondsFromNow(-3600) })],
      open: false,
      want: ['a:recreate:presumed-disabled'],
    },
  ])('$name', ({ obs, open, want }) => {
    const r = plan(input({ caps: axp, desired: [d()], observed: obs, recorded: [recorded('a', { remoteId: 'r1', presumedDisabledAt: secondsFromNow(-5) })], targets: new Map([[url, target({})]]), openIntents: new Map(open ? [['a', { first: secondsFromNow(-30), last: secondsFromNow(-30) }]] : []) }));
    expect(brief(r)).toEqual(want);
    const del = r.actions.find((a) => a.action === 'delete');
    if (del) expect(del).toMatchObject({ remoteId: 'r1', rowless: true });
  });

  it('a lost subscription is confirmed by id before it is created again', () => {
    const r = plan(input({ caps: axp, desired: [d()], observed: [], recorded: [recorded('a', { remoteId: 'r1' })], targets: new Map([[url, target({})]]) }));
    expect(r.actions[0]).toMatchObject({ action: 'recreate', confirmGone: true, deleteFirst: false, remoteId: 'r1' });
  });

  it('providers that do not disable (Infinity) only see the countdown', () => {
    const r = plan(input({ desired: [d()], observed: [observed('r1')], recorded: [recorded('a', { remoteId: 'r1' })], targets: new Map([[url, sick(-1)]]) }));
    expect(brief(r)).toEqual(['a:none:in-sync']);
  });

  it('names the countdown in its message', () => {
    const r = plan(input({ caps: axp, desired: [d()], observed: [observed('r1')], recorded: [recorded('a', { remoteId: 'r1' })], targets: new Map([[url, sick(-1)]]) }));
    expect(r.actions[0]!.message).toMatch(/callback unhealthy since .* \(HTTP 503\); provider disables at .*, deletes at/);
  });
});

describe('plan: listings the provider got wrong', () => {
  it('an id repeated across pages is one subscription: adopted once, never deleted as its own duplicate', () => {
    const o = observed('r1', { fingerprint: 'fp-a' });
    const r = plan(input({ desired: [desired('a')], observed: [o, { ...o }, observed('r2', { fingerprint: 'fp-b' }), { ...o }] }));
    expect(brief(r)).toEqual(['a:adopt:found-existing']);
    expect(r.orphans.map((x) => x.remoteId)).toEqual(['r2']);
  });

  it('the first renewal after a create comes at its spread point, earlier than renewBefore; later ones at renewBefore', () => {
    // Made 560 s ago; 340 s left: the usual renewal (297 s before expiry, plus up to 29 s of jitter) is 14 to 43 s away.
    const o = observed('r1', { expiresAt: secondsFromNow(340) });
    const made = secondsFromNow(-560);
    const names = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const early = names.filter((n) => plan(input({ desired: [desired(n)], observed: [{ ...o, matchKey: `https://hooks.example.com/${n}`, fingerprint: `fp-${n}` }], recorded: [recorded(n, { remoteId: 'r1', expiresAt: o.expiresAt, lastRenewedAt: made, firstRenewalPending: true })] })).actions.some((a) => a.action === 'renew'));
    const usual = names.filter((n) => plan(input({ desired: [desired(n)], observed: [{ ...o, matchKey: `https://hooks.example.com/${n}`, fingerprint: `fp-${n}` }], recorded: [recorded(n, { remoteId: 'r1', expiresAt: o.expiresAt, lastRenewedAt: made, firstRenewalPending: false })] })).actions.some((a) => a.action === 'renew'));
    // 560 s into a first cycle of 574 to 603 s: most are past their spread point; none is at renewBefore yet.
    expect(early.length).toBeGreaterThan(30);
    expect(usual).toEqual([]);
  });

  it('a subscription renewed moments ago whose expiry is still due (skewed clock) waits instead of renewing on every pass', () => {
    const o = observed('r1', { fingerprint: 'fp-a', expiresAt: secondsFromNow(-10) });
    const rec = recorded('a', { remoteId: 'r1', lastRenewedAt: secondsFromNow(-2), lifetimeSeconds: 900, expiresAt: secondsFromNow(-10) });
    const r = plan(input({ desired: [desired('a')], observed: [o], recorded: [rec] }));
    expect(brief(r)).toEqual(['a:none:in-sync']);
    expect(r.nextCheck.get('a')!.getTime()).toBe(secondsFromNow(28).getTime());
  });

  it('an expiry that moved earlier since the last renewal is news: renewed at once', () => {
    const o = observed('r1', { fingerprint: 'fp-a', expiresAt: secondsFromNow(5) });
    const rec = recorded('a', { remoteId: 'r1', lastRenewedAt: secondsFromNow(-2), lifetimeSeconds: 900, expiresAt: secondsFromNow(898) });
    expect(brief(plan(input({ desired: [desired('a')], observed: [o], recorded: [rec] })))).toEqual(['a:renew:renewal-due']);
  });

  it('a second subscription made by a call of ours that was cut short is deleted; without such a call it is only an orphan', () => {
    const bound = observed('r1', { fingerprint: 'fp-a', createdAt: secondsFromNow(-3) });
    const late = observed('r2', { fingerprint: 'fp-a', createdAt: secondsFromNow(-2) });
    const rec = recorded('a', { remoteId: 'r1' });
    const withIntent = plan(input({ desired: [desired('a')], observed: [bound, late], recorded: [rec], openIntents: new Map([['a', { first: secondsFromNow(-4), last: secondsFromNow(-4) }]]) }));
    expect(brief(withIntent)).toEqual(['a:delete:duplicate']);
    expect(withIntent.actions.find((x) => x.action === 'delete')).toMatchObject({ remoteId: 'r2', rowless: true });
    const without = plan(input({ desired: [desired('a')], observed: [bound, late], recorded: [rec] }));
    expect(brief(without)).toEqual(['a:none:in-sync']);
    expect(without.orphans.map((o) => o.remoteId)).toEqual(['r2']);
  });

  it('a create whose answer was lost moments ago is not made again until what it made had time to be listed', () => {
    const open = new Map([['a', { first: secondsFromNow(-3), last: secondsFromNow(-3) }]]);
    const waiting = plan(input({ desired: [desired('a')], recorded: [recorded('a', { remoteId: null })], openIntents: open }));
    expect(brief(waiting)).toEqual(['a:none:outcome-unknown']);
    expect(waiting.nextCheck.get('a')!.getTime()).toBe(secondsFromNow(7).getTime());
    // Ten seconds on and still not listed: it was never made; create it.
    const later = plan(input({ desired: [desired('a')], recorded: [recorded('a', { remoteId: null })], openIntents: open, now: secondsFromNow(8) }));
    expect(brief(later)).toEqual(['a:create:missing']);
  });
});
