import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaStore } from '../../src/store/prisma.js';
import { scrubStore } from '../../src/store/scrubbed.js';
import { Scrubber } from '../../src/lib/scrub.js';
import type { NewGap } from '../../src/store/types.js';
import { freshDatabase, query } from '../fixtures/db.js';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: PrismaStore;
beforeAll(async () => {
  db = await freshDatabase();
  store = new PrismaStore(db.url);
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

const T0 = new Date('2026-06-01T00:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** A gap of subscription `name` of account `provider`; each test uses names of its own. */
function gap(provider: string, name: string, over: Partial<NewGap> = {}): NewGap {
  return { provider, name, subject: 'subscription', cause: 'expired', confidence: 'certain', from: at(0), events: ['agent.state'], remoteId: 'r-1', now: at(1), ...over };
}

describe('coverage gaps in Postgres', () => {
  it('the table has a partial unique index on open gaps and indexes for listing and due hooks', async () => {
    const idx = await query<{ indexname: string; indexdef: string }>(db.url, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'coverage_gap'`);
    const byName = new Map(idx.map((i) => [i.indexname, i.indexdef]));
    expect(byName.get('coverage_gap_open_key')).toMatch(/UNIQUE INDEX .*\(provider, name, cause\) WHERE \("to" IS NULL\)/);
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['coverage_gap_from_idx', 'coverage_gap_closedAt_idx', 'coverage_gap_hookState_hookNextAttemptAt_idx']));
    const cols = await query<{ column_name: string; data_type: string }>(db.url, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'coverage_gap' AND column_name = 'events'`);
    expect(cols[0]?.data_type).toBe('ARRAY');
  });

  it('opening is idempotent: the open gap is returned, moved earlier only by an earlier start', async () => {
    const first = await store.openGap(gap('open', 'a', { from: at(100) }));
    expect(first).toMatchObject({ provider: 'open', name: 'a', cause: 'expired', confidence: 'certain', from: at(100), to: null, events: ['agent.state'], hookState: 'none', hookAttempts: 0, remoteId: 'r-1' });
    expect(first.openedAt).toEqual(at(1));
    // A later start changes nothing.
    const again = await store.openGap(gap('open', 'a', { from: at(200) }));
    expect(again.id).toBe(first.id);
    expect(again.from).toEqual(at(100));
    expect(again.updatedAt).toEqual(first.updatedAt);
    // An earlier one moves the start.
    const earlier = await store.openGap(gap('open', 'a', { from: at(50) }));
    expect(earlier.id).toBe(first.id);
    expect(earlier.from).toEqual(at(50));
    // Another cause of the same subscription is a row of its own.
    const other = await store.openGap(gap('open', 'a', { cause: 'callback-failing', confidence: 'possible' }));
    expect(other.id).not.toBe(first.id);
    expect((await store.listGaps({ provider: 'open' })).length).toBe(2);
  });

  it('a reopened cause fills in what the open gap lacked and raises its confidence, never lowers it', async () => {
    const first = await store.openGap(gap('fill', 'a', { remoteId: null, cause: 'presumed-disabled', confidence: 'possible' }));
    expect(first.remoteId).toBeNull();
    const filled = await store.openGap(gap('fill', 'a', { remoteId: 'r-9', cause: 'presumed-disabled', confidence: 'presumed' }));
    expect(filled).toMatchObject({ id: first.id, remoteId: 'r-9', confidence: 'presumed' });
    const weaker = await store.openGap(gap('fill', 'a', { remoteId: 'r-10', cause: 'presumed-disabled', confidence: 'possible' }));
    expect(weaker).toMatchObject({ id: first.id, remoteId: 'r-9', confidence: 'presumed' });
  });

  it('concurrent opens of one gap (two replicas) keep one row', async () => {
    const other = new PrismaStore(db.url);
    try {
      const rows = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).openGap(gap('race', 'a', { from: at(10 - i) }))));
      expect(new Set(rows.map((r) => r.id)).size).toBe(1);
      const open = (await store.openGaps()).filter((g) => g.provider === 'race');
      expect(open.length).toBe(1);
      // The earliest start won, whatever the order they landed in.
      expect(open[0]!.from).toEqual(at(3));
    } finally {
      await other.close();
    }
  });

  it('closing by cause closes only those; closing without causes closes the rest; a closed cause opens anew', async () => {
    await store.openGap(gap('close', 'a', { cause: 'expired', from: at(0) }));
    await store.openGap(gap('close', 'a', { cause: 'callback-failing', confidence: 'possible', from: at(10) }));
    await store.openGap(gap('close', 'b', { cause: 'expired', from: at(0) }));
    const closed = await store.closeGaps('close', 'a', { causes: ['expired'], to: at(60), hook: false, now: at(61) });
    expect(closed.map((g) => [g.cause, g.to, g.closedAt, g.hookState])).toEqual([['expired', at(60), at(61), 'none']]);
    // Closing again finds nothing open: a closed gap is handed out once.
    expect(await store.closeGaps('close', 'a', { causes: ['expired'], to: at(70), hook: false })).toEqual([]);
    const rest = await store.closeGaps('close', 'a', { to: at(90), hook: true, now: at(91) });
    expect(rest.map((g) => [g.cause, g.to, g.hookState, g.hookNextAttemptAt])).toEqual([['callback-failing', at(90), 'pending', at(91)]]);
    // The other subscription is untouched.
    expect((await store.openGaps()).filter((g) => g.provider === 'close').map((g) => g.name)).toEqual(['b']);
    // The cause comes back later: a new gap, not the closed one.
    const again = await store.openGap(gap('close', 'a', { cause: 'expired', from: at(500) }));
    expect(again.id).not.toBe(closed[0]!.id);
    expect(again.to).toBeNull();
  });

  it('the end never precedes the start, and a recreation keeps the old remote id as the previous one', async () => {
    await store.openGap(gap('clamp', 'a', { cause: 'recreating', from: at(100), remoteId: 'old' }));
    const [g] = await store.closeGaps('clamp', 'a', { to: at(40), remoteId: 'new', hook: false });
    expect(g).toMatchObject({ from: at(100), to: at(100), remoteId: 'new', previousRemoteId: 'old' });
    await store.openGap(gap('clamp', 'b', { cause: 'lost', remoteId: null }));
    const [h] = await store.closeGaps('clamp', 'b', { to: at(40), remoteId: 'first', hook: false });
    expect(h).toMatchObject({ remoteId: 'first', previousRemoteId: null });
  });

  it('lists newest first, filtered by account, open or closed, and since', async () => {
    await store.openGap(gap('list', 'a', { cause: 'expired', from: at(0) }));
    await store.openGap(gap('list', 'b', { cause: 'lost', from: at(300) }));
    await store.openGap(gap('list', 'c', { cause: 'inactive', from: at(100) }));
    await store.closeGaps('list', 'a', { to: at(50), hook: false });
    await store.closeGaps('list', 'c', { to: at(200), hook: false });
    const names = (rows: { name: string }[]) => rows.map((r) => r.name);
    expect(names(await store.listGaps({ provider: 'list' }))).toEqual(['b', 'c', 'a']);
    expect(names(await store.listGaps({ provider: 'list', open: true }))).toEqual(['b']);
    expect(names(await store.listGaps({ provider: 'list', open: false }))).toEqual(['c', 'a']);
    // Since: still open, or ended at or after it.
    expect(names(await store.listGaps({ provider: 'list', since: at(100) }))).toEqual(['b', 'c']);
    expect(names(await store.listGaps({ provider: 'list', since: at(250) }))).toEqual(['b']);
    expect(names(await store.listGaps({ provider: 'list', limit: 2 }))).toEqual(['b', 'c']);
  });

  it('hook queue: pending when closed with a hook, claimed when due, retried, delivered, replayed', async () => {
    await store.openGap(gap('hook', 'a', { from: at(0) }));
    await store.openGap(gap('hook', 'b', { from: at(0) }));
    const [a] = await store.closeGaps('hook', 'a', { to: at(100), hook: true, now: at(100) });
    await store.closeGaps('hook', 'b', { to: at(100), hook: false, now: at(100) });
    const mine = <R extends { provider: string }>(rows: R[]) => rows.filter((r) => r.provider === 'hook');
    // Not due before it was queued; only the gap with a hook is queued at all.
    expect(mine(await store.dueHooks(at(99), 10))).toEqual([]);
    const claimed = mine(await store.dueHooks(at(100), 10, 60));
    expect(claimed.map((g) => g.id)).toEqual([a!.id]);
    // Claimed: another replica asking now does not get it, and it is due again when the claim runs out.
    expect(mine(await store.dueHooks(at(100), 10))).toEqual([]);
    expect(mine(await store.dueHooks(at(160), 10, 60)).map((g) => g.id)).toEqual([a!.id]);
    // A failure with a next attempt stays pending.
    const failed = await store.recordHookAttempt(a!.id, { at: at(161), ok: false, status: 500, error: 'HTTP 500', nextAttemptAt: at(170) });
    expect(failed).toMatchObject({ hookState: 'pending', hookAttempts: 1, hookLastStatus: 500, hookLastError: 'HTTP 500', hookLastAttemptAt: at(161), hookNextAttemptAt: at(170) });
    expect(mine(await store.dueHooks(at(169), 10))).toEqual([]);
    expect(mine(await store.dueHooks(at(170), 10)).length).toBe(1);
    const delivered = await store.recordHookAttempt(a!.id, { at: at(171), ok: true, status: 204 });
    expect(delivered).toMatchObject({ hookState: 'delivered', hookAttempts: 2, hookLastStatus: 204, hookLastError: null, hookDeliveredAt: at(171), hookNextAttemptAt: null });
    // A late failure (a duplicate send) does not undo the delivery.
    expect(await store.recordHookAttempt(a!.id, { at: at(172), ok: false, error: 'late', nextAttemptAt: at(200) })).toBeUndefined();
    expect(mine(await store.dueHooks(at(10_000), 10))).toEqual([]);
    // Replay: pending and due at once, attempts counted afresh.
    const replayed = await store.requeueHook(a!.id, at(300));
    expect(replayed).toMatchObject({ hookState: 'pending', hookNextAttemptAt: at(300), hookAttempts: 0 });
    expect(mine(await store.dueHooks(at(300), 10)).map((g) => g.id)).toEqual([a!.id]);
    // Given up (no next attempt): failed.
    expect(await store.recordHookAttempt(a!.id, { at: at(301), ok: false, error: 'no hook' })).toMatchObject({ hookState: 'failed', hookNextAttemptAt: null });
    // Only closed gaps can be replayed.
    const open = await store.openGap(gap('hook', 'c'));
    expect(await store.requeueHook(open.id, at(400))).toBeUndefined();
    expect(await store.requeueHook('00000000-0000-4000-8000-00000000ffff', at(400))).toBeUndefined();
  });

  it('replicas claiming due hooks at once take different ones', async () => {
    for (let i = 0; i < 6; i++) {
      await store.openGap(gap('claim', `s${i}`));
      await store.closeGaps('claim', `s${i}`, { to: at(10), hook: true, now: at(10) });
    }
    const other = new PrismaStore(db.url);
    try {
      const [x, y] = await Promise.all([store.dueHooks(at(20), 3), other.dueHooks(at(20), 3)]);
      const ids = [...x, ...y].filter((g) => g.provider === 'claim').map((g) => g.id);
      expect(ids.length).toBe(6);
      expect(new Set(ids).size).toBe(6);
    } finally {
      await other.close();
    }
  });

  it('retention deletes gaps closed before the cutoff, keeps open ones and hooks still pending', async () => {
    await store.openGap(gap('prune', 'old'));
    await store.openGap(gap('prune', 'pending'));
    await store.openGap(gap('prune', 'open'));
    await store.openGap(gap('prune', 'recent'));
    await store.closeGaps('prune', 'old', { to: at(10), hook: false, now: at(10) });
    await store.closeGaps('prune', 'pending', { to: at(10), hook: true, now: at(10) });
    await store.closeGaps('prune', 'recent', { to: at(10), hook: false, now: at(5000) });
    await store.pruneGaps(at(1000));
    expect((await store.listGaps({ provider: 'prune' })).map((g) => g.name).sort()).toEqual(['open', 'pending', 'recent']);
    // History retention prunes gaps too.
    await store.openGap(gap('prune2', 'old'));
    await store.closeGaps('prune2', 'old', { to: at(10), hook: false, now: at(10) });
    expect(await store.pruneHistory(at(1000))).toBeGreaterThanOrEqual(1);
    expect(await store.listGaps({ provider: 'prune2' })).toEqual([]);
  });

  it('through the scrubbing store, a secret in a hook error never reaches Postgres', async () => {
    const s = new Scrubber();
    s.add('s3cr3t-hook-token');
    const scrubbed = scrubStore(store, s);
    const g = await scrubbed.openGap(gap('scrub', 'a', { events: ['s3cr3t-hook-token'] }));
    // Event names are identities: written as given.
    expect(g.events).toEqual(['s3cr3t-hook-token']);
    await scrubbed.closeGaps('scrub', 'a', { to: at(10), hook: true, now: at(10) });
    const row = await scrubbed.recordHookAttempt(g.id, { at: at(11), ok: false, status: 401, error: 'HTTP 401: bad token s3cr3t-hook-token', nextAttemptAt: at(20) });
    expect(row!.hookLastError).toBe('HTTP 401: bad token [redacted]');
  });
});
