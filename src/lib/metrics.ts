import { readFileSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { ActionKind, RecordedTarget, SubscriptionState } from '../domain/types.js';
import type { DeliveryRecord, GapRow, SubscriptionGauge } from '../store/types.js';
import type { RequestObserver } from './http.js';

/** hookwarden's version, from its package.json (next to dist/ and src/ alike). */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();

/** prom-client's gauges whose names end in `_total` (promtool check metrics rejects them); the same counts are exported by type without the suffix. */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** What the gap gauges read of an open coverage gap (a GapRow has it). */
export type OpenGap = Pick<GapRow, 'provider' | 'name' | 'from'> & { cause: string };

/** The states a live subscription can be in (`deleted` rows are not exported). */
const LIVE_STATES: readonly Exclude<SubscriptionState, 'deleted'>[] = ['pending', 'active', 'inactive', 'failing', 'rejected', 'disabled'];

/** Provider error codes initialised at 0 for each account, so that increase() sees the first one (alerts). */
const ALERTED_ERROR_CODES = ['PROVIDER_AUTH_FAILED', 'PROVIDER_UNAUTHORIZED', 'PROVIDER_FORBIDDEN'];

/**
 * The metrics registry. Gauges describe state at scrape time (read from Postgres, so every
 * replica reports the same), counters describe events. Labels stay bounded: provider
 * account, subscription or target name, action, reason code, error code, operation, status
 * class, result; never ids, URLs or free text. docs/metrics.md lists every metric.
 */
export class Metrics {
  readonly registry: Registry = new RowRegistry();
  readonly buildInfo: Gauge<'version' | 'node'>;
  readonly actions: Counter<'provider' | 'action' | 'reason' | 'outcome'>;
  readonly renewals: Counter<'provider' | 'result'>;
  readonly recreations: Counter<'provider' | 'reason' | 'result'>;
  readonly providerErrors: Counter<'provider' | 'code'>;
  readonly providerRequests: Counter<'provider' | 'operation' | 'status_class'>;
  readonly providerRequestDuration: Histogram<'provider' | 'operation' | 'status_class'>;
  readonly rateLimited: Counter<'provider'>;
  readonly passDuration: Histogram<'provider'>;
  readonly lastPassSuccess: Gauge<'provider'>;
  readonly lastPassCompleted: Gauge<'provider'>;
  readonly orphans: Gauge<'provider'>;
  readonly massDeleteRefused: Gauge<'provider'>;
  readonly probeDuration: Histogram<'provider' | 'target' | 'outcome'>;
  readonly storeUp: Gauge;
  readonly leaseHeld: Gauge<'provider'>;
  readonly configReloads: Counter<'result'>;
  readonly configLastReloadSuccess: Gauge;
  readonly configLastReloadTimestamp: Gauge;
  readonly coverageGaps: Counter<'provider' | 'cause'>;
  readonly coverageGapSeconds: Counter<'provider' | 'cause'>;
  readonly gapHookDeliveries: Counter<'result'>;
  readonly #accounts = new Set<string>();

  constructor(
    readSubscriptions?: () => Promise<SubscriptionGauge[]>,
    opts: {
      defaultMetrics?: boolean;
      readTargets?: () => Promise<RecordedTarget[]>;
      /** 1 healthy, 0 failing, undefined never probed (the health policy lives above lib). */
      targetUp?: (t: RecordedTarget) => 0 | 1 | undefined;
      readDeliveries?: () => Promise<DeliveryRecord[]>;
      /** The accounts' leases, and this replica's holder id. */
      leases?: { read: () => Promise<{ account: string; holder: string; expiresAt: Date }[]>; holder: string };
      /** The coverage gaps open now (store.openGaps). */
      readOpenGaps?: () => Promise<OpenGap[]>;
    } = {},
  ) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) {
      // The process and runtime metrics under their standard names (process_cpu_seconds_total, nodejs_…).
      collectDefaultMetrics({ register: this.registry });
      for (const n of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(n);
    }
    this.buildInfo = new Gauge({ name: 'hookwarden_build_info', help: 'Always 1; labelled with the hookwarden version and the Node.js version running it.', labelNames: ['version', 'node'], registers });
    this.buildInfo.set({ version: VERSION, node: process.version }, 1);

    // Reconciling.
    this.actions = new Counter({ name: 'hookwarden_actions_total', help: 'Actions executed, by action, reason code and outcome (succeeded, failed).', labelNames: ['provider', 'action', 'reason', 'outcome'], registers });
    this.renewals = new Counter({ name: 'hookwarden_renewals_total', help: 'Renewals (renew, or reactivate in place) of subscriptions, by result (success, failure).', labelNames: ['provider', 'result'], registers });
    this.recreations = new Counter({ name: 'hookwarden_recreations_total', help: 'Subscriptions deleted and created again (or created again after the provider lost them), by reason code and result (success, failure).', labelNames: ['provider', 'reason', 'result'], registers });
    this.passDuration = new Histogram({ name: 'hookwarden_reconcile_pass_duration_seconds', help: 'Duration of one reconcile pass over a provider account.', labelNames: ['provider'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.lastPassSuccess = new Gauge({ name: 'hookwarden_reconcile_last_success_timestamp_seconds', help: 'When this process last completed a pass over the account without a failed action.', labelNames: ['provider'], registers });
    this.lastPassCompleted = new Gauge({ name: 'hookwarden_reconcile_last_pass_timestamp_seconds', help: 'When this process last completed a pass over the account, whatever its outcome.', labelNames: ['provider'], registers });
    this.orphans = new Gauge({ name: 'hookwarden_orphan_subscriptions', help: 'Subscriptions at the provider that match nothing declared.', labelNames: ['provider'], registers });
    this.massDeleteRefused = new Gauge({ name: 'hookwarden_mass_delete_refused', help: '1 while deletions are refused because they would remove more than half of what hookwarden owns, else 0.', labelNames: ['provider'], registers });

    // Provider HTTP.
    this.providerRequests = new Counter({ name: 'hookwarden_provider_requests_total', help: 'HTTP requests sent to the provider account, retries included, by operation and status class (2xx, 4xx, 5xx, timeout, network, aborted).', labelNames: ['provider', 'operation', 'status_class'], registers });
    this.providerRequestDuration = new Histogram({ name: 'hookwarden_provider_request_duration_seconds', help: "Time from a request to the provider leaving to its answer's headers (or its failure), retries counted one by one.", labelNames: ['provider', 'operation', 'status_class'], buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    this.providerErrors = new Counter({ name: 'hookwarden_provider_errors_total', help: 'Failed provider calls (after retries) that failed an action or a listing, by error code.', labelNames: ['provider', 'code'], registers });
    this.rateLimited = new Counter({ name: 'hookwarden_provider_rate_limited_total', help: 'Answers 429 Too Many Requests from the provider account, retries included.', labelNames: ['provider'], registers });

    // Callbacks, store, leases, configuration.
    this.probeDuration = new Histogram({ name: 'hookwarden_probe_duration_seconds', help: 'Callback probe latency, by outcome (ok or the failure class).', labelNames: ['provider', 'target', 'outcome'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10], registers });
    this.storeUp = new Gauge({ name: 'hookwarden_store_up', help: '1 while Postgres answers, 0 while it is unreachable (no pass starts then).', registers });
    const leases = opts.leases;
    this.leaseHeld = new Gauge({
      name: 'hookwarden_lease_held',
      help: "1 while this replica holds the account's lease (it alone writes to that provider account), else 0.",
      labelNames: ['provider'],
      registers,
      async collect() {
        if (!leases) return;
        this.reset();
        const now = Date.now();
        for (const l of await leases.read().catch(() => [])) this.set({ provider: l.account }, l.holder === leases.holder && l.expiresAt.getTime() > now ? 1 : 0);
      },
    });
    this.configReloads = new Counter({ name: 'hookwarden_config_reloads_total', help: 'Attempts to reload the configuration, by result (success: applied; failure: refused, the previous one stays).', labelNames: ['result'], registers });
    this.configLastReloadSuccess = new Gauge({ name: 'hookwarden_config_last_reload_success', help: '1 when the last configuration reload was applied (or none was tried), 0 when it was refused.', registers });
    this.configLastReloadTimestamp = new Gauge({ name: 'hookwarden_config_last_reload_timestamp_seconds', help: 'When the configuration was last loaded (at start) or a reload last tried.', registers });
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0);

    // Coverage gaps: windows in which a subscription's events may not have reached its callback.
    this.coverageGaps = new Counter({ name: 'hookwarden_coverage_gaps_total', help: 'Coverage gaps closed (windows in which events may not have reached the callback), by cause.', labelNames: ['provider', 'cause'], registers });
    this.coverageGapSeconds = new Counter({ name: 'hookwarden_coverage_gap_seconds_total', help: 'Total length of the coverage gaps closed, by cause.', labelNames: ['provider', 'cause'], registers });
    this.gapHookDeliveries = new Counter({ name: 'hookwarden_gap_hook_deliveries_total', help: 'Backfill hook deliveries tried, by result (success: a 2xx answer; failure: anything else).', labelNames: ['result'], registers });
    for (const result of ['success', 'failure']) this.gapHookDeliveries.inc({ result }, 0);
    const openGaps = snapshot(opts.readOpenGaps ?? (async () => []));
    const gapGauge = (name: string, help: string, value: (g: OpenGap) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['provider', 'subscription', 'cause'],
        registers,
        async collect() {
          this.reset();
          // One open gap per (provider, name, cause): the store keeps them unique.
          for (const g of await openGaps()) this.set({ provider: g.provider, subscription: g.name, cause: g.cause }, value(g));
        },
      });
    gapGauge('hookwarden_coverage_gap_open', '1 while a coverage gap of the subscription (or watch-only target) is open, by cause; absent otherwise.', () => 1);
    gapGauge('hookwarden_coverage_gap_start_timestamp_seconds', 'When the open coverage gap began (its events may be missing from then on); absent when none is open.', (g) => g.from.getTime() / 1000);
    this.configLastReloadSuccess.set(1);
    this.configLastReloadTimestamp.set(Date.now() / 1000);

    const ts = (d: Date | null) => (d ? d.getTime() / 1000 : undefined);
    if (opts.readTargets) {
      const up = opts.targetUp ?? ((t: RecordedTarget) => (t.lastProbeAt ? (t.consecutiveFailures === 0 ? 1 : 0) : undefined));
      const gauge = rowGauges(registers, snapshot(opts.readTargets), 'target', (t) => ({ provider: t.provider, target: t.name }));
      gauge('hookwarden_callback_up', '1 when the callback answered the last probe with 200, 0 when it is failing; absent until probed.', up);
      gauge('hookwarden_callback_consecutive_failures', 'Failed probes (or deliveries) in a row.', (t) => t.consecutiveFailures);
      gauge('hookwarden_callback_unhealthy_since_timestamp_seconds', 'Since when the provider may count the callback unhealthy; absent while healthy.', (t) => ts(t.unhealthySince));
      gauge('hookwarden_callback_disable_timestamp_seconds', 'Projected time the provider disables every subscription on the callback; absent while healthy.', (t) => ts(t.disableAt));
      gauge('hookwarden_callback_delete_timestamp_seconds', 'Projected time the provider deletes them; absent while healthy.', (t) => ts(t.deleteAt));
      gauge('hookwarden_callback_last_success_timestamp_seconds', 'Last 200 from the callback.', (t) => ts(t.lastSuccessAt));
    }
    if (opts.readDeliveries) {
      const read = opts.readDeliveries;
      // Per subscription, its most recent delivery across events.
      const latest = async () => {
        const m = new Map<string, DeliveryRecord>();
        for (const d of await read()) {
          const k = `${d.provider}\u0000${d.name}`;
          const cur = m.get(k);
          if (d.deliveredAt && (!cur?.deliveredAt || cur.deliveredAt < d.deliveredAt)) m.set(k, d);
        }
        return [...m.values()];
      };
      const gauge = rowGauges(registers, snapshot(latest), 'subscription', (d) => ({ provider: d.provider, subscription: d.name }));
      gauge('hookwarden_delivery_last_timestamp_seconds', "The provider's last delivery attempt to the subscription's callback, as it reports it.", (d) => ts(d.deliveredAt));
      gauge('hookwarden_delivery_last_success', '1 when that last delivery succeeded, else 0.', (d) => (d.success ? 1 : 0));
    }
    if (readSubscriptions) {
      const rows = snapshot(async () => (await readSubscriptions()).filter((r) => r.state !== 'deleted'));
      new Gauge({
        name: 'hookwarden_subscriptions',
        help: 'Declared subscriptions by state (pending, active, inactive, failing, rejected, disabled).',
        labelNames: ['provider', 'state'],
        registers,
        async collect() {
          this.reset();
          const counts = new Map<string, Map<string, number>>();
          for (const r of await rows()) {
            const byState = counts.get(r.provider) ?? new Map<string, number>(LIVE_STATES.map((s) => [s, 0]));
            counts.set(r.provider, byState.set(r.state, (byState.get(r.state) ?? 0) + 1));
          }
          for (const [provider, byState] of counts) for (const [state, n] of byState) this.set({ provider, state }, n);
        },
      });
      const gauge = rowGauges(registers, rows, 'subscription', (r) => ({ provider: r.provider, subscription: r.name }));
      const seconds = (ms: number | null) => (ms === null ? undefined : ms / 1000);
      gauge('hookwarden_subscription_expiry_timestamp_seconds', 'When the subscription expires at the provider unless renewed; absent for subscriptions that do not expire.', (r) => seconds(r.expiresAt));
      gauge('hookwarden_subscription_next_check_timestamp_seconds', 'When hookwarden next looks at the subscription (renewal or periodic check).', (r) => seconds(r.nextCheckAt));
      gauge('hookwarden_subscription_active', '1 when the provider reports the subscription ACTIVE, else 0.', (r) => (r.state === 'active' ? 1 : 0));
      gauge('hookwarden_subscription_consecutive_failures', 'Consecutive failed actions on the subscription.', (r) => r.failureCount);
      gauge('hookwarden_subscription_last_renewal_timestamp_seconds', 'When the subscription was last created or renewed.', (r) => seconds(r.lastRenewedAt));
    }
  }

  /**
   * The request observer of one provider account (pass it to requestJson as `observe`):
   * counts and times every request attempt by operation and status class, and counts 429s.
   * The account's counters that alerts watch start at 0, so that increase() sees their first event.
   */
  providerRequestObserver(provider: string): RequestObserver {
    if (!this.#accounts.has(provider)) {
      this.#accounts.add(provider);
      for (const result of ['success', 'failure']) this.renewals.inc({ provider, result }, 0);
      for (const code of ALERTED_ERROR_CODES) this.providerErrors.inc({ provider, code }, 0);
      this.rateLimited.inc({ provider }, 0);
    }
    return ({ op, statusClass, status, seconds }) => {
      const labels = { provider, operation: op, status_class: statusClass };
      this.providerRequests.inc(labels);
      this.providerRequestDuration.observe(labels, seconds);
      if (status === 429) this.rateLimited.inc({ provider });
    };
  }

  /**
   * One executed action: counted by outcome, and as a renewal or a recreation (`recreated`:
   * the subscription was, or was to be, deleted and created again).
   */
  recordAction(provider: string, a: { action: ActionKind; reason: string }, outcome: 'succeeded' | 'failed', recreated: boolean): void {
    this.actions.inc({ provider, action: a.action, reason: a.reason, outcome });
    const result = outcome === 'succeeded' ? 'success' : 'failure';
    if (recreated) this.recreations.inc({ provider, reason: a.reason, result });
    else if (a.action === 'renew' || a.action === 'reactivate') this.renewals.inc({ provider, result });
  }

  /** A coverage gap closed after `seconds`. */
  gapClosed(provider: string, cause: string, seconds: number): void {
    this.coverageGaps.inc({ provider, cause });
    if (Number.isFinite(seconds) && seconds > 0) this.coverageGapSeconds.inc({ provider, cause }, seconds);
    else this.coverageGapSeconds.inc({ provider, cause }, 0);
  }

  /** One attempt to deliver a backfill hook. */
  gapHookAttempt(ok: boolean): void {
    this.gapHookDeliveries.inc({ result: ok ? 'success' : 'failure' });
  }

  /** A configuration reload: applied (`ok`) or refused. */
  recordConfigReload(ok: boolean, at: Date = new Date()): void {
    this.configReloads.inc({ result: ok ? 'success' : 'failure' });
    this.configLastReloadSuccess.set(ok ? 1 : 0);
    this.configLastReloadTimestamp.set(at.getTime() / 1000);
  }
}

/**
 * Rows read at scrape time, one read of Postgres per scrape shared by every gauge built on
 * it. While the database is unreachable a scrape still answers, from the last rows read.
 */
function snapshot<T>(read: () => Promise<T[]>): () => Promise<T[]> {
  let current: Promise<T[]> | undefined;
  let lastGood: T[] = [];
  const readOrLast = () =>
    read().then(
      (rows) => (lastGood = rows),
      () => lastGood,
    );
  return () => (current ??= readOrLast().finally(() => setTimeout(() => (current = undefined), 0)));
}

/** Rows turned into series between two yields to the event loop (see rowGauges). */
const ROWS_PER_SLICE = 1000;

/**
 * A registry that lets a metric write its own text (`promText`): the per-row gauges below,
 * some 60,000 series at 10,000 subscriptions, whose generic formatting (an object of labels
 * per series, each label escaped and joined again for each of the five gauges of a row)
 * was most of a scrape's CPU. Every other metric is formatted by prom-client as usual.
 */
class RowRegistry extends Registry {
  async getMetricsAsString(metric: Metric): Promise<string> {
    const own = (metric as { promText?: () => Promise<string> }).promText;
    return own ? own.call(metric) : (Registry.prototype as unknown as { getMetricsAsString(m: Metric): Promise<string> }).getMetricsAsString.call(this, metric);
  }
}

/** A label value as the text format writes it (prom-client's escaping). */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** A HELP text as the text format writes it. */
function helpText(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * A factory of gauges with one series per row, built afresh at each scrape (rows that
 * disappeared leave no stale series). At 10,000 subscriptions a scrape makes some 60,000
 * series. Each gauge writes its own lines (RowRegistry): the label set of a row is escaped
 * once per scrape and shared by every gauge of the family. Built in one go, the series held
 * the event loop for most of a second and renewals due meanwhile came out in a burst, so
 * rows are turned into lines a slice at a time, letting passes, probes and the heartbeat run
 * in between. Two rows with the same labels make one series, the last row's, as Gauge.set
 * did: a repeated series would fail the scrape. `get()` (JSON, prom-client's own uses)
 * gives the same series as objects.
 */
function rowGauges<T, L extends string>(registers: Registry[], rows: () => Promise<T[]>, label: L, labels: (row: T) => Record<'provider' | L, string>) {
  // The escaped label block of each row, once per snapshot of rows (a scrape's gauges share one).
  const blocks = new WeakMap<T[], Promise<{ keys: string[]; blocks: string[] }>>();
  const blocksOf = (all: T[]) => {
    let b = blocks.get(all);
    if (!b) {
      b = (async () => {
        const keys: string[] = [];
        const out: string[] = [];
        for (let i = 0; i < all.length; i++) {
          const l = labels(all[i]!);
          keys.push(`${l.provider}\u0000${l[label]}`);
          out.push(`{provider="${labelValue(l.provider)}",${label}="${labelValue(l[label])}"}`);
          if ((i + 1) % ROWS_PER_SLICE === 0) await yieldToLoop();
        }
        return { keys, blocks: out };
      })();
      blocks.set(all, b);
    }
    return b;
  };
  return (name: string, help: string, value: (row: T) => number | undefined): void => {
    const metric = {
      name,
      help,
      type: 'gauge' as const,
      aggregator: 'sum' as const,
      labelNames: ['provider', label],
      reset() {},
      async get() {
        const values = new Map<string, { labels: Record<string, string>; value: number }>();
        let n = 0;
        for (const r of await rows()) {
          const v = value(r);
          if (v !== undefined) {
            const l = labels(r);
            values.set(`${l.provider}\u0000${l[label]}`, { labels: l, value: v });
          }
          if (++n % ROWS_PER_SLICE === 0) await yieldToLoop();
        }
        return { name, help, type: metric.type, values: [...values.values()], aggregator: metric.aggregator };
      },
      async promText(): Promise<string> {
        const all = await rows();
        const { keys, blocks: block } = await blocksOf(all);
        // The last row of each label set wins.
        const last = new Map<string, number>();
        for (let i = 0; i < all.length; i++) if (value(all[i]!) !== undefined) last.set(keys[i]!, i);
        const lines = [`# HELP ${name} ${helpText(help)}`, `# TYPE ${name} gauge`];
        let n = 0;
        for (const i of last.values()) {
          lines.push(`${name}${block[i]} ${formatValue(value(all[i]!)!)}`);
          if (++n % ROWS_PER_SLICE === 0) await yieldToLoop();
        }
        return lines.join('\n');
      },
    };
    for (const r of registers) r.registerMetric(metric as unknown as Metric);
  };
}

/** A sample value as prom-client writes it. */
function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'Nan';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return `${v}`;
}
