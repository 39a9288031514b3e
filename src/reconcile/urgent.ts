import PQueue from 'p-queue';
import { Reason, type Action, type DesiredSubscription, type RecordedSubscription } from '../domain/types.js';
import { deadline } from '../lib/deadline.js';
import { minRenewGapSeconds, normalise } from '../policy/next.js';
import type { PlanResult } from '../policy/plan.js';
import { dueAt, renewAt, spreadOf } from '../policy/timing.js';
import type { Provider } from '../providers/types.js';
import { ACTIONS_AT_ONCE, Executor } from './executor.js';
import type { ActionReport, ReconcilerDeps } from './reconciler.js';

// Renewals made without a fresh listing of the account: after a listing failed (or was given
// up for taking too long), and between listings when this replica listed the account moments
// ago (see Reconciler #renewalsOnly).

/**
 * The bound subscriptions of an account due for renewal by what Postgres recorded, soonest
 * expiry first: renewed by the id recorded for them rather than left to expire waiting for a
 * listing. (A renewal of a subscription the provider lost answers 404; the next listing
 * recreates it.) `desired` is the account's own declared subscriptions.
 */
export function renewalsWithoutListing(
  provider: Provider,
  desired: DesiredSubscription[],
  recorded: RecordedSubscription[],
  now: Date,
  /** Why there is no fresh listing, for each action's message. */
  why = 'the listing failed',
): PlanResult {
  const actions: Action[] = [];
  if (!provider.capabilities.renew) return { actions, nextCheck: new Map(), orphans: [] };
  const wanted = new Map(desired.map((d) => [d.name, d]));
  const due: RecordedSubscription[] = [];
  for (const r of recorded) {
    const d = wanted.get(r.name);
    if (!d || !r.remoteId || !r.expiresAt || r.lifetimeSeconds === null || r.state === 'deleted' || r.state === 'rejected' || r.state === 'disabled') continue;
    if (r.failureCount > 0 && r.nextCheckAt > now) continue;
    if (dueAt(r.expiresAt, r.lifetimeSeconds, d.renewBefore, d.name, spreadOf(r)) > now) continue;
    // Renewed moments ago (an expiry skewed into the past): not again before the least gap.
    if (r.lastRenewedAt && now.getTime() < r.lastRenewedAt.getTime() + minRenewGapSeconds(r.lifetimeSeconds) * 1000) continue;
    due.push(r);
  }
  due.sort((a, b) => a.expiresAt!.getTime() - b.expiresAt!.getTime());
  for (const r of due) {
    actions.push({ provider: r.provider, name: r.name, action: 'renew', reason: Reason.RenewalDue, remoteId: r.remoteId!, message: `expires at ${r.expiresAt!.toISOString()} and ${why}; renewing by the recorded id` });
  }
  return { actions, nextCheck: new Map(), orphans: [] };
}

/**
 * Neither the listing nor a GET by id answered: the recorded expiry may be stale (a replica
 * that died right after renewing never recorded it), so renewing now could renew twice. It is
 * renewed blind only in the second half of its renewal window; before that, the account's
 * backoff (capped to land before expiry) brings another look first.
 */
export function blindRenewalNeeded(expiresAt: Date, lifetimeSeconds: number, d: DesiredSubscription | undefined, now: Date): boolean {
  if (!d) return true;
  const window = expiresAt.getTime() - renewAt(expiresAt, lifetimeSeconds, d.renewBefore, d.name).getTime();
  return expiresAt.getTime() - now.getTime() <= window / 2;
}

export interface UrgentRenewal {
  deps: ReconcilerDeps;
  provider: Provider;
  desired: DesiredSubscription[];
  recorded: RecordedSubscription[];
  reconcileEverySeconds: number;
  actionsAtOnce?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Renewals planned from what Postgres recorded may be stale: a replica that died after
 * renewing never recorded it. Each is asked for by id first and dropped if the provider
 * already shows it renewed; if asking fails, it is renewed all the same when it cannot wait
 * (see blindRenewalNeeded). Each subscription goes on its own: its read may take at most a
 * third of the time its recorded expiry leaves, and a read that hangs holds up no other
 * subscription's renewal.
 */
export async function renewUrgent(u: UrgentRenewal, urgent: PlanResult): Promise<ActionReport[]> {
  if (!urgent.actions.length) return [];
  const { deps, provider, desired, recorded, signal } = u;
  const now = deps.clock.now();
  const rows = new Map(recorded.map((r) => [r.name, r]));
  const wanted = new Map(desired.map((d) => [d.name, d]));
  const queue = new PQueue({ concurrency: u.actionsAtOnce ?? ACTIONS_AT_ONCE });
  const one = async (a: Action): Promise<ActionReport[]> => {
    const row = rows.get(a.name);
    const recordedAt = row?.expiresAt;
    const budget = Math.round(Math.min(2 ** 31 - 1, Math.max(500, recordedAt ? (recordedAt.getTime() - now.getTime()) / 3 : 500)));
    const read = deadline(budget, signal);
    const seen = a.remoteId ? await provider.get(a.remoteId, read.signal).catch(() => null).finally(() => read.dispose()) : null;
    if (signal?.aborted) return [];
    if (seen === undefined) return []; // gone: the next listing (never cut short twice in a row) recreates it
    if (seen === null && row && recordedAt && row.lifetimeSeconds !== null && !blindRenewalNeeded(recordedAt, row.lifetimeSeconds, wanted.get(a.name), deps.clock.now())) return [];
    const expiresAt = seen ? normalise(seen, now).expiresAt : undefined;
    if (expiresAt && recordedAt && expiresAt.getTime() > recordedAt.getTime() + 1000) return [];
    const only: PlanResult = { actions: [a], nextCheck: new Map(), orphans: [] };
    return new Executor(deps, provider, desired, [], recorded, only, u.reconcileEverySeconds, signal, 1).run();
  };
  let stopped: unknown;
  const reports = await Promise.all(
    urgent.actions.map((a) =>
      queue.add(async () => {
        if (stopped !== undefined) return [];
        try {
          return await one(a);
        } catch (err) {
          // A lost lease (or a pass cut short) stops the others before their next write: the
          // jobs still queued see it and return at once (a cleared p-queue job never settles).
          stopped ??= err;
          return [];
        }
      }),
    ),
  );
  if (stopped !== undefined) throw stopped;
  return reports.flat();
}
