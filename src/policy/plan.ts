import {
  Reason,
  type Action,
  type DesiredSubscription,
  type ObservedSubscription,
  type Orphan,
  type RecordedSubscription,
  type RecordedTarget,
  type OpenIntent,
  type ReasonCode,
} from '../domain/types.js';
import { driftedFields } from './drift.js';
import { healthOf } from './health.js';
import { idle, minRenewGapSeconds, nextCheckFor, OUTCOME_SETTLE_SECONDS } from './next.js';
import { dueAt, renewAt } from './timing.js';

export interface ProviderCapabilities {
  /** The provider has a :renew call and subscriptions expire. */
  renew: boolean;
  /** Drift can be corrected in place (PATCH or PUT); otherwise delete and create. */
  update: boolean;
  /** The provider disables, then deletes, every subscription on a callback that stays unhealthy (AXP). */
  disablesUnhealthyCallbacks?: boolean;
  /** A disabled subscription can be enabled again in place (Dixa's `enabled` flag, via renew()). */
  reenable?: boolean;
  /**
   * The adapter paces its own requests to the provider's published rate limit (Dixa): a pass
   * over the account is bound by that pace, not by CPU or Postgres, and takes no slot of
   * `defaults.concurrency` (schedule/scheduler.ts).
   */
  paced?: boolean;
}

export interface PlanInput {
  provider: string;
  desired: DesiredSubscription[];
  /** Everything the provider lists for this account (all pages). */
  observed: ObservedSubscription[];
  /** Every row Postgres holds for this account. */
  recorded: RecordedSubscription[];
  /** The account's callback targets as last probed, by URL. */
  targets?: Map<string, RecordedTarget>;
  now: Date;
  caps: ProviderCapabilities;
  reconcileEverySeconds: number;
  allowMassDelete: boolean;
  deleteOrphans: boolean;
  /**
   * Names whose last create or recreate was journalled as intended but has no recorded
   * outcome (a crash or a lost database mid-call): a matching subscription the provider
   * lists may be the one that call made, and is adopted instead of creating another.
   */
  openIntents?: Map<string, OpenIntent>;
}

export interface PlanResult {
  actions: Action[];
  /** When to look again at each declared subscription that needs nothing now. */
  nextCheck: Map<string, Date>;
  orphans: Orphan[];
}

/**
 * The whole decision for one provider account, a pure function of
 * (desired, observed, recorded, now). Actions for one subscription come in the order
 * they must run (adopt before update before renew); across subscriptions, the most
 * urgent (earliest expiry) come first.
 */
