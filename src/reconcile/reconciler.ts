import { deadline } from '../lib/deadline.js';
import { performance } from 'node:perf_hooks';
import { Reason, type Action, type DesiredSubscription, type ObservedSubscription, type Orphan, type RecordedSubscription, type RecordedTarget } from '../domain/types.js';
import type { Clock } from '../lib/clock.js';
import { ProviderError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { SUBSCRIPTION_CAUSES } from '../policy/gaps.js';
import { healthOf } from '../policy/health.js';
import { plan, type PlanResult } from '../policy/plan.js';
import type { Provider } from '../providers/types.js';
import type { Store } from '../store/types.js';
import type { Prober } from '../watchdog/prober.js';
import { FencedError, AccountLease } from '../store/lease.js';
import { afterListFailure, listingBudgetMs, normalise } from '../policy/next.js';
import { Executor, failureInfo } from './executor.js';
import type { GapRecorder } from './gaps.js';
import { fenced } from './fence.js';
import { renewalsWithoutListing, renewUrgent, type UrgentRenewal } from './urgent.js';

export interface ReconcileSettings {
  desired: DesiredSubscription[];
  reconcileEverySeconds: number;
  /** Per account: delete listed subscriptions that match nothing declared. */
  deleteOrphans: Record<string, boolean>;
  /** Subscriptions of one account acted on at once (default ACTIONS_AT_ONCE). */
  actionConcurrency?: number;
}

export interface ReconcilerDeps {
  store: Store;
  providers: Map<string, Provider>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Randomness for backoff jitter; injected so tests can pin it. */
  rand?: () => number;
  /** Callback health (targets as last probed) and the sink for passive signals. */
  prober?: Prober;
  /** This process, as lease holder: "host:pid:random", unique to the process. */
  holder: string;
  /** How long a lease lasts unless renewed (the heartbeat and each provider write renew it). */
  leaseTtlSeconds: number;
  /** The coverage-gap ledger. */
  gaps?: GapRecorder;
}

export type Outcome = 'planned' | 'succeeded' | 'failed' | 'skipped';

export type ActionReport = Action & {
  outcome: Outcome;
  newRemoteId?: string;
  error?: string;
  errorCode?: string;
};

export interface PassReport {
  provider: string;
  actions: ActionReport[];
  orphans: Orphan[];
  /** Set when the pass could not run at all (listing failed, lease held elsewhere). */
  error?: string;
  skipped?: boolean;
  /** The pass stopped because its lease was lost or could not be confirmed. */
  fenced?: boolean;
  /** The pass only renewed, by recorded ids, without listing the account (see #renewalsOnly). */
  renewalsOnly?: boolean;
  /** Renewals that came due while the account's pass was under way, made beside it (see Reconciler.join). */
  joined?: boolean;
  /** Asked to only renew (PassOptions.onlyRenewals), the pass found it must list the account: nothing was done. */
  needsListing?: boolean;
}

export interface PassOptions {
  dryRun?: boolean;
  allowMassDelete?: boolean;
  signal?: AbortSignal;
  /** List the account whatever is due (a reloaded config, a callback whose health changed). */
  full?: boolean;
  /**
   * Renew by recorded ids without listing (see #renewalsOnly), or do nothing: when the pass
   * would have to list the account, it returns at once with `needsListing`.
   */
  onlyRenewals?: boolean;
}

/**
 * gather -> plan -> execute -> record, for one provider account at a time.
 * Level-triggered: every pass starts from what it sees, so repeating one is harmless.
 */
export class Reconciler {
  constructor(
    private readonly deps: ReconcilerDeps,
    private settings: ReconcileSettings,
  ) {
    this.#byAccount = byAccount(settings.desired);
  }

  /** The declared subscriptions of each account, grouped once per config (a pass reads only its own). */
  #byAccount: Map<string, DesiredSubscription[]>;

  /** A reloaded config: passes that start from now on work from these settings. */
  configure(settings: ReconcileSettings): void {
    this.settings = settings;
    this.#byAccount = byAccount(settings.desired);
  }

  #desiredOf(account: string): DesiredSubscription[] {
    return this.#byAccount.get(account) ?? [];
  }

  /** An account removed from the config: its lease is let go at once. */
  async forget(account: string): Promise<void> {
    const lease = this.#held.get(account);
    this.#held.delete(account);
    if (lease) await lease.release().catch(() => undefined);
  }

  get accounts(): string[] {
    return [...this.deps.providers.keys()];
  }

  /** Whether the account's adapter paces its own requests (a pass over it takes no concurrency slot). */
  paced(account: string): boolean {
    return this.deps.providers.get(account)?.capabilities.paced === true;
  }

  /** When this replica last listed each account, under which lease (see #renewalsOnly). */
  readonly #listed = new Map<string, { at: number; lease: AccountLease }>();

  /**
   * A pass that only renews: when every due row of the account is a renewal that is due, and
   * this replica listed the account less than `reconcileEvery` ago and has held its lease
   * since, the recorded expiries are as current as that listing (no other replica could have
   * renewed in between), so the renewals are made by the recorded ids without listing the
   * account again. With renewals spread over the cycle an account has many renewal moments;
   * a listing each time would cost its pages every time. Anything else due (a create, an
   * expired or failing subscription, a forced pass) makes a full pass, and so does the
   * periodic one.
   */
  #renewalsOnly(provider: Provider, recorded: RecordedSubscription[], lease: AccountLease): PlanResult | undefined {
    const listed = this.#listed.get(provider.account);
    const now = this.deps.clock.now();
    if (!listed || listed.lease !== lease || this.#held.get(provider.account) !== lease) return undefined;
    if (now.getTime() - listed.at >= this.settings.reconcileEverySeconds * 1000) return undefined;
    const due = recorded.filter((r) => r.state !== 'deleted' && r.nextCheckAt <= now);
    // An expired one may be INACTIVE or gone: the provider has to be looked at.
    if (!due.length || due.some((r) => !r.expiresAt || r.expiresAt <= now || r.state !== 'active')) return undefined;
    const renewals = renewalsWithoutListing(provider, this.#desiredOf(provider.account), recorded, now, `it was listed ${Math.round((now.getTime() - listed.at) / 1000)} s ago`);
    const names = new Set(renewals.actions.map((a) => a.name));
    return due.every((r) => names.has(r.name)) ? renewals : undefined;
  }

  /** Executor runs under way, by account: a pass's, and a join's beside it. */
  readonly #executing = new Map<string, Set<Executor>>();

  async #execute(account: string, executor: Executor): Promise<ActionReport[]> {
    let running = this.#executing.get(account);
    if (!running) this.#executing.set(account, (running = new Set()));
    running.add(executor);
    try {
      return await executor.run();
    } finally {
      running.delete(executor);
      if (!running.size && this.#executing.get(account) === running) this.#executing.delete(account);
    }
  }

  /**
   * Renewals that came due while the account's pass is still acting (a call that hangs until
   * its timeout, a failed renewal waiting to be tried again within the pass), made beside it
   * rather than after it: a renewal does not wait for another subscription's slow call.
   *
   * Only what no run under way holds (the pass, or another join beside it): renewals due by
   * the recorded expiry of active, unexpired subscriptions whose recorded spec is the declared
   * one, that are not among a running action list or whose actions there are all done.
   * Anything else (expired, failing, a changed spec) waits for a pass that lists. Only under
   * #renewalsOnly's conditions: this replica listed the account less than `reconcileEvery`
   * ago and has held its lease since, so the recorded expiries are current. The scheduler
   * starts no new pass over the account while a join is under way, so the two never act on
   * the same subscription. Undefined: nothing to join (no run acting, nothing due beside it).
   */
  async join(account: string, signal?: AbortSignal): Promise<PassReport | undefined> {
    const running = [...(this.#executing.get(account) ?? [])];
    const provider = this.deps.providers.get(account);
    const lease = this.#held.get(account);
    const listed = this.#listed.get(account);
    const now = this.deps.clock.now();
    if (!provider?.capabilities.renew || !running.length || !lease || listed?.lease !== lease) return undefined;
    if (now.getTime() - listed.at >= this.settings.reconcileEverySeconds * 1000) return undefined;
    const desired = this.#desiredOf(account);
    const wanted = new Map(desired.map((d) => [d.name, d]));
    const fit = (r: RecordedSubscription, at: Date) => r.state === 'active' && !!r.expiresAt && r.expiresAt > at && r.desiredHash === wanted.get(r.name)?.hash;
    // Taken before Postgres is read: a subscription whose actions end while it is read may be
    // read as it was before them (its renewal not yet committed), so it stays out.
    const busy = new Set(running.flatMap((e) => desired.filter((d) => e.pending(d.name)).map((d) => d.name)));
    // In memory first: Postgres is read only when a running pass's own view shows one due.
    const seen = running.flatMap((e) => e.dueOutside(now)).filter((r) => fit(r, now) && !busy.has(r.name));
    if (!renewalsWithoutListing(provider, desired, seen, now).actions.length) return undefined;
    const recorded = newest(await this.deps.store.listSubscriptions(account), running);
    const at = this.deps.clock.now();
    const due = renewalsWithoutListing(provider, desired, recorded.filter((r) => fit(r, at)), at, `it was listed ${Math.round((at.getTime() - listed.at) / 1000)} s ago and its pass is still under way`);
    const actions = due.actions.filter((a) => !busy.has(a.name) && !running.some((e) => e.pending(a.name)));
    if (!actions.length || this.#held.get(account) !== lease) {
      // What the running passes saw as due was stale: bring their view up to date.
      for (const e of running) e.saw(recorded);
      return undefined;
    }
    const executor = new Executor(this.deps, fenced(provider, lease), desired, [], recorded, { ...due, actions }, this.settings.reconcileEverySeconds, signal, this.settings.actionConcurrency);
    try {
      const reports = await this.#execute(account, executor);
      return { provider: account, actions: reports, orphans: [], renewalsOnly: true, joined: true };
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      if (this.#held.get(account) === lease) this.#held.delete(account);
      this.deps.logger.warn({ provider: account, err: err.message }, 'renewals beside a pass stopped before their next provider write: lease lost');
      return { provider: account, actions: [], orphans: [], error: err.message, fenced: true, joined: true };
    } finally {
      for (const e of running) e.saw(executor.rows);
    }
  }

  /**
   * Whether a pass over the account now would renew by recorded ids without listing it, as
   * far as this replica's own memory tells (#renewalsOnly also needs every due row to be such
   * a renewal): it listed the account less than `reconcileEvery` ago and has held its lease
   * since. The scheduler runs such a pass without a concurrency slot.
   */
  mayOnlyRenew(account: string): boolean {
    if (!this.deps.providers.get(account)?.capabilities.renew) return false;
    const listed = this.#listed.get(account);
    const lease = this.#held.get(account);
    return !!listed && !!lease && listed.lease === lease && this.deps.clock.now().getTime() - listed.at < this.settings.reconcileEverySeconds * 1000;
  }

  #urgent(provider: Provider, recorded: RecordedSubscription[], signal: AbortSignal | undefined): UrgentRenewal {
    return { deps: this.deps, provider, desired: this.#desiredOf(provider.account), recorded, reconcileEverySeconds: this.settings.reconcileEverySeconds, actionsAtOnce: this.settings.actionConcurrency, signal };
  }

  /** Accounts whose last listing was given up for its budget: the next one runs without one. */
  readonly #listingGivenUp = new Set<string>();

  /** The recorded expiries of the account's renewals due now (what a listing is bounded by). */
  #dueExpiries(provider: Provider, recorded: RecordedSubscription[], now: Date): Date[] {
    const due = new Set(renewalsWithoutListing(provider, this.#desiredOf(provider.account), recorded, now).actions.map((a) => a.name));
    return recorded.filter((r) => due.has(r.name) && r.expiresAt).map((r) => r.expiresAt!);
  }

  /** Consecutive failed listings per account: the account's own backoff. */
  readonly #listFailures = new Map<string, number>();

  /** Leases this replica holds, by account: kept between passes, let go at shutdown. */
  readonly #held = new Map<string, AccountLease>();

  /**
   * One pass over an account, holding its lease: the one this replica already holds (proven
   * still ours), else taken when free or expired; proven again before every provider write
   * and kept alive by the heartbeat. The lease is kept after the pass, so the same replica
   * keeps the account; another replica takes it over only once it expires. A pass that
   * loses its lease stops before its next write.
   */
  async pass(account: string, opts: PassOptions = {}): Promise<PassReport> {
    const provider = this.deps.providers.get(account);
    if (!provider) return { provider: account, actions: [], orphans: [], error: `no provider account named ${account}` };
    if (opts.dryRun) return this.#pass(provider, opts);
    const lease = await this.#lease(account);
    if (!lease) return { provider: account, actions: [], orphans: [], skipped: true, error: 'another hookwarden replica holds this account' };
    try {
      return await this.#pass(fenced(provider, lease), opts, lease);
    } catch (err) {
      if (!(err instanceof FencedError)) throw err;
      if (this.#held.get(account) === lease) this.#held.delete(account);
      this.deps.logger.warn({ provider: account, err: err.message }, 'pass stopped before its next provider write: lease lost');
      return { provider: account, actions: [], orphans: [], error: err.message, fenced: true };
    }
  }

  async #lease(account: string): Promise<AccountLease | undefined> {
    const { store, holder, leaseTtlSeconds } = this.deps;
    const held = this.#held.get(account);
    if (held) {
      try {
        await held.assert();
        return held;
      } catch (err) {
        this.#held.delete(account);
        if (!(err instanceof FencedError) || err.cause) throw err;
      }
    }
    await store.announce(holder);
    const sentAt = performance.now();
    const token = (await store.acquireLease(account, holder, leaseTtlSeconds)) ?? (await this.#takeOverFromAbsent(account));
    if (token === undefined) return undefined;
    const lease = new AccountLease(store, account, holder, token, leaseTtlSeconds, sentAt);
    this.deps.logger.info({ provider: account, holder, token: String(token) }, 'took the account lease');
    this.#held.set(account, lease);
    return lease;
  }

  /**
   * The account's lease, taken at once from a holder that no live database session announces
   * (its process died): no need to wait for its lease to expire. A paused process keeps its
   * session, so it is waited for; a live one that lost its connection is fenced off, which is
   * safe (every write proves its token) and costs it only this account.
   */
  async #takeOverFromAbsent(account: string): Promise<bigint | undefined> {
    const { store, holder, leaseTtlSeconds } = this.deps;
    const current = (await store.listLeases()).find((l) => l.account === account);
    if (!current || current.holder === holder || !(await store.holderAbsent(current.holder))) return undefined;
    const token = await store.takeOverLease(account, holder, leaseTtlSeconds, { holder: current.holder, token: current.token });
    if (token !== undefined) this.deps.logger.warn({ provider: account, from: current.holder }, 'took the account over from a replica that is gone');
    return token;
  }

  /**
   * Keeps every held lease alive (one UPDATE for all of them); forgets those found expired or
   * taken over. A process that stops (SIGSTOP, a frozen VM) stops its heartbeat with it.
   */
  async heartbeat(): Promise<void> {
    await this.deps.store.announce(this.deps.holder);
    if (this.#held.size === 0) return;
    const sentAt = performance.now();
    const still = new Set(await this.deps.store.extendLeases(this.deps.holder, this.deps.leaseTtlSeconds));
    for (const [a, lease] of [...this.#held]) {
      if (still.has(a)) {
        lease.proven(sentAt);
        continue;
      }
      lease.lost();
      this.#held.delete(a);
      this.deps.logger.warn({ provider: a }, 'the account lease expired or was taken over; another replica acts on it now');
    }
  }

  /** Whether this replica holds the account's lease (as of its last check). */
  holds(account: string): boolean {
    return this.#held.has(account);
  }

  /** Lets every held account go at once, so another replica takes over without waiting for expiry. */
  async releaseAll(): Promise<void> {
    const held = [...this.#held.values()];
    this.#held.clear();
    await Promise.allSettled(held.map((l) => l.release()));
  }

  async #pass(provider: Provider, opts: PassOptions, lease?: AccountLease): Promise<PassReport> {
    const { store, clock, logger, metrics } = this.deps;
    const account = provider.account;
    const stop = metrics.passDuration.startTimer({ provider: account });
    try {
      // gather: one listing of the account (all pages), and what Postgres remembers.
      let observed: ObservedSubscription[];
      const recorded = await store.listSubscriptions(account);
      const renewalsOnly = lease && !opts.dryRun && !opts.full ? this.#renewalsOnly(provider, recorded, lease) : undefined;
      if (opts.onlyRenewals && !renewalsOnly) {
        // Listed moments ago and nothing due any more (a join beside the last pass renewed it): nothing to do either.
        const now = clock.now();
        if (this.mayOnlyRenew(account) && !recorded.some((r) => r.state !== 'deleted' && r.nextCheckAt <= now)) return { provider: account, actions: [], orphans: [], renewalsOnly: true };
        return { provider: account, actions: [], orphans: [], skipped: true, needsListing: true };
      }
      if (renewalsOnly) {
        const reports = await this.#execute(account, new Executor(this.deps, provider, this.#desiredOf(account), [], recorded, renewalsOnly, this.settings.reconcileEverySeconds, opts.signal, this.settings.actionConcurrency));
        return { provider: account, actions: reports, orphans: [], renewalsOnly: true };
      }
      const openIntents = opts.dryRun ? new Map() : await store.openIntents(account);
      // Expiry is measured from when the listing started: a slow listing errs early, never late.
      const listedAt = clock.now();
      // Renewals due now wait on the listing: it may take a third of the time the soonest has
      // left. Not twice in a row, though: an account whose listing is always slower than that
      // would never be listed again (nothing created, adopted or mended in it).
      const budget = opts.dryRun || this.#listingGivenUp.has(account) ? undefined : listingBudgetMs(this.#dueExpiries(provider, recorded, listedAt), listedAt);
      const listing = budget === undefined ? undefined : deadline(budget, opts.signal);
      this.#listingGivenUp.delete(account);
      try {
        observed = await provider.list(listing?.signal ?? opts.signal).catch((err: unknown) => {
          if (!listing?.timedOut || opts.signal?.aborted) throw err;
          this.#listingGivenUp.add(account);
          throw new ProviderError('PROVIDER_TIMEOUT', `listing given up after ${budget} ms: renewals are due (a third of the time the soonest has left)`, 'retryable', {}, { cause: err });
        }).then((all) => all.map((o) => normalise(o, listedAt)));
        this.#listFailures.delete(account);
        if (lease) this.#listed.set(account, { at: listedAt.getTime(), lease });
      } catch (err) {
        listing?.dispose();
        this.#listed.delete(account);
        if (opts.signal?.aborted && !(err instanceof ProviderError)) throw err;
        const code = err instanceof ProviderError ? err.code : 'ERROR';
        metrics.providerErrors.inc({ provider: account, code });
        logger.error({ provider: account, code, err: errorMessage(err) }, 'listing subscriptions failed; will retry');
        if (opts.dryRun) return { provider: account, actions: [], orphans: [], error: errorMessage(err) };
        // Renewals that cannot wait for the next listing are made by the recorded id.
        const reports = await renewUrgent(this.#urgent(provider, recorded, opts.signal), renewalsWithoutListing(provider, this.#desiredOf(account), recorded, clock.now()));
        const after = reports.length ? await store.listSubscriptions(account) : recorded;
        await this.#postponeAfterListFailure(account, after, err);
        return { provider: account, actions: reports, orphans: [], error: errorMessage(err) };
      }
      listing?.dispose();
      const now = clock.now();
      const listedForMs = now.getTime() - listedAt.getTime();
      const desired = this.#desiredOf(account);
      const targets = new Map((this.deps.prober ? await this.deps.prober.targets(account) : []).map((t) => [t.url, t]));
      const result = plan({
        provider: account,
        desired,
        observed,
        recorded,
        targets,
        now,
        caps: provider.capabilities,
        reconcileEverySeconds: this.settings.reconcileEverySeconds,
        allowMassDelete: opts.allowMassDelete ?? false,
        deleteOrphans: this.settings.deleteOrphans[account] ?? false,
        openIntents,
      });
      metrics.orphans.set({ provider: account }, result.orphans.length);
      metrics.massDeleteRefused.set({ provider: account }, result.actions.some((a) => a.reason === Reason.MassDeleteRefused) ? 1 : 0);
      if (opts.dryRun) return { provider: account, actions: result.actions.map((a) => ({ ...a, outcome: 'planned' })), orphans: result.orphans };

      await this.#passiveSignals(desired, result.actions, now);
      const reports = await this.#execute(account, new Executor(this.deps, provider, desired, observed, recorded, result, this.settings.reconcileEverySeconds, opts.signal, this.settings.actionConcurrency, targets, 1000 + listedForMs));
      await this.#sweepGaps(account, desired, observed, targets);
      if (!reports.some((r) => r.outcome === 'failed')) metrics.lastPassSuccess.set({ provider: account }, clock.now().getTime() / 1000);
      return { provider: account, actions: reports, orphans: result.orphans };
    } finally {
      stop();
    }
  }

  /** What the provider told us about a callback without a probe: INACTIVE, or a subscription that vanished. */
  async #passiveSignals(desired: DesiredSubscription[], actions: Action[], now: Date): Promise<void> {
    const prober = this.deps.prober;
    if (!prober) return;
    for (const a of actions) {
      const why = a.reason === Reason.Inactive ? 'INACTIVE at the provider' : a.reason === Reason.LostAtProvider ? 'vanished at the provider' : undefined;
      const url = desired.find((d) => d.name === a.name)?.callback?.url;
      if (why && url) await prober.signal(a.provider, url, { at: now, ok: false, reason: `${a.name}: ${why}`, counts: false });
    }
  }

  /**
   * Level-triggered end of gaps: a subscription found bound, ACTIVE and unexpired after the
   * pass has its open gaps closed (at its last renewal, else now), whatever closed them was
   * lost (a crash between the call and the ledger); one no longer declared has them closed
   * now; a callback found healthy closes its callback-failing gaps at its last 200.
   */
  async #sweepGaps(account: string, desired: DesiredSubscription[], observed: ObservedSubscription[], targets: Map<string, RecordedTarget>): Promise<void> {
    const gaps = this.deps.gaps;
    if (!gaps) return;
    const open = (await gaps.openOf(account)).filter((g) => g.subject === 'subscription');
    if (!open.length) return;
    const now = this.deps.clock.now();
    const rows = new Map((await this.deps.store.listSubscriptions(account)).map((r) => [r.name, r]));
    const seen = new Map(observed.map((o) => [o.remoteId, o]));
    const wanted = new Map(desired.map((d) => [d.name, d]));
    const names = new Set(open.map((g) => g.name));
    for (const name of names) {
      const mine = open.filter((g) => g.name === name);
      const d = wanted.get(name);
      if (!d) {
        await gaps.close(account, name, { to: now });
        continue;
      }
      const row = rows.get(name);
      const o = row?.remoteId ? seen.get(row.remoteId) : undefined;
      const expiresAt = o ? normalise(o, now).expiresAt : row?.expiresAt;
      const fine = row && o && row.state === 'active' && !row.presumedDisabledAt && o.status === 'ACTIVE' && (!expiresAt || expiresAt > now);
      const own = mine.filter((g) => SUBSCRIPTION_CAUSES.includes(g.cause));
      if (fine && own.length) {
        const to = row.lastRenewedAt && own.every((g) => row.lastRenewedAt!.getTime() >= g.from.getTime()) ? row.lastRenewedAt : now;
        await gaps.close(account, name, { causes: own.map((g) => g.cause), to, remoteId: row.remoteId });
      }
      const target = d.callback ? targets.get(d.callback.url) : undefined;
      if (target && mine.some((g) => g.cause === 'callback-failing') && healthOf(target, now) === 'healthy') {
        await gaps.close(account, name, { causes: ['callback-failing'], to: target.lastSuccessAt ?? now });
      }
    }
  }

  /** The account could not be listed: due subscriptions are looked at again after the account's backoff (policy/next.ts). */
  async #postponeAfterListFailure(account: string, recorded: RecordedSubscription[], err: unknown): Promise<void> {
    const failures = (this.#listFailures.get(account) ?? 0) + 1;
    this.#listFailures.set(account, failures);
    const now = this.deps.clock.now();
    const info = failureInfo(err);
    for (const r of recorded) {
      if (r.state === 'deleted') continue;
      const next = afterListFailure(r, failures, info, { now, rand01: (this.deps.rand ?? Math.random)() });
      if (next) await this.deps.store.updateSubscription(r.id, r.version, { nextCheckAt: next, lastError: errorMessage(err), lastErrorCode: info.code });
    }
  }
}

/** Each row as last written: Postgres' copy, or a running executor's when it holds a later version. */
function newest(recorded: RecordedSubscription[], running: Executor[]): RecordedSubscription[] {
  const rows = new Map(recorded.map((r) => [r.name, r]));
  for (const e of running) for (const r of e.rows) if ((rows.get(r.name)?.version ?? -1) < r.version) rows.set(r.name, r);
  return [...rows.values()];
}

function byAccount(desired: DesiredSubscription[]): Map<string, DesiredSubscription[]> {
  const m = new Map<string, DesiredSubscription[]>();
  for (const d of desired) {
    const list = m.get(d.provider);
    if (list) list.push(d);
    else m.set(d.provider, [d]);
  }
  return m;
}
