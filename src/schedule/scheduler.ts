import { setMaxListeners } from 'node:events';
import { deadline } from '../lib/deadline.js';
import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { PassReport, Reconciler } from '../reconcile/reconciler.js';
import type { Store } from '../store/types.js';
import type { DeliveryPoller } from '../watchdog/deliveries.js';
import type { Prober } from '../watchdog/prober.js';

export interface SchedulerOptions {
  reconciler: Reconciler;
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  reconcileEverySeconds: number;
  /**
   * Passes running at once, over different accounts, besides those over accounts whose
   * adapter paces its own requests (Reconciler.paced: Dixa), which take no slot.
   */
  concurrency: number;
  /** Deadline of one pass: its provider calls are aborted then. */
  passTimeoutSeconds?: number;
  /** Held leases are extended every third of this. */
  leaseTtlSeconds?: number;
  allowMassDelete?: boolean;
  /** node-cron expression of the wake-up; every second by default. */
  wakeEvery?: string;
  /** Callback probes run on the same wake-ups. */
  prober?: Prober;
  /** Delivery-status polls too, in the background (a poll may take longer than a second). */
  deliveries?: DeliveryPoller;
  /** History older than this is pruned, once an hour. */
  historyKeepSeconds?: number;
  /**
   * The backfill hooks of closed coverage gaps, sent in the background from the wake-ups
   * while the store is up: one round at a time, never awaited by a pass, and a hook that
   * hangs or fails delays nothing else. deliverDue must not throw (an error is logged).
   */
  hooks?: { deliverDue(signal?: AbortSignal): Promise<unknown> };
}

/**
 * An unreachable database is pinged at every wake-up (one connection attempt a second), so
 * that the loop resumes within a wake-up of its return: subscriptions that came due during
 * the outage have seconds to spare at most. "Still unreachable" is logged at the 2nd, 4th,
 * 8th… attempt, not every second.
 */
const STORE_RETRY_SECONDS = 1;

/**
 * node-cron only wakes the loop; what is due comes from Postgres (nextCheckAt), plus a
 * periodic pass per account. A restart therefore resumes: overdue subscriptions are due at
 * once, most overdue first.
 *
 * Accounts are independent: a wake-up starts every due pass that is not already running and
 * returns at once; each pass runs on its own with a deadline. A slow or hanging account
 * delays nobody else's renewals, probes or delivery polls, and never makes a wake-up skip.
 *
 * The database is expected to go away now and then (a restart, a failover): a wake-up that
 * cannot reach it marks the store down (/readyz 503, hookwarden_store_up 0, no pass starts,
 * so no provider write starts either) and tries again with backoff; the first wake-up that
 * reaches it again resumes everything.
 */
export class Scheduler {
  readonly #lastPass = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<PassReport | undefined>>();
  /** Renewals made beside an account's pass (or beside earlier such renewals) still under way (Reconciler.join). */
  readonly #joins = new Map<string, Set<Promise<PassReport | undefined>>>();
  /** Passes under way that hold a slot of `concurrency` (paced accounts' passes hold none). */
  #slotted = 0;
  /** Due accounts of the last wake-up still waiting for a free slot, in order. */
  #waiting: string[] = [];
  /** Accounts whose pass without a slot found it had to list: they wait for a slot until a pass has listed them. */
  readonly #needsListing = new Set<string>();
  /** Passes under way that only renew, without a slot (see #fill): at most `concurrency` of them too. */
  #light = 0;
  #stopping = false;
  /** The passes started since the last wake-up (those a full slot made wait included). */
  #round: Promise<PassReport | undefined>[] = [];
  readonly #abort = new AbortController();
  /**
   * Accounts made due (a reload changed what they should hold, or their callback's health
   * changed), with when they were made due (by the injected clock).
   */
  readonly #forced = new Map<string, number>();
  #task: ScheduledTask | undefined;
  /** Wake-ups under way (the first one at start may overlap the first cron wake-up). */
  readonly #ticking = new Set<Promise<unknown>>();
  #probing: Promise<void> | undefined;
  /** The round of backfill hooks under way, if any. */
  #hooking: Promise<unknown> | undefined;
  #lastHooks = Number.NEGATIVE_INFINITY;
  #lastPrune: number | undefined;
  #lastHeartbeat = 0;
  #heartbeat: Promise<void> | undefined;
  #storeUp = true;
  #storeFailures = 0;
  #storeRetryAt = 0;
  /** When the last wake-up completed (the loop's own liveness), by the injected clock. */
  #lastWake: number | undefined;
  /** Set after the first full round of passes: /readyz turns green. */
  ready = false;