export function plan(input: PlanInput): PlanResult {
  const { now } = input;
  const actions: Action[] = [];
  const nextCheck = new Map<string, Date>();
  const recordedByName = new Map(input.recorded.filter((r) => r.state !== 'deleted').map((r) => [r.name, r]));
  // A listing that repeats an id (pages shifting under a concurrent change) is one subscription.
  const observed = uniqueById(input.observed);
  const observedById = new Map(observed.map((o) => [o.remoteId, o]));
  // Remote subscriptions already bound to a recorded row cannot be adopted by another name.
  const claimed = new Set<string>();
  for (const r of recordedByName.values()) if (r.remoteId && observedById.has(r.remoteId)) claimed.add(r.remoteId);
  const urgency = new Map<Action, number>();
  const acted = new Set<string>();
  const push = (a: Action, expiresAt?: Date) => {
    actions.push(a);
    acted.add(a.name);
    urgency.set(a, expiresAt ? expiresAt.getTime() : Number.MAX_SAFE_INTEGER);
  };
  const index = (key: (o: ObservedSubscription) => string) => {
    const m = new Map<string, ObservedSubscription[]>();
    for (const o of observed) m.set(key(o), [...(m.get(key(o)) ?? []), o]);
    return m;
  };
  const byFingerprint = index((o) => o.fingerprint);
  const byMatchKey = index((o) => o.matchKey);
  // How many declared subscriptions share each callback URL (loose adoption needs it to be one).
  const matchKeyUses = new Map<string, number>();
  for (const d of input.desired) matchKeyUses.set(d.matchKey, (matchKeyUses.get(d.matchKey) ?? 0) + 1);

  /**
   * A subscription that an earlier, interrupted recreation of `d` already made: an unclaimed
   * exact match other than the one being replaced, made after the trouble began (`fresh`), or
   * while a create or recreate of `d` was journalled without an outcome (made after that
   * intent, when the provider says when it made it: an older match is someone else's).
   */
  const madeByIntent = (d: DesiredSubscription, o: ObservedSubscription) => {
    const intent = input.openIntents?.get(d.name);
    return intent !== undefined && (!o.createdAt || o.createdAt.getTime() >= intent.first.getTime() - 1000);
  };
  const replacement = (d: DesiredSubscription, replacing: string | null | undefined, fresh: (o: ObservedSubscription) => boolean) =>
    (byFingerprint.get(d.fingerprint) ?? [])
      .filter((o) => o.remoteId !== replacing && !claimed.has(o.remoteId) && o.status !== 'DISABLED' && (fresh(o) || madeByIntent(d, o)))
      .sort(healthiestFirst)[0];
  /** Adopt the replacement, then delete what it replaces (it has no row of its own any more). */
  const adoptReplacing = (d: DesiredSubscription, made: ObservedSubscription, old: string | undefined, why: string) => {
    claimed.add(made.remoteId);
    const base = { provider: d.provider, name: d.name };
    push({ ...base, action: 'adopt', reason: Reason.FoundExisting, remoteId: made.remoteId, message: `${why}; adopting it instead of creating another` }, made.expiresAt);
    if (old) push({ ...base, action: 'delete', rowless: true, reason: Reason.Duplicate, remoteId: old, message: `deleting ${old}, replaced by ${made.remoteId}` });
  };

  for (const d of input.desired) {
    const r = recordedByName.get(d.name);
    const base = { provider: d.provider, name: d.name };

    // 1. The provider rejected this exact spec before: wait until the config changes.
    if (r?.state === 'rejected' && r.desiredHash === d.hash) {
      nextCheck.set(d.name, idle(now));
      push({ ...base, action: 'none', reason: Reason.Rejected, message: `rejected by the provider: ${r.lastError ?? 'unknown error'}; change the config to retry` });
      continue;
    }
    // 2. The last attempt failed and its backoff has not elapsed.
    if (r && r.failureCount > 0 && r.nextCheckAt > now && r.desiredHash === d.hash) {
      nextCheck.set(d.name, r.nextCheckAt);
      push({ ...base, action: 'none', reason: Reason.BackingOff, message: `attempt ${r.failureCount} failed (${r.lastErrorCode ?? 'error'}); next try at ${r.nextCheckAt.toISOString()}` });
      continue;
    }

    // 3. Callback health, where the provider disables subscriptions on failing callbacks.
    const target = d.callback ? input.targets?.get(d.callback.url) : undefined;
    const health = healthOf(target, now);
    const down = health === 'unhealthy' || health === 'presumed-disabled' || health === 'presumed-deleted';
    if (input.caps.disablesUnhealthyCallbacks && target) {
      const fate = cutoffs(target);
      // Past the disable cutoff: the provider has disabled it (it will not say so). Remember that.
      if ((health === 'presumed-disabled' || health === 'presumed-deleted') && !r?.presumedDisabledAt) {
        push({ ...base, action: 'none', record: 'presumed-disabled', reason: Reason.PresumedDisabled, ...(r?.remoteId ? { remoteId: r.remoteId } : {}), message: `presumed disabled: ${fate}; it will be deleted and created again once the callback answers 200` });
        continue;
      }
      // Presumed disabled and the callback still fails: a new subscription would only be disabled again.
      if (r?.presumedDisabledAt && health !== 'healthy') {
        push({ ...base, action: 'none', reason: Reason.CallbackUnhealthy, ...(r.remoteId ? { remoteId: r.remoteId } : {}), message: `presumed disabled since ${r.presumedDisabledAt.toISOString()}; waiting for the callback to answer 200 (${fate})` });
        continue;
      }
      // The callback answers again: the provider's documented procedure — list (done), delete the disabled one, create.
      if (r?.presumedDisabledAt) {
        const since = r.presumedDisabledAt;
        // An earlier recreation that was cut short may already have made the new one: adopt it.
        const made = replacement(d, r.remoteId, (o) => (o.createdAt ? o.createdAt >= since : false));
        if (made) {
          adoptReplacing(d, made, r.remoteId && observedById.has(r.remoteId) ? r.remoteId : undefined, `presumed disabled since ${since.toISOString()}; an earlier recreation already made ${made.remoteId}`);
          continue;
        }
        push({ ...base, action: 'recreate', deleteFirst: Boolean(r.remoteId), confirmGone: false, reason: Reason.PresumedDisabled, ...(r.remoteId ? { remoteId: r.remoteId } : {}), message: `presumed disabled since ${since.toISOString()} and the callback answers 200 again; deleting it and creating it again` });
        continue;
      }
    }

    // 4. Find the remote subscription: the one we recorded, else an unclaimed match.
    let bound = r?.remoteId ? observedById.get(r.remoteId) : undefined;
    if (!bound) {
      const exact = (byFingerprint.get(d.fingerprint) ?? []).filter((o) => !claimed.has(o.remoteId));
      // A drifted one can be adopted by its callback URL, when nothing else declared uses that URL.
      const loose =
        exact.length > 0 || matchKeyUses.get(d.matchKey) !== 1
          ? []
          : (byMatchKey.get(d.matchKey) ?? []).filter((o) => !claimed.has(o.remoteId));
      const candidates = [...(exact.length > 0 ? exact : loose)].sort(healthiestFirst);
      const [best, ...rest] = candidates;
      if (best) {
        bound = best;
        claimed.add(best.remoteId);
        push({ ...base, action: 'adopt', reason: Reason.FoundExisting, remoteId: best.remoteId, message: `adopting existing subscription ${best.remoteId} (${best.status}) instead of creating a duplicate` }, best.expiresAt);
        for (const dup of rest) {
          claimed.add(dup.remoteId);
          push({ ...base, action: 'delete', rowless: true, reason: Reason.Duplicate, remoteId: dup.remoteId, message: `deleting duplicate ${dup.remoteId}; keeping ${best.remoteId}, the healthiest` });
        }
      }
    }
    if (!bound) {
      // An earlier create's answer was lost moments ago: what it made may not be listed yet.
      const unknown = input.openIntents?.get(d.name);
      const settled = unknown ? unknown.last.getTime() + OUTCOME_SETTLE_SECONDS * 1000 : 0;
      if (now.getTime() < settled) {
        nextCheck.set(d.name, new Date(settled));
        push({ ...base, action: 'none', reason: Reason.OutcomeUnknown, message: `the outcome of the create at ${unknown!.last.toISOString()} is unknown; looking for what it made until ${new Date(settled).toISOString()} before creating another` });
        continue;
      }
      if (input.caps.disablesUnhealthyCallbacks && down) {
        push({ ...base, action: 'none', reason: Reason.CallbackUnhealthy, message: `${r?.remoteId ? `the provider no longer has ${r.remoteId}` : 'not at the provider'}; waiting for the callback to answer 200 before creating it (${target ? cutoffs(target) : 'callback unhealthy'})` });
        continue;
      }
      if (r?.remoteId) {
        push({ ...base, action: 'recreate', deleteFirst: false, confirmGone: true, reason: Reason.LostAtProvider, remoteId: r.remoteId, message: `the provider no longer lists ${r.remoteId}; creating it again unless it still answers by id` });
      } else {
        push({ ...base, action: 'create', reason: Reason.Missing, message: 'declared but not at the provider; creating it' });
      }
      continue;
    }

    // A call of ours cut short (the process died with the request on its way) may have made a
    // second one after all: an unclaimed exact match made after that intent is deleted.
    for (const dup of (byFingerprint.get(d.fingerprint) ?? []).filter((o) => o.remoteId !== bound!.remoteId && !claimed.has(o.remoteId) && madeByIntent(d, o))) {
      claimed.add(dup.remoteId);
      push({ ...base, action: 'delete', rowless: true, reason: Reason.Duplicate, remoteId: dup.remoteId, message: `deleting ${dup.remoteId}, made by a call of ours that was cut short; keeping ${bound.remoteId}` });
    }

    // 5. Bound but disabled while the config wants it enabled: enable it again (Dixa), once the callback is healthy.
    if (bound.status === 'DISABLED' && input.caps.reenable && d.spec.enabled !== false) {
      if (down || health === 'failing') push({ ...base, action: 'none', reason: Reason.CallbackUnhealthy, remoteId: bound.remoteId, message: `disabled at the provider; waiting for the callback to answer 200 before enabling it again (${target ? cutoffs(target) : ''})` });
      else push({ ...base, action: 'reactivate', reason: Reason.DisabledAtProvider, remoteId: bound.remoteId, message: 'disabled at the provider while the config wants it enabled; enabling it again' });
      continue;
    }
    // A provider that volunteers a disabled state (a bonus field): recreate once the callback is healthy.
    if (bound.status === 'DISABLED' && input.caps.disablesUnhealthyCallbacks) {
      if (down) push({ ...base, action: 'none', reason: Reason.CallbackUnhealthy, remoteId: bound.remoteId, message: 'the provider reports it disabled; waiting for the callback to answer 200 before recreating it' });
      else push({ ...base, action: 'recreate', deleteFirst: true, confirmGone: false, reason: Reason.DisabledAtProvider, remoteId: bound.remoteId, message: 'the provider reports it disabled; deleting it and creating it again' });
      continue;
    }

    // 6. Bound: correct drift, then keep it alive.
    const changes = driftedFields(d.spec, bound.spec);
    if (changes.length > 0 && !input.caps.update) {
      const made = replacement(d, bound.remoteId, () => false);
      if (made) adoptReplacing(d, made, bound.remoteId, `${changes.join(', ')} differ; an earlier recreation already made ${made.remoteId}`);
      else push({ ...base, action: 'recreate', deleteFirst: true, confirmGone: false, reason: Reason.DriftNeedsRecreate, remoteId: bound.remoteId, changes, message: `${changes.join(', ')} differ and the provider cannot update in place; deleting and creating again` }, bound.expiresAt);
      continue;
    }
    if (changes.length > 0) {
      push({ ...base, action: 'update', reason: Reason.Drift, remoteId: bound.remoteId, changes, message: `${changes.join(', ')} differ from the config; updating` }, bound.expiresAt);
    }
    const mine = r?.remoteId === bound.remoteId;
    const lifetime = mine ? r.lifetimeSeconds : null;
    const lastRenewedAt = mine ? r.lastRenewedAt : null;
    const first = mine && r.firstRenewalPending;
    const from = mine ? r.spreadFrom : null;
    const keep = keepAlive(d, bound, lifetime, mine ? { at: r.lastRenewedAt, expiresAt: r.expiresAt, first, from } : undefined, input);
    if (keep) push({ ...base, ...keep, remoteId: bound.remoteId }, bound.expiresAt);
    else {
      nextCheck.set(d.name, nextCheckFor(d, bound, lifetime, lastRenewedAt, { now, reconcileEverySeconds: input.reconcileEverySeconds, renews: input.caps.renew }, first, from));
      if (changes.length === 0 && !acted.has(d.name)) {
        const pending = bound.status === 'PENDING';
        push({ ...base, action: 'none', record: 'observation', reason: pending ? Reason.Pending : Reason.InSync, remoteId: bound.remoteId, message: pending ? 'the provider is still setting it up; looking again shortly' : 'in sync' });
      }
    }
  }

  // 7. Rows we own that left the config are deleted, unless that would wipe most of them.
  const declared = new Set(input.desired.map((d) => d.name));
  const removals = [...recordedByName.values()].filter((r) => !declared.has(r.name));
  const owned = [...recordedByName.values()].filter((r) => r.owned && r.remoteId).length;
  const deletions = removals.filter((r) => r.owned && r.remoteId).length;
  const refuse = !input.allowMassDelete && deletions > 0 && deletions * 2 > owned;
  for (const r of removals) {
    const base = { provider: r.provider, name: r.name };
    if (refuse && r.owned && r.remoteId) {
      push({ ...base, action: 'none', reason: Reason.MassDeleteRefused, remoteId: r.remoteId, message: `refusing to delete ${deletions} of the ${owned} subscriptions hookwarden owns in ${input.provider} at once (a truncated config?); pass --allow-mass-delete to confirm` });
    } else {
      push({ ...base, action: 'delete', rowless: false, reason: Reason.RemovedFromConfig, ...(r.remoteId ? { remoteId: r.remoteId } : {}), message: r.owned ? 'no longer in the config; deleting it at the provider' : 'no longer in the config; forgetting it (hookwarden does not own it)' });
    }
  }

  // 8. Whatever matches nothing is an orphan: reported, deleted only when the config says so.
  const recordedIds = new Set(input.recorded.filter((r) => r.remoteId).map((r) => r.remoteId));
  const orphans: Orphan[] = [];
  for (const o of observed) {
    if (claimed.has(o.remoteId) || recordedIds.has(o.remoteId)) continue;
    orphans.push({ provider: input.provider, remoteId: o.remoteId, matchKey: o.matchKey, deleted: input.deleteOrphans });
    if (input.deleteOrphans) push({ provider: input.provider, name: o.remoteId, action: 'delete', rowless: true, reason: Reason.Orphan, remoteId: o.remoteId, message: 'matches nothing declared and deleteOrphans is set; deleting it' });
  }

  // Every subscription left waiting (on its callback, a config change, a confirmation) gets a next check too.
  for (const a of actions) if (a.action === 'none' && !nextCheck.has(a.name)) nextCheck.set(a.name, idle(now));
  const order = [...actions].sort((a, b) => urgency.get(a)! - urgency.get(b)!);
  return { actions: order, nextCheck, orphans };
}

