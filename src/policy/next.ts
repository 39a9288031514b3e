import type { ActionKind, DesiredSubscription, ObservedSubscription, RecordedSubscription, SubscriptionState } from '../domain/types.js';
import { backoffSeconds, dueAt, renewBeforeSeconds, spreadOf } from './timing.js';

/**
 * The one place that decides when to look at a subscription again, after anything happened
 * to it: an action that succeeded or failed, a listing that failed, or nothing at all.
 * Pure: the row, what happened, and `now` in; state, failure count and next check out.
 *
 * The rules that keep a subscription alive live here:
 *  - expiry is the earliest the provider's answer allows: `expiresAt`, or the time the
 *    answer was received plus `expiresIn`, whichever comes first;
 *  - a retry always lands before expiry with room for at least two more tries after it;
 *  - Retry-After is honoured, but never past that bound;
 *  - a past or skewed expiry gives a bounded retry rate, never a tight loop.
 */

/** Shortest wait between two looks at one subscription, whatever the provider answered. */
export const MIN_RETRY_SECONDS = 1;
/** Longest a Retry-After is honoured when no expiry bounds it (AXP Digital, Dixa, or already expired). */
export const MAX_RETRY_AFTER_SECONDS = 3600;
/**
 * A subscription that delivers nothing right now (missing, lost, disabled, expired) is tried
 * again at least this often, whatever the backoff or Retry-After says: every minute of
 * waiting is a minute of lost events.
 */
export const DOWN_RETRY_CAP_SECONDS = 60;
/** Credentials an operator must fix are retried at least this slowly (unless expiry is nearer). */
export const AUTH_RETRY_SECONDS = 60;
/**
 * A create whose outcome is unknown (its answer was lost: a timeout, a dropped connection,
 * a 5xx, a process that died mid-call) may still land at the provider. For this long after
 * it, hookwarden looks for what it made instead of creating another.
 */
export const OUTCOME_SETTLE_SECONDS = 10;
/** A PENDING subscription is being set up by the provider: look again soon. */
export const PENDING_RECHECK_SECONDS = 5;
/**
 * A subscription with nothing to wait for (no expiry, rejected, waiting on its callback):
 * the periodic pass over its account looks at it anyway; its own next check is a daily
 * safety net, so that an idle pass has nothing to write.
 */
export const IDLE_RECHECK_SECONDS = 86400;

/** What came of an action, as the policy needs to know it. */
export type Outcome =
  | { ok: true; observed: ObservedSubscription; lifetimeSeconds: number | null }
  | { ok: false; error: FailureInfo };

export interface FailureInfo {
  code: string;
  /** retryable: back off; terminal: the provider rejected the spec; auth: credentials are wrong. */
  retry: 'retryable' | 'terminal' | 'auth';
  retryAfterSeconds?: number;
}

export interface Timing {
  now: Date;
  reconcileEverySeconds: number;
  /** Uniform in [0, 1): backoff jitter, injected so this stays pure. */
  rand01: number;
  /** The provider kind renews (subscriptions expire). */
  renews: boolean;
}

/**
 * The expiry the provider's answer allows at the earliest. The Infinity spec's own example
 * answers `expiresIn: 900` next to an `expiresAt` a week later: trusting `expiresAt` alone
 * would let the subscription lapse after 15 minutes. `receivedAt` is when the call that
 * returned it started, so a slow answer errs early, never late.
 */
export function effectiveExpiry(o: Pick<ObservedSubscription, 'expiresAt' | 'expiresIn'>, receivedAt: Date): Date | undefined {
  const fromIn = o.expiresIn !== undefined && Number.isFinite(o.expiresIn) ? new Date(receivedAt.getTime() + Math.max(0, o.expiresIn) * 1000) : undefined;
  const at = o.expiresAt && Number.isFinite(o.expiresAt.getTime()) ? o.expiresAt : undefined;
  if (at && fromIn) return at <= fromIn ? at : fromIn;
  return at ?? fromIn;
}

/** The observation with its expiry replaced by the effective one. */
export function normalise(o: ObservedSubscription, receivedAt: Date): ObservedSubscription {
  const expiresAt = effectiveExpiry(o, receivedAt);
  const { expiresAt: _drop, ...rest } = o;
  return expiresAt ? { ...rest, expiresAt } : rest;
}

