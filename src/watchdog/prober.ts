import type { Dispatcher } from 'undici';
import type { ProbeResult, RecordedTarget, TargetSpec } from '../domain/types.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { applyProbe, healthOf, reproject } from '../policy/health.js';
import type { GapRecorder } from '../reconcile/gaps.js';
import type { Store } from '../store/types.js';
import { probeOnce } from './probe.js';

export interface ProberDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  dispatcher: Dispatcher;
  concurrency?: number;
  /** plan: read what is recorded, never write (no sync, no probes). */
  readOnly?: boolean;
  /** The coverage-gap ledger: a failing callback opens a possible gap for what delivers to it. */
  gaps?: GapRecorder;
  /** The declared events of a subscription (for its gaps). */
  eventsOf?: (provider: string, name: string) => string[];
}

const key = (t: { provider: string; url: string }) => `${t.provider}\u0000${t.url}`;

/**
 * Probes the callback targets that are due (nextProbeAt in Postgres) and records what it
 * saw. Also takes passive signals (a provider's own account of a delivery). Reports which
 * provider accounts saw a callback change health, so their subscriptions are looked at
 * again at once (recreation after recovery does not wait for the periodic pass).
 */
export class Prober {
  #specs: Map<string, TargetSpec>;
  #synced = false;
  /** The sync under way: every pass of a first start asks for the targets at once, and shares it. */
  #syncing: Promise<void> | undefined;

  constructor(
    private readonly deps: ProberDeps,
    specs: TargetSpec[],
  ) {
    this.#specs = new Map(specs.map((s) => [key(s), s]));
  }

  get specs(): TargetSpec[] {
    return [...this.#specs.values()];
  }

  /** A reloaded config: the targets are synced to Postgres again before the next probe. */
  reconfigure(specs: TargetSpec[]): void {
    this.#specs = new Map(specs.map((s) => [key(s), s]));
    this.#synced = false;
  }

  /** The recorded callback targets (of one account, or all), synced with the config first. */
  async targets(account?: string): Promise<RecordedTarget[]> {
    await this.#sync();
    return this.deps.store.listTargets(account);
  }

  /**
   * Syncs the targets to Postgres once per config: callers at the same time share one sync
   * (at a first start over 200 accounts, each pass syncing on its own sent 11,600 statements
   * and held every pass for 10 s). A config reloaded during a sync is synced after it.
   */
  async #sync(): Promise<void> {
    while (!this.#synced && !this.deps.readOnly) {
      this.#syncing ??= this.#syncOnce();
      await this.#syncing;
    }
  }