  constructor(private opts: SchedulerOptions) {
    opts.metrics?.storeUp.set(1);
    // Each pass under way listens to it (through its deadline), one per account at most.
    setMaxListeners(0, this.#abort.signal);
  }

  /** A reloaded config: intervals and limits for what starts from now on. */
  reconfigure(o: Pick<SchedulerOptions, 'reconcileEverySeconds' | 'concurrency' | 'passTimeoutSeconds' | 'historyKeepSeconds'>): void {
    this.opts = { ...this.opts, ...o };
  }

  /** These accounts are due at the next wake-up (a reloaded config changed what they should hold). */
  force(accounts: Iterable<string>): void {
    const now = this.opts.clock.now().getTime();
    for (const a of accounts) if (!this.#forced.has(a)) this.#forced.set(a, now);
  }

  get storeUp(): boolean {
    return this.#storeUp;
  }

  /** Seconds since the loop last completed a wake-up (undefined before the first). */
  sinceLastWake(): number | undefined {
    return this.#lastWake === undefined ? undefined : (this.opts.clock.now().getTime() - this.#lastWake) / 1000;
  }

  /** Accounts running a pass right now. */
  get running(): string[] {
    return [...this.#inflight.keys()];
  }

  /**
   * Accounts due now: those never looked at yet (at start: everything to create), then those
   * a reload or a callback's change of health made due and those with due rows, merged by
   * since when each is due (oldest first), then those whose periodic pass has come.
   *
   * Merged by time, neither kind starves the other: a made-due account goes after rows that
   * were overdue before it was made due (a reload made 200 accounts due in config order,
   * and renewals about to lapse waited behind them), and before rows that came due after
   * (with renewBefore 99%, renewed rows come due again within a second and would keep every
   * made-due account waiting).
   */
  async due(): Promise<string[]> {
    const now = this.opts.clock.now().getTime();
    const accounts = this.opts.reconciler.accounts;
    const known = new Set(accounts);
    const since = new Map<string, number>();
    for (const [a, t] of this.#forced) if (known.has(a)) since.set(a, t);
    for (const d of await this.opts.store.dueProviders(new Date(now))) {
      if (known.has(d.provider)) since.set(d.provider, Math.min(since.get(d.provider) ?? Infinity, d.since.getTime()));
    }
    // A stable sort: equal times keep made-due accounts in the order they were made due.
    const byTime = [...since].sort((x, y) => x[1] - y[1]).map(([a]) => a);
    const never = accounts.filter((a) => !this.#lastPass.has(a));
    const periodic = accounts.filter((a) => now - (this.#lastPass.get(a) ?? 0) >= this.opts.reconcileEverySeconds * 1000);
    return [...new Set([...never, ...byTime, ...periodic])];
  }

  /**
   * One wake-up, waiting for everything it started: the due probes, the due passes, a
   * delivery poll. The daemon's loop does not wait (see #wake); `apply` and tests do.
   */
  async tick(): Promise<PassReport[]> {
    const started = await this.#begin();
    // Passes that waited for a slot join the round as others end: wait until it has none left.
    const reports: (PassReport | undefined)[] = [];
    for (let done = 0; done < started.passes.length; ) {
      const batch = started.passes.slice(done);
      done += batch.length;
      reports.push(...(await Promise.all(batch)));
    }
    await Promise.all([started.probing, started.polling, started.hooking]);
    return reports.filter((r): r is PassReport => r !== undefined);
  }

  /** Starts what is due and returns what it started, without waiting for any of it. */
  async #begin(): Promise<{ passes: Promise<PassReport | undefined>[]; probing?: Promise<void>; polling?: Promise<void>; hooking?: Promise<unknown> }> {
    if (this.#abort.signal.aborted || this.#stopping) return { passes: [] };
    try {
      if (!(await this.#storeReachable())) return { passes: [] };
      this.#beat();
      const probing = (this.#probing ??= this.probe().finally(() => (this.#probing = undefined)));
      const passes = await this.#startPasses();
      const polling = this.opts.deliveries?.pollDue(this.#abort.signal);
      const hooking = this.#sendHooks();
      await this.prune();
      return { passes, probing, ...(polling ? { polling } : {}), ...(hooking ? { hooking } : {}) };
    } catch (err) {
      await this.#checkStore(err);
      return { passes: [] };
    } finally {
      this.#lastWake = this.opts.clock.now().getTime();
    }
  }

  /** Starts a round of due backfill hooks unless one is under way; returns it (only `tick` waits for it). */
  #sendHooks(): Promise<unknown> | undefined {
    const hooks = this.opts.hooks;
    if (!hooks) return undefined;
    // A round every 5 s at most (the hooks' own backoff starts at 5 s): an idle wake-up asks Postgres nothing.
    const now = this.opts.clock.now().getTime();
    if (!this.#hooking && now - this.#lastHooks < 5000) return undefined;
    if (!this.#hooking) this.#lastHooks = now;
    this.#hooking ??= hooks
      .deliverDue(this.#abort.signal)
      .catch((err) => this.opts.logger.error({ err: errorMessage(err) }, 'sending backfill hooks failed'))
      .finally(() => (this.#hooking = undefined));
    return this.#hooking;
  }

  /** The lease heartbeat, every third of the TTL, in the background (a pass never waits for it). */
  #beat(): void {
    const now = this.opts.clock.now().getTime();
    if (this.#heartbeat || now - this.#lastHeartbeat < ((this.opts.leaseTtlSeconds ?? 60) * 1000) / 3) return;
    this.#lastHeartbeat = now;
    this.#heartbeat = this.opts.reconciler
      .heartbeat()
      .catch((err) => this.#checkStore(err))
      .finally(() => (this.#heartbeat = undefined));
  }

  /** While the store is down, only a ping is tried, at the backoff's pace. */
  async #storeReachable(): Promise<boolean> {
    if (this.#storeUp) return true;
    if (this.opts.clock.now().getTime() < this.#storeRetryAt) return false;
    try {
      await this.opts.store.ping();
    } catch (err) {
      this.#storeDown(err);
      return false;
    }
    this.opts.logger.info({ after: this.#storeFailures }, 'database reachable again; resuming');
    this.#storeUp = true;
    this.#storeFailures = 0;
    this.opts.metrics?.storeUp.set(1);
    return true;
  }

  /** Something failed: if the database is the cause, mark it down; else log it. */
  async #checkStore(err: unknown): Promise<void> {
    try {
      await this.opts.store.ping();
      this.opts.logger.error({ err: errorMessage(err) }, 'wake-up failed');
    } catch (pingErr) {
      this.#storeDown(pingErr);
    }
  }

  #storeDown(err: unknown): void {
    // Several passes failing at once report the same outage: one attempt per wake-up counts.
    const now = this.opts.clock.now().getTime();
    if (!this.#storeUp && now < this.#storeRetryAt) return;
    this.#storeFailures++;
    this.#storeRetryAt = now + STORE_RETRY_SECONDS * 1000;
    const attempt = this.#storeFailures;
    if (this.#storeUp) this.opts.logger.error({ err: errorMessage(err) }, 'database unreachable: no pass starts until it answers again');
    else if ((attempt & (attempt - 1)) === 0) this.opts.logger.warn({ err: errorMessage(err), attempt, retryInSeconds: STORE_RETRY_SECONDS }, 'database still unreachable');
    this.#storeUp = false;
    this.opts.metrics?.storeUp.set(0);
  }

  /** History retention, at most once an hour. */
  async prune(): Promise<void> {
    const keep = this.opts.historyKeepSeconds;
    const now = this.opts.clock.now().getTime();
    if (!keep || (this.#lastPrune !== undefined && now - this.#lastPrune < 3600_000)) return;
    this.#lastPrune = now;
    try {
      const n = await this.opts.store.pruneHistory(new Date(now - keep * 1000));
      if (n) this.opts.logger.info({ rows: n }, 'pruned old history');
    } catch (err) {
      this.opts.logger.error({ err: errorMessage(err) }, 'pruning history failed');
    }
  }

  /**
   * The due callback probes. An account whose callback changed health is due at once, on
   * whichever replica holds it: its rows are made due in Postgres.
   */
  async probe(): Promise<void> {
    if (!this.opts.prober) return;
    try {
      for (const a of await this.opts.prober.probeDue(this.#abort.signal)) {
        const now = this.opts.clock.now();
        if (!this.#forced.has(a)) this.#forced.set(a, now.getTime());
        await this.opts.store.markDue(a, now);
      }
    } catch (err) {
      this.opts.logger.error({ err: errorMessage(err) }, 'probing callbacks failed');
    }
  }

  /**
   * Starts each due account's pass that is not running yet, up to `concurrency` at once. The
   * rest wait in line, and each pass that ends starts the next one at once rather than at
   * the next wake-up: a round over many accounts is bounded by the passes, not the clock.
   */
  async #startPasses(): Promise<Promise<PassReport | undefined>[]> {
    const due = await this.due();
    this.#waiting = due.filter((a) => !this.#inflight.has(a));
    this.#round = [];
    for (const a of due) if (this.#inflight.has(a) || this.#joins.has(a)) this.#join(a);
    this.#fill();
    return this.#round;
  }

  /**
   * A due account whose pass (or renewals made beside it) is still under way: renewals that
   * came due meanwhile are made beside it (Reconciler.join decides which, if any: none that
   * a run under way holds). Not for an account made due (a reload, a change of health): that
   * needs a pass that lists. No new pass over the account starts until every join over it
   * has ended, so a pass and a join never act on the same subscription.
   */
  #join(a: string): void {
    if (!this.#storeUp || this.#stopping || this.#abort.signal.aborted || this.#forced.has(a)) return;
    const cut = deadline((this.opts.passTimeoutSeconds ?? 300) * 1000, this.#abort.signal);
    let joins = this.#joins.get(a);
    if (!joins) this.#joins.set(a, (joins = new Set()));
    const p: Promise<PassReport | undefined> = this.opts.reconciler
      .join(a, cut.signal)
      .then(async (r) => {
        if (r?.fenced) await this.opts.store.ping().catch((err) => this.#storeDown(err));
        return r;
      })
      .catch(async (err: unknown) => {
        if (cut.timedOut) this.opts.logger.error({ provider: a }, 'renewals beside a running pass ran past the pass deadline and were cut short');
        else await this.#checkStore(err).then(() => this.#storeUp && this.opts.logger.error({ provider: a, err: errorMessage(err) }, 'renewals beside a running pass failed'));
        return undefined;
      })
      .finally(() => {
        cut.dispose();
        joins.delete(p);
        if (!joins.size && this.#joins.get(a) === joins) this.#joins.delete(a);
        // A pass that waited for this account's joins to end starts now.
        this.#fill();
      });
    joins.add(p);
    this.#round.push(p);
  }

  /**
   * Starts waiting passes while slots are free (and the store is up); they join the current
   * round. A paced account (Dixa: its adapter keeps to the provider's published rate) starts
   * without a slot: its pass is bound by that pace, not by CPU or Postgres, and with the
   * slots held by paced accounts the others waited (at 50 Dixa accounts among 200, the first
   * start crawled at 72 requests a second for half a minute).
   */
  #fill(): void {
    if (!this.#storeUp || this.#stopping || this.#abort.signal.aborted) return;
    const next: string[] = [];
    for (const a of this.#waiting) {
      if (this.#inflight.has(a)) continue;
      // Renewals made beside the account's last pass are still under way: it waits for them.
      if (this.#joins.has(a)) {
        next.push(a);
        continue;
      }
      const paced = this.opts.reconciler.paced(a);
      const full = this.#slotted >= Math.max(1, this.opts.concurrency);
      // With every slot taken, a pass that only renews by recorded ids goes without one (as
      // many such passes at once as there are slots): not for an account made due, nor one
      // whose periodic pass has come (both need a listing).
      const light =
        !paced &&
        full &&
        this.#light < Math.max(1, this.opts.concurrency) &&
        !this.#forced.has(a) &&
        !this.#needsListing.has(a) &&
        this.opts.clock.now().getTime() - (this.#lastPass.get(a) ?? Number.NEGATIVE_INFINITY) < this.opts.reconcileEverySeconds * 1000 &&
        this.opts.reconciler.mayOnlyRenew(a);
      if (!paced && !light && full) {
        next.push(a);
        continue;
      }
      const slot = !paced && !light;
      if (slot) this.#slotted++;
      if (light) this.#light++;
      let relisted = false;
      const p = this.#runPass(a, light)
        .then((r) => {
          if (r?.needsListing) relisted = true;
          return r;
        })
        .finally(() => {
          this.#inflight.delete(a);
          if (slot) this.#slotted--;
          if (light) this.#light--;
          // It has to list after all: back in line for a slot, first.
          if (relisted) {
            this.#needsListing.add(a);
            if (!this.#waiting.includes(a)) this.#waiting.unshift(a);
          }
          this.#fill();
        });
      this.#inflight.set(a, p);
      this.#round.push(p);
    }
    this.#waiting = next;
  }

  /** One pass; `onlyRenewals`: one that took no slot, and only renews without listing (or does nothing). */
  async #runPass(a: string, onlyRenewals = false): Promise<PassReport | undefined> {
    const started = this.opts.clock.now().getTime();
    const full = onlyRenewals ? false : this.#forced.delete(a);
    if (!onlyRenewals) this.#needsListing.delete(a);
    const cut = deadline((this.opts.passTimeoutSeconds ?? 300) * 1000, this.#abort.signal);
    const signal = cut.signal;
    try {
      const r = await this.opts.reconciler.pass(a, { allowMassDelete: this.opts.allowMassDelete ?? false, signal, full, ...(onlyRenewals ? { onlyRenewals } : {}) });
      if (r.needsListing) return r;
      // A lease that could not be confirmed may mean the database is gone.
      if (r.fenced) await this.opts.store.ping().catch((err) => this.#storeDown(err));
      // An account another replica holds counts as looked at: a standby is ready too, and
      // tries again at the next periodic pass, or as soon as the account has due rows.
      this.#finished(a, started, !r.skipped, !r.renewalsOnly);
      return r;
    } catch (err) {
      this.#finished(a, started);
      if (cut.timedOut) this.opts.logger.error({ provider: a, timeoutSeconds: this.opts.passTimeoutSeconds ?? 300 }, 'reconcile pass ran past its deadline and was cut short');
      else await this.#checkStore(err).then(() => this.#storeUp && this.opts.logger.error({ provider: a, err: errorMessage(err) }, 'reconcile pass failed'));
      return undefined;
    } finally {
      cut.dispose();
    }
  }

  /** A pass ended; only one that listed the account counts toward the periodic pass. */
  #finished(a: string, started: number, ran = true, listed = true): void {
    if (listed || !this.#lastPass.has(a)) this.#lastPass.set(a, started);
    if (ran) this.opts.metrics?.lastPassCompleted.set({ provider: a }, this.opts.clock.now().getTime() / 1000);
    if (!this.ready && this.opts.reconciler.accounts.every((x) => this.#lastPass.has(x))) this.ready = true;
  }

  start(): void {
    // The first wake-up is at once; node-cron then wakes the loop every second.
    void this.#wake();
    this.#task = cron.schedule(this.opts.wakeEvery ?? '* * * * * *', () => this.#wake(), {
      name: 'hookwarden-wake',
      noOverlap: true,
      logger: cronLogger(this.opts.logger),
    });
  }

  /** A wake-up of the running daemon: starts what is due and returns; nothing it started is awaited. */
  #wake(): Promise<unknown> {
    const p = this.#begin()
      .catch((err) => this.opts.logger.error({ err: errorMessage(err) }, 'wake-up failed'))
      .finally(() => this.#ticking.delete(p));
    this.#ticking.add(p);
    return p;
  }

  /**
   * Two-stage shutdown: stop waking, let running passes finish; after `graceMs`, abort the
   * HTTP calls still under way (every call carries this signal).
   */
  async stop(graceMs = 8000): Promise<void> {
    // Nothing new starts: neither a wake-up nor a pass that waited for a slot.
    this.#stopping = true;
    this.#waiting = [];
    await this.#task?.stop();
    await this.#task?.destroy();
    const running = Promise.allSettled([...this.#ticking, this.#probing, this.#heartbeat, this.#hooking, this.opts.deliveries?.running, ...this.#inflight.values(), ...[...this.#joins.values()].flatMap((j) => [...j])]);
    const timer = setTimeout(() => this.#abort.abort(new Error('shutting down')), graceMs);
    await running;
    clearTimeout(timer);
    this.#abort.abort(new Error('stopped'));
  }
}

function cronLogger(logger: Logger) {
  return {
    info: (m: string) => logger.debug({ cron: m }, 'node-cron'),
    warn: (m: string) => logger.debug({ cron: m }, 'node-cron'),
    error: (m: string | Error) => logger.error({ cron: errorMessage(m) }, 'node-cron'),
    debug: (m: string) => logger.trace({ cron: m }, 'node-cron'),
  };
}
