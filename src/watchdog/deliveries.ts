import type { DeliveryStatus, DesiredSubscription, RecordedSubscription } from '../domain/types.js';
import { declaredEvents } from '../policy/gaps.js';
import type { GapRecorder } from '../reconcile/gaps.js';
import type { Clock } from '../lib/clock.js';
import { errorMessage, ProviderError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import type { Provider } from '../providers/types.js';
import type { DeliveryRecord, Store } from '../store/types.js';
import type { Prober } from './prober.js';

export interface DeliveryPollerDeps {
  store: Store;
  providers: Map<string, Provider>;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  prober?: Prober;
  desired: DesiredSubscription[];
  everySeconds: number;
  /** Whether this replica holds the account's lease; polls are left to the holder. */
  holds?: (account: string) => boolean;
  /** The coverage-gap ledger: failed deliveries the provider reports open a gap. */
  gaps?: GapRecorder;
}

/** Response texts are the receiver's words: kept short. */
const clip = (s: string | undefined) => (s === undefined ? null : s.length > 200 ? `${s.slice(0, 200)}…` : s);

/**
 * Reads a provider's own account of what it delivered (Dixa's delivery-status), on its own
 * schedule: records, per subscription and event, the last delivery or NoRecentDelivery;
 * feeds each new delivery into the callback's health as a passive signal; and, for a new
 * failed delivery, reads that event's log once and keeps the latest failure's details —
 * never the payload, which holds customer data.
 */
export class DeliveryPoller {
  readonly #lastPoll = new Map<string, number>();
  /** Polls under way, by account: each account polls on its own, so a hanging one delays no other. */
  readonly #running = new Map<string, Promise<void>>();

  constructor(private deps: DeliveryPollerDeps) {}

  /** A reloaded config: the declared subscriptions and the poll interval. */
  reconfigure(desired: DesiredSubscription[], everySeconds: number): void {
    this.deps = { ...this.deps, desired, everySeconds };
  }

  get accounts(): string[] {
    return [...this.deps.providers.values()].filter((p) => p.deliveryStatus).map((p) => p.account);
  }

  /** Starts each due account's poll that is not running yet; resolves when the polls it started end. */
  pollDue(signal?: AbortSignal): Promise<void> {
    const now = this.deps.clock.now().getTime();
    const started: Promise<void>[] = [];
    for (const account of this.accounts) {
      const last = this.#lastPoll.get(account);
      if (this.#running.has(account) || (last !== undefined && now - last < this.deps.everySeconds * 1000)) continue;
      // Only the replica that holds the account polls it: the provider's rate limit is per token, not per replica.
      if (this.deps.holds && !this.deps.holds(account)) continue;
      this.#lastPoll.set(account, now);
      const p = this.pollAccount(account, signal)
        .catch((err) => this.deps.logger.error({ provider: account, err: errorMessage(err) }, 'polling delivery statuses failed'))
        .finally(() => this.#running.delete(account));
      this.#running.set(account, p);
      started.push(p);
    }
    return Promise.all(started).then(() => undefined);
  }

  /** Every poll under way (shutdown waits for them). */
  get running(): Promise<unknown> {
    return Promise.allSettled([...this.#running.values()]);
  }

  async pollAccount(account: string, signal?: AbortSignal): Promise<void> {
    const provider = this.deps.providers.get(account)!;
    const rows = (await this.deps.store.listSubscriptions(account)).filter((r) => r.remoteId && r.state !== 'deleted');
    const known = new Map((await this.deps.store.listDeliveries(account)).map((d) => [`${d.subscriptionId}/${d.event}`, d]));
    for (const r of rows) {
      if (signal?.aborted) return;
      let statuses: DeliveryStatus[];
      try {
        statuses = await provider.deliveryStatus!(r.remoteId!, signal);
      } catch (err) {
        if (err instanceof ProviderError && err.code === 'PROVIDER_NOT_FOUND') continue; // gone: the next pass recreates it
        throw err;
      }
      for (const st of statuses) {
        const rec = await this.#record(provider, r, st, known.get(`${r.id}/${st.event}`), signal);
        known.set(`${r.id}/${st.event}`, rec);
      }
      await this.#gaps(provider.account, r, statuses, known);
    }
  }

  /**
   * The provider's own account of its deliveries: a failed latest delivery of any event opens
   * a `deliveries-failing` gap (certain: the provider says so) from the first failure it
   * reports; once the latest delivery of every event succeeded, it closes at the first of
   * those successes that came after it opened.
   */
  async #gaps(account: string, row: RecordedSubscription, statuses: DeliveryStatus[], known: Map<string, DeliveryRecord>): Promise<void> {
    const gaps = this.deps.gaps;
    if (!gaps || !statuses.length) return;
    const records = statuses.map((st) => known.get(`${row.id}/${st.event}`)).filter((d): d is DeliveryRecord => d !== undefined && d.kind === 'delivered');
    const failed = records.filter((d) => d.success === false);
    if (failed.length) {
      const first = Math.min(...failed.map((d) => (d.lastFailureAt ?? d.deliveredAt ?? this.deps.clock.now()).getTime()));
      const d = this.deps.desired.find((x) => x.provider === account && x.name === row.name);
      await gaps.open({ provider: account, name: row.name, subject: 'subscription', cause: 'deliveries-failing', confidence: 'certain', from: new Date(first), remoteId: row.remoteId, events: d ? declaredEvents(d.spec) : [] });
    } else if (records.length && records.every((d) => d.success === true)) {
      const open = (await gaps.openOf(account)).find((g) => g.name === row.name && g.cause === 'deliveries-failing');
      if (!open) return;
      const after = records.map((d) => d.deliveredAt!).filter((t) => t && t.getTime() >= open.from.getTime());
      const to = after.length ? new Date(Math.min(...after.map((t) => t.getTime()))) : this.deps.clock.now();
      await gaps.close(account, row.name, { causes: ['deliveries-failing'], to });
    }
  }

  async #record(provider: Provider, row: RecordedSubscription, st: DeliveryStatus, prev: DeliveryRecord | undefined, signal?: AbortSignal): Promise<DeliveryRecord> {
    const { clock, logger, store } = this.deps;
    const name = row.name;
    const rec: DeliveryRecord = {
      subscriptionId: row.id,
      provider: provider.account,
      name,
      event: st.event,
      kind: st.kind,
      deliveredAt: st.at ?? null,
      success: st.success ?? null,
      responseCode: st.responseCode ?? null,
      responseText: clip(st.responseText),
      lastFailureAt: prev?.lastFailureAt ?? null,
      lastFailureCode: prev?.lastFailureCode ?? null,
      lastFailureText: prev?.lastFailureText ?? null,
      logsCheckedFor: prev?.logsCheckedFor ?? null,
      polledAt: clock.now(),
    };
    const isNew = st.kind === 'delivered' && st.at && (!prev?.deliveredAt || prev.deliveredAt < st.at);
    if (isNew && st.success === false && prev?.logsCheckedFor?.getTime() !== st.at!.getTime()) {
      // A new failure: read this event's log once, keep the latest failure (not the payload).
      const failed = (await provider.deliveryLogs?.(row.remoteId!, st.event, signal))?.find((e) => !e.success);
      rec.logsCheckedFor = st.at!;
      if (failed) {
        rec.lastFailureAt = failed.at;
        rec.lastFailureCode = failed.responseCode;
        rec.lastFailureText = clip(failed.responseText);
      }
      logger.warn({ provider: provider.account, subscription: name, event: st.event, responseCode: st.responseCode }, `${name}: the provider's delivery of ${st.event} failed (HTTP ${st.responseCode})`);
    }
    await store.saveDelivery(rec);
    const url = this.deps.desired.find((d) => d.provider === provider.account && d.name === name)?.callback?.url;
    if (isNew && url && this.deps.prober) {
      await this.deps.prober.signal(provider.account, url, { at: st.at!, ok: st.success === true, reason: `${name}: delivery of ${st.event} ${st.success ? 'succeeded' : 'failed'} (HTTP ${st.responseCode})`, counts: true });
    }
    return rec;
  }
}