  #syncOnce(): Promise<void> {
    const specs = this.#specs;
    const p: Promise<void> = this.deps.store
      .syncTargets(
        [...specs.values()].map((s) => ({ provider: s.provider, name: s.name, url: s.url, format: s.format })),
        this.deps.clock.now(),
      )
      .then(() => {
        if (this.#specs === specs) this.#synced = true;
      })
      .finally(() => {
        if (this.#syncing === p) this.#syncing = undefined;
      });
    return p;
  }

  /** Probes every due target, a bounded number at a time. Returns the accounts whose callback health changed. */
  async probeDue(signal?: AbortSignal): Promise<Set<string>> {
    if (this.deps.readOnly) return new Set();
    const now = this.deps.clock.now();
    const due = (await this.targets()).filter((t) => t.nextProbeAt <= now && this.#specs.has(key(t)));
    const changed = new Set<string>();
    const worker = async () => {
      for (let t = due.shift(); t && !signal?.aborted; t = due.shift()) {
        const spec = this.#specs.get(key(t))!;
        const result = await probeOnce(this.deps.dispatcher, spec, this.deps.clock, signal);
        const labels = { provider: t.provider, target: t.name };
        this.deps.metrics.probeDuration.observe({ ...labels, outcome: result.ok ? 'ok' : result.failureClass! }, result.latencyMs / 1000);
        if (await this.#record(t, spec, result, 'probe')) changed.add(t.provider);
      }
    };
    await Promise.all(Array.from({ length: this.deps.concurrency ?? 8 }, worker));
    return changed;
  }

  /**
   * A passive signal about a target: a provider's record of a delivery (counts like a probe
   * when `counts`), or evidence such as INACTIVE or a vanished subscription (recorded only).
   */
  async signal(provider: string, url: string, s: { at: Date; ok: boolean; reason: string; counts: boolean }): Promise<boolean> {
    const spec = this.#specs.get(key({ provider, url }));
    if (!spec || this.deps.readOnly) return false;
    const t = await this.#row(provider, url);
    if (!t) return false;
    // A delivery older than what was last observed says nothing new about the callback's health.
    const stale = t.lastProbeAt !== null && s.at < t.lastProbeAt;
    if (!s.counts || stale) {
      // Written even when a probe of the same target lands at the same moment: re-read and retry.
      for (let row: RecordedTarget | undefined = t, i = 0; row && i < 3; row = await this.#row(provider, url), i++) {
        if (await this.deps.store.updateTarget(row.id, row.version, { lastSignal: s.reason, lastSignalAt: s.at })) break;
      }
      return false;
    }
    const result: ProbeResult = { at: s.at, ok: s.ok, reason: s.reason, latencyMs: 0, ...(s.ok ? {} : { failureClass: 'http-error' as const }) };
    return this.#record(t, spec, result, 'signal');
  }

  async #row(provider: string, url: string): Promise<RecordedTarget | undefined> {
    await this.#sync();
    return this.deps.store.findTarget(provider, url);
  }

  /** Writes the outcome; true when the target's health changed. */
  async #record(first: RecordedTarget, spec: TargetSpec, r: ProbeResult, source: 'probe' | 'signal'): Promise<boolean> {
    const { clock, logger, store } = this.deps;
    // Conditional on the row version; when a concurrent write (another replica, a passive
    // signal) got there first, re-read and apply this outcome on top of it.
    let t: RecordedTarget | undefined = first;
    let written: RecordedTarget | null = null;
    for (let i = 0; t && !written && i < 3; i++) {
      const patch = { ...(reproject(t, spec.policy) ?? {}), ...applyProbe(t, r, spec.policy) };
      if (source === 'probe') patch.nextProbeAt = nextProbeAt(t.nextProbeAt, r.at, spec.everySeconds);
      else {
        patch.lastSignal = r.reason;
        patch.lastSignalAt = r.at;
      }
      written = await store.updateTarget(t.id, t.version, patch);
      if (written) break;
      t = await this.#row(t.provider, t.url);
      // Another replica probed this target in the same round: one measurement is enough.
      if (source === 'probe' && t?.lastProbeAt && t.lastProbeAt.getTime() >= r.at.getTime() - (spec.everySeconds * 1000) / 2) return false;
    }
    if (!written || !t) return false;
    const now = clock.now();
    const before = healthOf(t, now);
    const after = healthOf(written, now);
    if (before === after) {
      logger.debug({ provider: t.provider, target: t.name, ok: r.ok, reason: r.reason, latencyMs: Math.round(r.latencyMs) }, 'callback probed');
      return false;
    }
    const fields = {
      provider: t.provider,
      target: t.name,
      health: after,
      was: before,
      source,
      reason: r.reason,
      failureClass: r.failureClass,
      consecutiveFailures: written.consecutiveFailures,
      unhealthySince: written.unhealthySince?.toISOString(),
      disableAt: written.disableAt?.toISOString(),
      deleteAt: written.deleteAt?.toISOString(),
    };
    await this.#gaps(written, spec, before, after, r.at);
    if (after === 'healthy' && before === 'unknown') logger.info(fields, `callback ${t.name} answers 200`);
    else if (after === 'healthy') logger.info(fields, `callback ${t.name} answers 200 again`);
    else if (after === 'failing') logger.warn(fields, `callback ${t.name} failed: ${r.reason}`);
    else logger.warn(fields, `callback ${t.name} is ${after}: the provider disables its subscriptions at ${written.disableAt?.toISOString()} and deletes them at ${written.deleteAt?.toISOString()}`);
    return true;
  }

  /**
   * A callback that starts failing opens a `callback-failing` gap (confidence possible: the
   * provider may or may not have delivered meanwhile) for each subscription delivering to it,
   * and for a watch-only target itself, from the first failure of the streak; answering 200
   * again closes them at that answer.
   */
  async #gaps(t: RecordedTarget, spec: TargetSpec, before: string, after: string, at: Date): Promise<void> {
    const gaps = this.deps.gaps;
    if (!gaps) return;
    const subjects: { name: string; subject: 'subscription' | 'target' }[] = spec.subscriptions.length ? spec.subscriptions.map((name) => ({ name, subject: 'subscription' })) : [{ name: t.name, subject: 'target' }];
    const wasFailing = before !== 'healthy' && before !== 'unknown';
    const failing = after !== 'healthy' && after !== 'unknown';
    if (failing && !wasFailing) {
      for (const s of subjects) {
        await gaps.open({ provider: t.provider, name: s.name, subject: s.subject, cause: 'callback-failing', confidence: 'possible', from: t.unhealthySince ?? at, events: this.deps.eventsOf?.(t.provider, s.name) ?? [] });
      }
    } else if (after === 'healthy' && wasFailing) {
      for (const s of subjects) await gaps.close(t.provider, s.name, { causes: ['callback-failing'], to: at });
    }
  }
}

/**
 * A target's next probe: an interval after the time this one was due, so that probes keep
 * their cadence (counted from when one ended, each interval grew by the probe's own time and
 * the wait for the next wake-up, and a failure was seen up to a second or two later than
 * `every` promised). Counted from the probe's start when it ran an interval or more late
 * (a start, an outage): no burst of catch-up probes.
 */
export function nextProbeAt(dueAt: Date, probedAt: Date, everySeconds: number): Date {
  const every = everySeconds * 1000;
  const base = probedAt.getTime() - dueAt.getTime() < every ? dueAt.getTime() : probedAt.getTime();
  return new Date(Math.max(base + every, probedAt.getTime() + 1000));
}
