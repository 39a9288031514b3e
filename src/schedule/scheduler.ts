import cron, { type ScheduledTask } from 'node-cron';
import type { Clock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { PassReport, Reconciler } from '../reconcile/reconciler.js';
import type { Store } from '../store/types.js';
import type { DeliveryPoller } from '../watchdog/deliveries.js';
import type { Prober } from '../watchdog/prober.js';

export interface SchedulerOptions {
  reconciler: Reconciler;
  store: Store;
  clock: Clock;
  logger: Logger;
  reconcileEverySeconds: number;
  concurrency: number;
  allowMassDelete?: boolean;
  /** node-cron expression of the wake-up; every second by default. */
  wakeEvery?: string;
  /** Callback probes run on the same wake-ups. */
  prober?: Prober;
  /** Delivery-status polls too, in the background (a poll may take longer than a second). */
  deliveries?: DeliveryPoller;
  /** History older than this is pruned, once an hour. */
  historyKeepSeconds?: number;
}

/**
 * node-cron only wakes the loop; what is due comes from Postgres (nextCheckAt), plus a
 * periodic pass per account. A restart therefore resumes: overdue subscriptions are due at
 * once, most overdue first.
 */
export class Scheduler {
  readonly #lastPass = new Map<string, number>();
  readonly #inflight = new Map<string, Promise<PassReport>>();
  readonly #abort = new AbortController();
  /** Accounts whose callback health just changed: due at once. */
  readonly #forced = new Set<string>();
  #task: ScheduledTask | undefined;
  /** Wake-ups under way (the first one at start may overlap the first cron wake-up). */
  readonly #ticking = new Set<Promise<unknown>>();
  #polling: Promise<void> | undefined;
  #lastPrune: number | undefined;
  /** Set after the first full round of passes: /readyz turns green. */
  ready = false;

  constructor(private readonly opts: SchedulerOptions) {}

  /** Accounts due now: those with due rows (most overdue first), then those whose periodic pass has come. */
  async due(): Promise<string[]> {
    const now = this.opts.clock.now().getTime();
    const accounts = this.opts.reconciler.accounts;
    const fromStore = (await this.opts.store.dueProviders(new Date(now))).filter((a) => accounts.includes(a));
    const periodic = accounts.filter((a) => {
      const last = this.#lastPass.get(a);
      return last === undefined || now - last >= this.opts.reconcileEverySeconds * 1000;
    });
    return [...new Set([...this.#forced, ...fromStore, ...periodic])];
  }

  /** One wake-up: probe the due callbacks and run every due account's pass, a bounded number at a time. */
  async tick(): Promise<PassReport[]> {
    if (this.#abort.signal.aborted) return [];
    const probing = this.probe();
    const reports = await this.passes();
    await probing;
    this.#polling ??= this.opts.deliveries?.pollDue(this.#abort.signal).finally(() => (this.#polling = undefined));
    await this.prune();
    return reports;
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

  /** The due callback probes; an account whose callback changed health is due at once. */
  async probe(): Promise<void> {
    if (!this.opts.prober) return;
    try {
      for (const a of await this.opts.prober.probeDue(this.#abort.signal)) this.#forced.add(a);
    } catch (err) {
      this.opts.logger.error({ err: errorMessage(err) }, 'probing callbacks failed');
    }
  }

  /** The due reconcile passes. */
  async passes(): Promise<PassReport[]> {
    if (this.#abort.signal.aborted) return [];
    const queue = (await this.due()).filter((a) => !this.#inflight.has(a));
    const reports: PassReport[] = [];
    const worker = async () => {
      for (let a = queue.shift(); a !== undefined && !this.#abort.signal.aborted; a = queue.shift()) {
        const started = this.opts.clock.now().getTime();
        this.#forced.delete(a);
        const p = this.opts.reconciler.pass(a, { allowMassDelete: this.opts.allowMassDelete ?? false, signal: this.#abort.signal });
        this.#inflight.set(a, p);
        try {
          const r = await p;
          if (!r.skipped) this.#lastPass.set(a, started);
          reports.push(r);
        } catch (err) {
          this.#lastPass.set(a, started);
          this.opts.logger.error({ provider: a, err: errorMessage(err) }, 'reconcile pass failed');
        } finally {
          this.#inflight.delete(a);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.opts.concurrency) }, worker));
    if (!this.ready && this.opts.reconciler.accounts.every((a) => this.#lastPass.has(a))) this.ready = true;
    return reports;
  }

  start(): void {
    // The first pass starts at once; node-cron then wakes the loop every second.
    void this.#wake();
    this.#task = cron.schedule(
      this.opts.wakeEvery ?? '* * * * * *',
      async () => {
        await this.#wake();
      },
      { name: 'hookwarden-wake', noOverlap: true, logger: cronLogger(this.opts.logger) },
    );
  }

  #wake(): Promise<unknown> {
    const p = this.tick()
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
    await this.#task?.stop();
    await this.#task?.destroy();
    const running = Promise.allSettled([...this.#ticking, this.#polling, ...this.#inflight.values()]);
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
