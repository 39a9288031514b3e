import { Reason, type Action, type DesiredSubscription, type ObservedSubscription, type Orphan, type RecordedSubscription } from '../domain/types.js';
import type { Clock } from '../lib/clock.js';
import { ProviderError, errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { plan } from '../policy/plan.js';
import { backoffSeconds } from '../policy/timing.js';
import type { Provider } from '../providers/types.js';
import type { Store } from '../store/types.js';
import type { Prober } from '../watchdog/prober.js';
import { Executor, retryAfter } from './executor.js';

export interface ReconcileSettings {
  desired: DesiredSubscription[];
  reconcileEverySeconds: number;
  /** Per account: delete listed subscriptions that match nothing declared. */
  deleteOrphans: Record<string, boolean>;
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
}

export type Outcome = 'planned' | 'succeeded' | 'failed' | 'skipped';

export interface ActionReport extends Action {
  outcome: Outcome;
  newRemoteId?: string;
  error?: string;
  errorCode?: string;
}

export interface PassReport {
  provider: string;
  actions: ActionReport[];
  orphans: Orphan[];
  /** Set when the pass could not run at all (listing failed, lease held elsewhere). */
  error?: string;
  skipped?: boolean;
}

export interface PassOptions {
  dryRun?: boolean;
  allowMassDelete?: boolean;
  signal?: AbortSignal;
}

/**
 * gather -> plan -> execute -> record, for one provider account at a time.
 * Level-triggered: every pass starts from what it sees, so repeating one is harmless.
 */
export class Reconciler {
  constructor(
    private readonly deps: ReconcilerDeps,
    private readonly settings: ReconcileSettings,
  ) {}

  get accounts(): string[] {
    return [...this.deps.providers.keys()];
  }

  async pass(account: string, opts: PassOptions = {}): Promise<PassReport> {
    const provider = this.deps.providers.get(account);
    if (!provider) return { provider: account, actions: [], orphans: [], error: `no provider account named ${account}` };
    if (opts.dryRun) return this.#pass(provider, opts);
    const leased = await this.deps.store.withAccountLease(account, () => this.#pass(provider, opts));
    return leased.ran ? leased.value : { provider: account, actions: [], orphans: [], skipped: true, error: 'another hookwarden process holds this account' };
  }

  async #pass(provider: Provider, opts: PassOptions): Promise<PassReport> {
    const { store, clock, logger, metrics } = this.deps;
    const account = provider.account;
    const stop = metrics.passDuration.startTimer({ provider: account });
    try {
      // gather: one listing of the account (all pages), and what Postgres remembers.
      let observed: ObservedSubscription[];
      const recorded = await store.listSubscriptions(account);
      try {
        observed = await provider.list(opts.signal);
      } catch (err) {
        const code = err instanceof ProviderError ? err.code : 'ERROR';
        metrics.providerErrors.inc({ provider: account, code });
        logger.error({ provider: account, code, err: errorMessage(err) }, 'listing subscriptions failed; will retry');
        if (!opts.dryRun) await this.#postponeAfterListFailure(recorded, err);
        return { provider: account, actions: [], orphans: [], error: errorMessage(err) };
      }
      const now = clock.now();
      const desired = this.settings.desired.filter((d) => d.provider === account);
      const targets = new Map((this.deps.prober ? await this.deps.prober.targets() : []).filter((t) => t.provider === account).map((t) => [t.url, t]));
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
      });
      metrics.orphans.set({ provider: account }, result.orphans.length);
      metrics.massDeleteRefused.set({ provider: account }, result.actions.some((a) => a.reason === Reason.MassDeleteRefused) ? 1 : 0);
      if (opts.dryRun) return { provider: account, actions: result.actions.map((a) => ({ ...a, outcome: 'planned' })), orphans: result.orphans };

      await this.#passiveSignals(desired, result.actions, now);
      const reports = await new Executor(this.deps, provider, desired, observed, recorded, result, this.settings.reconcileEverySeconds, opts.signal).run();
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

  /** The account could not be listed: every subscription backs off, capped before its expiry. */
  async #postponeAfterListFailure(recorded: RecordedSubscription[], err: unknown): Promise<void> {
    const now = this.deps.clock.now();
    for (const r of recorded) {
      if (r.state === 'deleted') continue;
      const failures = r.failureCount + 1;
      const toExpiry = r.expiresAt ? (r.expiresAt.getTime() - now.getTime()) / 1000 : undefined;
      const delay = Math.max(backoffSeconds(failures, (this.deps.rand ?? Math.random)(), toExpiry), retryAfter(err));
      await this.deps.store.updateSubscription(r.id, r.version, {
        failureCount: failures,
        lastError: errorMessage(err),
        lastErrorCode: err instanceof ProviderError ? err.code : 'ERROR',
        nextCheckAt: new Date(now.getTime() + delay * 1000),
      });
    }
  }
}