/**
 * After a renewal, the soonest the next one may come: a tenth of the lifetime, between 1 s
 * and 30 s. A provider whose `expiresAt` is skewed into the past would otherwise be renewed
 * on every wake-up.
 */
export function minRenewGapSeconds(lifetimeSeconds: number | null): number {
  if (lifetimeSeconds === null || !Number.isFinite(lifetimeSeconds)) return 30;
  return Math.min(30, Math.max(MIN_RETRY_SECONDS, Math.floor(lifetimeSeconds / 10)));
}

/** When to look again at a bound subscription that needs nothing now: its renewal time, or the daily safety net (the periodic pass comes anyway). */
export function nextCheckFor(
  d: Pick<DesiredSubscription, 'renewBefore' | 'name'>,
  o: Pick<ObservedSubscription, 'status' | 'expiresAt'>,
  lifetimeSeconds: number | null,
  lastRenewedAt: Date | null,
  t: Pick<Timing, 'now' | 'reconcileEverySeconds' | 'renews'>,
  /** Made by hookwarden and not renewed since, or renewed late: the next renewal is spread (timing.ts firstRenewalAt). */
  firstRenewal = false,
  /** After a late renewal: the spread renewal comes no earlier than this (RecordedSubscription.spreadFrom). */
  spreadFrom: Date | null = null,
): Date {
  if (o.status === 'PENDING') return after(t.now, PENDING_RECHECK_SECONDS);
  if (!t.renews || !o.expiresAt || lifetimeSeconds === null) return idle(t.now);
  const due = dueAt(o.expiresAt, lifetimeSeconds, d.renewBefore, d.name, firstRenewal ? { madeAt: lastRenewedAt, from: spreadFrom } : undefined).getTime();
  const floor = lastRenewedAt ? lastRenewedAt.getTime() + minRenewGapSeconds(lifetimeSeconds) * 1000 : t.now.getTime();
  return new Date(Math.max(t.now.getTime(), floor, due));
}

/** The next check of a subscription waiting on nothing of its own (see IDLE_RECHECK_SECONDS). */
export function idle(now: Date): Date {
  return after(now, IDLE_RECHECK_SECONDS);
}

/**
 * Whether a pass that did nothing to a row must move its next check, and where to: sooner
 * when the plan wants to look sooner, forward when the row was due (else it would stay due
 * and make its account due on every wake-up). A row whose next check is its renewal time
 * (`renewalTime`: bound, in sync, expiring, the time computed from its recorded expiry) is
 * also moved later when that time is later by more than a second (a reload that renews
 * later, `renewBefore` 33% to 10%): left as it was, it would come due for nothing, and make
 * its account pass (and list) once for each such row. Otherwise the row is left alone: an
 * idle pass writes nothing.
 */
export function touchedCheck(recorded: Date, wanted: Date, now: Date, renewalTime = false): Date | undefined {
  if (wanted.getTime() < recorded.getTime() - 1000) return wanted;
  if (recorded <= now && wanted > now) return wanted;
  if (renewalTime && wanted.getTime() > recorded.getTime() + 1000) return wanted;
  return undefined;
}

/**
 * The delay before the next try after a failure: exponential backoff with full jitter, or
 * the provider's Retry-After when longer; then bounded so that it lands before expiry with
 * room for two more tries (a third of the time left), and never below MIN_RETRY_SECONDS.
 */
export function retryDelaySeconds(p: {
  failures: number;
  rand01: number;
  retryAfterSeconds?: number | undefined;
  expiresAt: Date | null | undefined;
  now: Date;
  floorSeconds?: number;
  /** The subscription delivers nothing now: never wait longer than DOWN_RETRY_CAP_SECONDS. */
  down?: boolean;
}): number {
  const backoff = backoffSeconds(p.failures, p.rand01, undefined);
  const ra = p.retryAfterSeconds !== undefined && Number.isFinite(p.retryAfterSeconds) && p.retryAfterSeconds > 0 ? p.retryAfterSeconds : 0;
  let delay = Math.max(backoff, p.floorSeconds ?? 0, Math.min(ra, MAX_RETRY_AFTER_SECONDS));
  if (p.down) delay = Math.min(delay, DOWN_RETRY_CAP_SECONDS);
  const left = p.expiresAt ? (p.expiresAt.getTime() - p.now.getTime()) / 1000 : undefined;
  if (left !== undefined && left > 0) delay = Math.min(delay, left / 3);
  return Math.max(MIN_RETRY_SECONDS, delay);
}