/** The keep-alive chain for a bound subscription; each check is one reason. */
function keepAlive(
  d: DesiredSubscription,
  o: ObservedSubscription,
  lifetimeSeconds: number | null,
  /** The last renewal hookwarden recorded (or the create), the expiry it recorded with it, and whether the first renewal is still to come. */
  last: { at: Date | null; expiresAt: Date | null; first?: boolean; from?: Date | null } | undefined,
  input: PlanInput,
): { action: 'renew' | 'reactivate'; reason: ReasonCode; message: string } | undefined {
  const { now } = input;
  // The provider is still setting it up; nothing to do yet.
  if (o.status === 'PENDING') return undefined;
  // Expired or deactivated: renew reactivates it and delivery resumes at once.
  if (o.status === 'INACTIVE') {
    return input.caps.renew
      ? { action: 'reactivate', reason: Reason.Inactive, message: `status is INACTIVE; renewing reactivates it` }
      : undefined;
  }
  // Providers without expiry need nothing more.
  if (!input.caps.renew || !o.expiresAt) return undefined;
  // Renewed moments ago and the provider still shows the expiry that renewal gave: if that is
  // already due, the provider's clock is skewed; wait a little (a bounded rate, never a tight
  // loop). An expiry that moved earlier since is news, and is acted on at once.
  const unchanged = last?.expiresAt ? o.expiresAt.getTime() >= last.expiresAt.getTime() - 1000 : false;
  if (unchanged && last?.at && now.getTime() < last.at.getTime() + minRenewGapSeconds(lifetimeSeconds) * 1000) return undefined;
  // Past expiry yet still listed ACTIVE: renew at once.
  if (o.expiresAt <= now) return { action: 'renew', reason: Reason.Expired, message: `expired at ${o.expiresAt.toISOString()}; renewing` };
  // We never saw the lifetime the provider grants. Adopted in this pass: the time it has left
  // stands in for it (a lower bound, so the renewal comes early, never late) until the first
  // renewal's answer tells; renewing at once would only be done again by a replica that finds
  // the adoption recorded and the renewal not (a crash in between). Bound before without one:
  // renew now and learn it.
  if (lifetimeSeconds === null) {
    if (last) return { action: 'renew', reason: Reason.LifetimeUnknown, message: 'granted lifetime unknown; renewing to learn it' };
    lifetimeSeconds = Math.max(1, Math.floor((o.expiresAt.getTime() - now.getTime()) / 1000));
  }
  // Within renewBefore of expiry.
  const due = dueAt(o.expiresAt, lifetimeSeconds, d.renewBefore, d.name, last?.first ? { madeAt: last.at, from: last.from ?? null } : undefined);
  if (due <= now) return { action: 'renew', reason: Reason.RenewalDue, message: `expires at ${o.expiresAt.toISOString()}; ${last?.first && due < renewAt(o.expiresAt, lifetimeSeconds, d.renewBefore, d.name) ? `first renewal, spread over the cycle, was due at ${due.toISOString()}` : `renewal was due at ${due.toISOString()}`}` };
  return undefined;
}

/** The countdown, for messages: "callback unhealthy since …; disabled at …; deleted at …". */
function cutoffs(t: RecordedTarget): string {
  if (!t.unhealthySince) return `callback ${t.consecutiveFailures > 0 ? `failing (${t.lastFailureReason ?? 'error'})` : 'healthy'}`;
  return `callback unhealthy since ${t.unhealthySince.toISOString()} (${t.lastFailureReason ?? 'errors'}); provider disables at ${t.disableAt?.toISOString()}, deletes at ${t.deleteAt?.toISOString()}`;
}

function healthiestFirst(a: ObservedSubscription, b: ObservedSubscription): number {
  const rank = (o: ObservedSubscription) => (o.status === 'ACTIVE' ? 0 : o.status === 'PENDING' ? 1 : 2);
  return rank(a) - rank(b) || (b.expiresAt?.getTime() ?? 0) - (a.expiresAt?.getTime() ?? 0) || a.remoteId.localeCompare(b.remoteId);
}


/** The first of each id, in listing order. */
function uniqueById(observed: ObservedSubscription[]): ObservedSubscription[] {
  const seen = new Set<string>();
  return observed.filter((o) => (seen.has(o.remoteId) ? false : (seen.add(o.remoteId), true)));
}
