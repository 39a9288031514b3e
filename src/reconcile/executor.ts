import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import PQueue from 'p-queue';
import { Reason, type Action, type DesiredSubscription, type ObservedSubscription, type RecordedSubscription, type RecordedTarget } from '../domain/types.js';
import { ProviderError, errorMessage } from '../lib/errors.js';
import { afterAction, idle, IN_PASS_TRIES, nextCheckFor, normalise, retryWithinPass, stateOf, touchedCheck, type FailureInfo } from '../policy/next.js';
import { actionGaps, declaredEvents, type ActionGaps } from '../policy/gaps.js';
import type { PlanResult } from '../policy/plan.js';
import { FencedError } from '../store/lease.js';
import type { Provider } from '../providers/types.js';
import type { SubscriptionPatch } from '../store/types.js';
import type { ActionReport, ReconcilerDeps } from './reconciler.js';

/**
 * Subscriptions of one account acted on at once. Providers with a published rate limit
 * (Dixa) pace their own requests underneath; for the others this bounds the burst.
 */
export const ACTIONS_AT_ONCE = 8;

/** Runs one pass's actions: journal the intent, call the provider, record the outcome. */
export class Executor {
  readonly #rows = new Map<string, RecordedSubscription>();
  readonly #desired: Map<string, DesiredSubscription>;
  readonly #observed: Map<string, ObservedSubscription>;
  readonly #failedNames = new Set<string>();
  /** The retry class of each subscription's last failed call in this pass. */
  readonly #lastRetry = new Map<string, 'retryable' | 'terminal' | 'auth'>();
  /** Subscriptions whose steps have not all run yet: queued, under way, or waiting to retry. */
  readonly #pending = new Set<string>();

  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly provider: Provider,
    desired: DesiredSubscription[],
    observed: ObservedSubscription[],
    recorded: RecordedSubscription[],
    private readonly result: PlanResult,
    private readonly reconcileEverySeconds: number,
    private readonly signal?: AbortSignal,
    private readonly actionsAtOnce = ACTIONS_AT_ONCE,
    /** The account's callback targets, by URL (their projected cutoffs date the gaps). */
    private readonly targets?: Map<string, RecordedTarget>,
    /**
     * How far an expiry read from the listing may differ from the recorded one and still be
     * the same: a second, plus how long the listing took (an expiry computed from a later
     * page's `expiresIn` drifts by that page's delay). Within it, an idle pass writes nothing.
     */
    private readonly expiryToleranceMs = 1000,
  ) {
    for (const r of recorded) this.#rows.set(r.name, r);
    this.#desired = new Map(desired.map((d) => [d.name, d]));
    this.#observed = new Map(observed.map((o) => [o.remoteId, o]));
  }

  /**
   * Each subscription's actions run in order; different subscriptions run side by side, at
   * most `defaults.actionConcurrency` at a time, so that one slow call (a timeout) does not hold up the
   * renewals behind it. A lost lease stops every one of them before its next write.
   */
  async run(): Promise<ActionReport[]> {
    const slots: (ActionReport | undefined)[] = new Array(this.result.actions.length);
    const bySubscription = new Map<string, number[]>();
    this.result.actions.forEach((a, i) => bySubscription.set(a.name, [...(bySubscription.get(a.name) ?? []), i]));
    let stopped: unknown;
    const queue = new PQueue({ concurrency: this.actionsAtOnce });
    for (const name of bySubscription.keys()) this.#pending.add(name);
    const one = async (indexes: number[]) => {
      try {
        await steps(indexes);
      } finally {
        this.#pending.delete(this.result.actions[indexes[0]!]!.name);
      }
    };
    const steps = async (indexes: number[]) => {
      for (const i of indexes) {
        if (this.signal?.aborted || stopped !== undefined) return;
        const a = this.result.actions[i]!;
        try {
          slots[i] = await this.#one(a);
          // A failed renewal is tried again here when its next try is near, not at the next pass.
          for (let tries = 1; tries < IN_PASS_TRIES && slots[i]!.outcome === 'failed'; tries++) {
            const wait = this.#retryWait(a);
            if (wait === undefined || stopped !== undefined) break;
            await sleep(wait, undefined, this.signal ? { signal: this.signal } : {}).catch(() => undefined);
            if (this.signal?.aborted || stopped !== undefined) return;
            this.#failedNames.delete(a.name);
            slots[i] = await this.#one(a);
          }
        } catch (err) {
          // The jobs still queued see it and return at once (a cleared p-queue job never settles).
          stopped ??= err;
          return;
        }
      }
    };
    await Promise.all([...bySubscription.values()].map((indexes) => queue.add(() => one(indexes))));
    if (stopped !== undefined) throw stopped;
    return slots.filter((r): r is ActionReport => r !== undefined);
  }

  /** Whether this subscription's steps in this run have not all run yet (see Reconciler.join). */
  pending(name: string): boolean {
    return this.#pending.has(name);
  }

  /**
   * The account's rows as this run last knew them (as recorded when it began, or as it wrote
   * them) that are due by now and are not this run's to act on: a renewal that came due
   * while the run was under way. Cheap, in memory: Reconciler.join reads Postgres only then.
   */
  dueOutside(now: Date): RecordedSubscription[] {
    const due: RecordedSubscription[] = [];
    for (const r of this.#rows.values()) if (r.nextCheckAt <= now && r.state !== 'deleted' && !this.#pending.has(r.name)) due.push(r);
    return due;
  }

  /** Rows another run wrote since (a join's renewals): this run's view of them is brought up to date. */
  saw(rows: Iterable<RecordedSubscription>): void {
    for (const r of rows) {
      const mine = this.#rows.get(r.name);
      if (!this.#pending.has(r.name) && (!mine || mine.version < r.version)) this.#rows.set(r.name, r);
    }
  }

  /** The rows as this run last knew them. */
  get rows(): Iterable<RecordedSubscription> {
    return this.#rows.values();
  }

  /** How long to wait before trying a failed renewal again within this pass (policy/next.ts retryWithinPass), if at all. */
  #retryWait(a: Action): number | undefined {
    if (a.action !== 'renew' && a.action !== 'reactivate') return undefined;
    const row = this.#rows.get(a.name);
    const retry = this.#lastRetry.get(a.name);
    if (!row || !retry) return undefined;
    return retryWithinPass(row, retry, this.deps.clock.now());
  }

  /**
   * One action, with what it says about the subscription's coverage: the gap its situation
   * opens is recorded before the call (whatever the outcome), and closed when it succeeds.
   * A recreate of a subscription missing from the listing first confirms it is gone, so its
   * gap is recorded only once the call made or tried a new one.
   */
  async #one(a: Action): Promise<ActionReport> {
    const gaps = this.deps.gaps ? this.#gapsOf(a) : undefined;
    const deferred = a.action === 'recreate' && a.confirmGone;
    if (gaps && !deferred) await this.#openGaps(a, gaps.open);
    const report = await this.#act(a);
    if (!gaps) return report;
    if (deferred && (report.newRemoteId || report.outcome === 'failed')) await this.#openGaps(a, gaps.open);
    if (report.outcome === 'succeeded' && gaps.closeOnSuccess.length && (!deferred || report.newRemoteId)) {
      await this.deps.gaps!.close(this.provider.account, a.name, { causes: gaps.closeOnSuccess, to: this.deps.clock.now(), remoteId: report.newRemoteId ?? a.remoteId ?? null });
    }
    return report;
  }

  #gapsOf(a: Action): ActionGaps {
    const row = this.#rows.get(a.name);
    const remoteId = a.remoteId ?? row?.remoteId ?? undefined;
    const observed = remoteId ? this.#observed.get(remoteId) : undefined;
    const url = this.#desired.get(a.name)?.callback?.url;
    const target = url ? this.targets?.get(url) : undefined;
    return actionGaps({
      action: a.action,
      reason: a.reason,
      ...(a.action === 'none' && a.record ? { record: a.record } : {}),
      ...(row ? { row } : {}),
      ...(observed ? { observed: { status: observed.status, ...(observed.expiresAt ? { expiresAt: normalise(observed, this.deps.clock.now()).expiresAt } : {}) } } : {}),
      ...(target ? { target } : {}),
      now: this.deps.clock.now(),
    });
  }

  async #openGaps(a: Action, open: ActionGaps['open']): Promise<void> {
    const d = this.#desired.get(a.name);
    const row = this.#rows.get(a.name);
    for (const g of open) {
      await this.deps.gaps!.open({
        provider: this.provider.account,
        name: a.name,
        subject: 'subscription',
        cause: g.cause,
        confidence: g.confidence,
        from: g.from,
        remoteId: a.remoteId ?? row?.remoteId ?? null,
        events: d ? declaredEvents(d.spec) : [],
      });
    }
  }

  async #act(a: Action): Promise<ActionReport> {
    if (a.action === 'none' && a.record === 'presumed-disabled') {
      await this.#markPresumedDisabled(a);
      return { ...a, outcome: 'succeeded' };
    }
    if (a.action === 'none') {
      await this.#touch(a);
      this.deps.logger.debug({ provider: this.provider.account, subscription: a.name, reason: a.reason }, `nothing to do for ${a.name}: ${a.message}`);
      return { ...a, outcome: 'skipped' };
    }
    // After a failed step, the rest of that subscription's steps wait for the next pass.
    if (this.#failedNames.has(a.name)) return { ...a, outcome: 'skipped', error: 'an earlier step for this subscription failed' };
    return this.#execute(a);
  }

  async #execute(a: Action): Promise<ActionReport> {
    const { store, clock, logger, metrics } = this.deps;
    const account = this.provider.account;
    const d = this.#desired.get(a.name);
    let row = d ? await this.#ensureRow(d) : this.#rows.get(a.name);
    if (d && !row) return { ...a, outcome: 'skipped', error: 'another process is handling this subscription' };
    const actionId = randomUUID();
    // How the action was carried out, when that can differ (a re-enable that fell back to recreating).
    let note: string | undefined;
    const journal = (phase: 'intent' | 'succeeded' | 'failed', extra: { remoteId?: string | null; error?: string; errorCode?: string } = {}) =>
      store.appendHistory({
        at: clock.now(),
        actionId,
        provider: account,
        name: a.name,
        action: a.action,
        reason: a.reason,
        message: note ? `${a.message}: ${note}` : a.message,
        phase,
        remoteId: extra.remoteId ?? a.remoteId ?? null,
        previousRemoteId: a.action === 'recreate' || (extra.remoteId && extra.remoteId !== a.remoteId) ? (a.remoteId ?? null) : null,
        errorCode: extra.errorCode ?? null,
        error: extra.error ?? null,
      });
    await journal('intent');
    // What was done, when it differs from what was planned.
    const how = { recreated: a.action === 'recreate' };
    let patch: SubscriptionPatch | undefined;
    try {
      patch = await this.#call(a, d, row, (n) => (note = n), how);
    } catch (err) {
      // The lease is gone (or cannot be checked), or the pass was cut short: stop the pass, write nothing more.
      if (err instanceof FencedError || (this.signal?.aborted && !(err instanceof ProviderError))) {
        if (err instanceof FencedError) await journal('failed', { error: err.message, errorCode: err.code }).catch(() => {});
        throw err;
      }
      const code = err instanceof ProviderError ? err.code : 'ERROR';
      const message = errorMessage(err);
      this.#failedNames.add(a.name);
      this.#lastRetry.delete(a.name);
      metrics.recordAction(account, a, 'failed', how.recreated);
      metrics.providerErrors.inc({ provider: account, code });
      await journal('failed', { error: message, errorCode: code });
      if (row) {
        const written = await store.updateSubscription(row.id, row.version, this.#failurePatch(a, row, err));
        // Retried within the pass only at the time the failure policy recorded (another
        // writer having moved the row, its recorded time says nothing about this failure).
        if (written) {
          this.#rows.set(a.name, written);
          this.#lastRetry.set(a.name, err instanceof ProviderError ? err.retry : 'retryable');
        }
      }
      logger.error({ provider: account, subscription: a.name, action: a.action, reason: a.reason, code, err: message }, `${a.action} ${a.name} failed`);
      return { ...a, outcome: 'failed', error: message, errorCode: code };
    }
    // The provider call succeeded; from here on a failure is the database's, and ends the pass.
    if (row && patch) {
      const written = await store.updateSubscription(row.id, row.version, patch);
      if (!written) {
        // Another writer moved the row. The intent stays open: the next pass finds what this
        // call made (a listing, the journal) and adopts it instead of making another.
        logger.warn({ provider: account, subscription: a.name, remoteId: patch.remoteId }, 'row changed under us (another replica); leaving it to the next pass');
        return { ...a, outcome: 'skipped', error: 'fenced by another writer' };
      }
      this.#rows.set(a.name, (row = written));
    }
    const newRemoteId = row?.remoteId && (a.action === 'create' || a.action === 'recreate' || row.remoteId !== a.remoteId) ? row.remoteId : undefined;
    await journal('succeeded', { remoteId: newRemoteId ?? a.remoteId ?? null });
    metrics.recordAction(account, a, 'succeeded', how.recreated);
    logger.info(
      { provider: account, subscription: a.name, action: a.action, reason: a.reason, remoteId: newRemoteId ?? a.remoteId, ...(a.action === 'recreate' ? { previousRemoteId: a.remoteId } : {}), expiresAt: row?.expiresAt?.toISOString() },
      `${a.action} ${a.name}: ${a.message}${note ? `: ${note}` : ''}`,
    );
    return { ...a, ...(note ? { message: `${a.message}: ${note}` } : {}), outcome: 'succeeded', ...(newRemoteId ? { newRemoteId } : {}) };
  }

  /** The provider calls for one action; returns what to record on the subscription's row. */
  async #call(a: Action, d: DesiredSubscription | undefined, row: RecordedSubscription | undefined, note: (n: string) => void, how: { recreated: boolean }): Promise<SubscriptionPatch | undefined> {
    const p = this.provider;
    const s = this.signal;
    // Expiry is measured from when the call started: a slow answer errs early, never late.
    const at = () => this.deps.clock.now();
    switch (a.action) {
      case 'create': {
        const started = at();
        return this.#bound(a, d!, row, await p.create(d!, s), started, { owned: true, fresh: true });
      }
      case 'recreate': {
        if (a.confirmGone && a.remoteId) {
          // A listing can miss a subscription (pages shifting under a change): ask for it by id before creating another.
          const started = at();
          const still = await p.get(a.remoteId, s);
          if (still) {
            how.recreated = false;
            note(`the provider still has ${a.remoteId}; bound to it again`);
            return this.#bound(a, d!, row, still, started, { owned: true, fresh: false, lifetime: row?.lifetimeSeconds ?? null });
          }
        }
        if (a.deleteFirst && a.remoteId) await p.delete(a.remoteId, s);
        const started = at();
        return { ...this.#bound(a, d!, row, await p.create(d!, s), started, { owned: true, fresh: true }), previousRemoteId: a.remoteId ?? null, presumedDisabledAt: null };
      }
      case 'adopt': {
        const o = this.#observed.get(a.remoteId)!;
        // The lifetime it was granted is unknown: the time it has left stands in for it (see plan's keepAlive).
        const now = at();
        return { ...this.#bound(a, d!, row, o, now, { owned: true, fresh: false, lifetime: lifetimeFrom(normalise(o, now), now) ?? null }), presumedDisabledAt: null };
      }
      case 'update': {
        const started = at();
        return this.#bound(a, d!, row, await p.update(a.remoteId, d!, s), started, { fresh: false, lifetime: row?.lifetimeSeconds ?? null });
      }
      case 'reactivate':
        if (p.capabilities.reenable) {
          // Enable it again in place; if the provider refuses, delete it and create it again.
          try {
            const started = at();
            const o = await p.renew(a.remoteId, d!, s);
            note('enabled again with PATCH');
            return this.#bound(a, d!, row, o, started, { fresh: false, lifetime: null });
          } catch (err) {
            // Only a refusal falls back to recreating: a timeout or a 503 is retried as it is (a new subscription gets a new signing key).
            if (!(err instanceof ProviderError) || err.retry !== 'terminal') throw err;
            await p.delete(a.remoteId, s);
            const started = at();
            const created = await p.create(d!, s);
            note(`enabling failed (${errorMessage(err)}); deleted and created again`);
            how.recreated = true;
            return { ...this.#bound(a, d!, row, created, started, { owned: true, fresh: true }), previousRemoteId: a.remoteId };
          }
        }
      // falls through: renew reactivates an INACTIVE subscription
      case 'renew': {
        const started = at();
        return this.#bound(a, d!, row, await p.renew(a.remoteId, d!, s), started, { fresh: true });
      }
      case 'delete': {
        // Duplicates, orphans and replaced subscriptions have no row of their own.
        if (a.rowless) {
          if (a.remoteId) await p.delete(a.remoteId, s);
          return undefined;
        }
        // A row hookwarden does not own is only forgotten.
        if (row?.owned && a.remoteId) await p.delete(a.remoteId, s);
        return { state: 'deleted', remoteId: null, previousRemoteId: a.remoteId ?? row?.remoteId ?? null, status: null, expiresAt: null, failureCount: 0, lastError: null, lastErrorCode: null, nextCheckAt: new Date(at().getTime() + 365 * 86400_000) };
      }
      case 'none':
        return undefined;
    }
  }

  /** The row after a call that left the subscription bound to `o` (received at `receivedAt`). */
  #bound(
    a: Action,
    d: DesiredSubscription,
    row: RecordedSubscription | undefined,
    answer: ObservedSubscription,
    receivedAt: Date,
    how: { owned?: boolean; fresh: boolean; lifetime?: number | null },
  ): SubscriptionPatch {
    const now = this.deps.clock.now();
    const o = normalise(answer, receivedAt);
    // Right after a create or renew, expiresIn is the lifetime the provider granted.
    // An answer whose expiry is already past tells no lifetime: keep the one known before.
    const granted = answer.expiresIn !== undefined && answer.expiresIn >= 1 ? answer.expiresIn : undefined;
    const lifetime = how.fresh ? (granted ?? lifetimeFrom(o, receivedAt) ?? row?.lifetimeSeconds ?? null) : (how.lifetime ?? null);
    this.#observed.set(o.remoteId, o);
    const next = afterAction(
      {
        state: row?.state ?? 'pending',
        failureCount: row?.failureCount ?? 0,
        expiresAt: row?.expiresAt ?? null,
        lastRenewedAt: row?.lastRenewedAt ?? null,
        lifetimeSeconds: row?.lifetimeSeconds ?? null,
        firstRenewalPending: row?.firstRenewalPending ?? false,
        spreadFrom: row?.spreadFrom ?? null,
      },
      how.fresh ? a.action : 'adopt',
      { ok: true, observed: o, lifetimeSeconds: lifetime },
      d,
      this.#timing(now),
    );
    return {
      remoteId: o.remoteId,
      status: o.status,
      ...(how.owned ? { owned: true } : {}),
      desiredHash: d.hash,
      expiresAt: o.expiresAt ?? null,
      lifetimeSeconds: lifetime,
      // The next renewal is spread over the cycle after a create, and after a renewal that came late (next.ts respreads, which `next` carries).
      ...(how.fresh ? { lastRenewedAt: now, firstRenewalPending: a.action === 'create' || a.action === 'recreate', spreadFrom: null } : {}),
      lastObservedAt: now,
      lastError: null,
      lastErrorCode: null,
      ...next,
    };
  }

  #timing(now: Date) {
    return { now, reconcileEverySeconds: this.reconcileEverySeconds, rand01: (this.deps.rand ?? Math.random)(), renews: this.provider.capabilities.renew };
  }

  #failurePatch(a: Action, row: RecordedSubscription, err: unknown): SubscriptionPatch {
    const now = this.deps.clock.now();
    const d = this.#desired.get(a.name);
    const next = afterAction(row, a.action, { ok: false, error: failureInfo(err) }, d ?? { name: a.name, renewBefore: { percent: 33 } }, this.#timing(now));
    return {
      ...next,
      lastError: errorMessage(err),
      lastErrorCode: err instanceof ProviderError ? err.code : 'ERROR',
      ...(d ? { desiredHash: d.hash } : {}),
    };
  }

  /**
   * Nothing to call: keep the row's next check right (policy/next.ts decides whether it must
   * move) and, for a bound subscription, its observation; written only on change.
   */
  async #touch(a: Action): Promise<void> {
    const row = this.#rows.get(a.name);
    const d = this.#desired.get(a.name);
    let next = this.result.nextCheck.get(a.name);
    if (!row || a.action !== 'none') return;
    const now = this.deps.clock.now();
    const patch: SubscriptionPatch = {};
    if (a.record === 'observation' && d) {
      const o = a.remoteId ? this.#observed.get(a.remoteId) : undefined;
      if (o && o.status !== row.status) {
        patch.status = o.status;
        patch.state = stateOf(o);
      }
      // Expiry measured from a listing moves by the listing's latency: a second either way is no change.
      if (o && !within(o.expiresAt ?? null, row.expiresAt, this.expiryToleranceMs)) patch.expiresAt = o.expiresAt ?? null;
      if (row.desiredHash !== d.hash) patch.desiredHash = d.hash;
      if (row.state === 'rejected' || row.state === 'failing') {
        patch.state = o ? stateOf(o) : row.state;
        patch.failureCount = 0;
      }
    }
    // An in-sync row of an expiring kind: its next check is its renewal time, computed from
    // the expiry as recorded (the one read from this listing drifts with the listing's own
    // latency, and would move the row back and forth from pass to pass). It moves either way
    // (a reload that changes renewBefore): left earlier, the row would come due for nothing.
    const expiresAt = patch.expiresAt !== undefined ? patch.expiresAt : row.expiresAt;
    const renewalTime = a.reason === Reason.InSync && this.provider.capabilities.renew && row.failureCount === 0 && expiresAt !== null && row.lifetimeSeconds !== null && d !== undefined;
    if (renewalTime) next = nextCheckFor(d, { status: 'ACTIVE', expiresAt }, row.lifetimeSeconds, row.lastRenewedAt, { now, reconcileEverySeconds: this.reconcileEverySeconds, renews: true }, row.firstRenewalPending, row.spreadFrom);
    const moved = next ? touchedCheck(row.nextCheckAt, next, now, renewalTime) : undefined;
    if (moved) patch.nextCheckAt = moved;
    if (Object.keys(patch).length === 0) return;
    if (a.record === 'observation') patch.lastObservedAt = now;
    const written = await this.deps.store.updateSubscription(row.id, row.version, patch);
    if (written) this.#rows.set(a.name, written);
  }

  /** The callback stayed unhealthy past the cutoff: record that the provider has disabled it. */
  async #markPresumedDisabled(a: Action): Promise<void> {
    const d = this.#desired.get(a.name);
    const row = d ? await this.#ensureRow(d) : undefined;
    if (!row) return;
    const now = this.deps.clock.now();
    const written = await this.deps.store.updateSubscription(row.id, row.version, { presumedDisabledAt: now, state: 'disabled', lastObservedAt: now, nextCheckAt: idle(now) });
    if (!written) return;
    this.#rows.set(a.name, written);
    await this.deps.store.appendHistory({ at: now, actionId: randomUUID(), provider: a.provider, name: a.name, action: 'none', reason: a.reason, message: a.message, phase: 'succeeded', remoteId: a.remoteId ?? null });
    this.deps.logger.warn({ provider: a.provider, subscription: a.name, reason: a.reason, remoteId: a.remoteId }, `${a.name}: ${a.message}`);
  }

  /** The row for a declared subscription, inserted (pending) the first time it is acted on. */
  async #ensureRow(d: DesiredSubscription): Promise<RecordedSubscription | undefined> {
    const existing = this.#rows.get(d.name);
    if (existing) return existing;
    const row = await this.deps.store.insertSubscription({
      id: randomUUID(),
      provider: d.provider,
      name: d.name,
      kind: d.kind,
      state: 'pending',
      desiredHash: d.hash,
      nextCheckAt: this.deps.clock.now(),
    });
    if (row) this.#rows.set(d.name, row);
    return row ?? undefined;
  }
}

function within(a: Date | null, b: Date | null, toleranceMs: number): boolean {
  return a === null || b === null ? a === b : Math.abs(a.getTime() - b.getTime()) < toleranceMs;
}

function lifetimeFrom(o: ObservedSubscription, receivedAt: Date): number | undefined {
  const left = o.expiresAt ? Math.round((o.expiresAt.getTime() - receivedAt.getTime()) / 1000) : 0;
  return left >= 1 ? left : undefined;
}

/** What the policy needs to know of a failure. */
export function failureInfo(err: unknown): FailureInfo {
  if (err instanceof ProviderError) return { code: err.code, retry: err.retry, ...(err.details.retryAfterSeconds !== undefined ? { retryAfterSeconds: err.details.retryAfterSeconds } : {}) };
  return { code: 'ERROR', retry: 'retryable' };
}