export interface NextState {
  state: SubscriptionState;
  failureCount: number;
  nextCheckAt: Date;
  /** After a call that renewed the subscription: whether its next renewal is spread over the cycle (see respreads). */
  firstRenewalPending?: boolean;
  /** With it: no earlier than this (null after a create). */
  spreadFrom?: Date | null;
}

/** A renewal later than this after its due time was held up (see respreads). */
export function heldUpAfterSeconds(renewBefore: number): number {
  return Math.max(5, Math.min(Math.floor(renewBefore / 10), 60));
}

/**
 * Whether a renewal made now came late: more than heldUpAfterSeconds after the time it was
 * due by the row as recorded before it (an outage, a stall, a backlog, a reload that renews
 * sooner). Renewals held up together are made together, and each renews a lifetime after
 * its last renewal: left alone, they would come due together in every cycle from then on
 * (at a first start that outlasted the first renewals, the bench saw a 20 s hole and a
 * burst at twice the mean rate, every cycle). Such a renewal's next one is spread over the
 * cycle like a new subscription's first (timing.ts firstRenewalAt), at the cost of that one
 * renewal coming early: but no earlier than half a lifetime after the late one (spreadFrom),
 * so that no subscription is renewed twice within half a lifetime.
 */
export function respreads(
  row: Pick<RecordedSubscription, 'expiresAt' | 'lastRenewedAt' | 'lifetimeSeconds' | 'firstRenewalPending' | 'spreadFrom'>,
  d: Pick<DesiredSubscription, 'renewBefore' | 'name'>,
  now: Date,
): boolean {
  if (!row.expiresAt || row.lifetimeSeconds === null) return false;
  const due = dueAt(row.expiresAt, row.lifetimeSeconds, d.renewBefore, d.name, spreadOf(row));
  const before = renewBeforeSeconds(d.renewBefore, row.lifetimeSeconds);
  return now.getTime() - due.getTime() > heldUpAfterSeconds(before) * 1000;
}

/** After an action on a declared subscription: success binds it, failure backs off. */
export function afterAction(
  row: Pick<RecordedSubscription, 'state' | 'failureCount' | 'expiresAt' | 'lastRenewedAt'> & Partial<Pick<RecordedSubscription, 'lifetimeSeconds' | 'firstRenewalPending' | 'spreadFrom'>>,
  action: ActionKind,
  outcome: Outcome,
  d: Pick<DesiredSubscription, 'renewBefore' | 'name'>,
  t: Timing,
): NextState {
  if (outcome.ok) {
    const o = outcome.observed;
    const made = action === 'create' || action === 'recreate';
    const renewed = made || action === 'renew' || action === 'reactivate';
    const late = renewed && !made && outcome.lifetimeSeconds !== null && respreads({ lifetimeSeconds: null, firstRenewalPending: false, spreadFrom: null, ...row }, d, t.now);
    const spread = made || late;
    // Half a lifetime (and a second) after this renewal, at the earliest.
    const spreadFrom = late ? new Date(t.now.getTime() + (Math.ceil(outcome.lifetimeSeconds! / 2) + 1) * 1000) : null;
    return {
      state: stateOf(o),
      failureCount: 0,
      nextCheckAt: nextCheckFor(d, o, outcome.lifetimeSeconds, renewed ? t.now : row.lastRenewedAt, t, spread, spreadFrom),
      ...(renewed ? { firstRenewalPending: spread, spreadFrom } : {}),
    };
  }
  const e = outcome.error;
  const failures = row.failureCount + 1;
  // The provider rejected what the config asks for: nothing changes until the config does.
  if (e.retry === 'terminal' && e.code !== 'PROVIDER_NOT_FOUND' && (action === 'create' || action === 'recreate' || action === 'update')) {
    return { state: 'rejected', failureCount: failures, nextCheckAt: idle(t.now) };
  }
  const down = action === 'create' || action === 'recreate' || action === 'reactivate' || (row.expiresAt !== null && row.expiresAt <= t.now);
  const delay = retryDelaySeconds({
    failures,
    rand01: t.rand01,
    retryAfterSeconds: e.retryAfterSeconds,
    expiresAt: row.expiresAt,
    now: t.now,
    down,
    ...(e.retry === 'auth' ? { floorSeconds: AUTH_RETRY_SECONDS } : {}),
  });
  return { state: 'failing', failureCount: failures, nextCheckAt: after(t.now, delay) };
}

/**
 * The account could not be listed, so no subscription of it could be looked at. Rows that
 * were due are looked at again after the account's backoff (Retry-After honoured), each
 * bounded by its own expiry; rows not yet due keep their time, so a failed list never
 * postpones a renewal. Their own failure count is left alone: they did not fail.
 * Returns undefined when the row's next check stays as it is.
 */
export function afterListFailure(
  row: Pick<RecordedSubscription, 'nextCheckAt' | 'expiresAt'>,
  listFailures: number,
  error: FailureInfo,
  t: Pick<Timing, 'now' | 'rand01'>,
): Date | undefined {
  if (row.nextCheckAt > t.now) return undefined;
  const delay = retryDelaySeconds({
    failures: listFailures,
    rand01: t.rand01,
    retryAfterSeconds: error.retryAfterSeconds,
    expiresAt: row.expiresAt,
    now: t.now,
    ...(error.retry === 'auth' ? { floorSeconds: AUTH_RETRY_SECONDS } : {}),
  });
  return after(t.now, delay);
}

export function stateOf(o: Pick<ObservedSubscription, 'status'>): SubscriptionState {
  return o.status === 'ACTIVE' ? 'active' : o.status === 'INACTIVE' ? 'inactive' : o.status === 'DISABLED' ? 'disabled' : 'pending';
}

function after(now: Date, seconds: number): Date {
  return new Date(now.getTime() + seconds * 1000);
}

/** The longest a pass waits to try a failed renewal again itself (see retryWithinPass). */
export const IN_PASS_RETRY_MAX_WAIT_SECONDS = 5;
/** Tries of one renewal within one pass, the first included. */
export const IN_PASS_TRIES = 3;

/**
 * A renewal that failed is tried again within the same pass, rather than at the account's
 * next pass: the next pass starts only once this one's slowest call has ended (another
 * subscription's timeouts and retries), and then lists the account first, which may be slow
 * or fail too; a subscription that failed early in its window could expire waiting for it.
 * It is when the error is worth retrying and its next try, as the failure policy set it
 * (backoff, Retry-After, bounded by expiry), is due within IN_PASS_RETRY_MAX_WAIT_SECONDS.
 * Returns how long to wait (ms).
 */
export function retryWithinPass(
  row: Pick<RecordedSubscription, 'expiresAt' | 'nextCheckAt' | 'lifetimeSeconds'>,
  retry: 'retryable' | 'terminal' | 'auth',
  now: Date,
): number | undefined {
  if (retry !== 'retryable' || !row.expiresAt || row.lifetimeSeconds === null) return undefined;
  const wait = row.nextCheckAt.getTime() - now.getTime();
  if (wait > IN_PASS_RETRY_MAX_WAIT_SECONDS * 1000) return undefined;
  return Math.max(0, wait);
}

/** The least time a listing is given when renewals are waiting on it. */
export const MIN_LISTING_BUDGET_MS = 1000;

/**
 * How long the listing of an account may take when renewals are due in it: a third of the
 * time the most urgent one has left (at least MIN_LISTING_BUDGET_MS). A listing that takes
 * longer (a provider whose list pages hang or are retried) is given up, and the due renewals
 * are made by their recorded ids with the two thirds left; without a bound, a slow listing
 * could outlast the expiry it was meant to renew before. Expiries already past do not count
 * (only a listing can tell what became of them). Undefined: nothing is urgent.
 */
export function listingBudgetMs(expiries: Date[], now: Date): number | undefined {
  let soonest = Infinity;
  // An expiry already past is no reason to hurry: only a listing shows what became of it.
  for (const e of expiries) if (e.getTime() > now.getTime() && e.getTime() < soonest) soonest = e.getTime();
  if (soonest === Infinity) return undefined;
  return Math.max(MIN_LISTING_BUDGET_MS, Math.round((soonest - now.getTime()) / 3));
}
