import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecordedSubscription, RecordedTarget } from '../domain/types.js';
import type { DeliveryRecord } from '../store/types.js';

/**
 * Gauges describe state at scrape time (read from Postgres, so every replica reports the
 * same), counters describe events. Labels stay bounded: provider account, subscription
 * name, action, reason code, error code; never ids or URLs.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly actions: Counter<'provider' | 'action' | 'reason' | 'outcome'>;
  readonly providerErrors: Counter<'provider' | 'code'>;
  readonly passDuration: Histogram<'provider'>;
  readonly lastPassSuccess: Gauge<'provider'>;
  readonly orphans: Gauge<'provider'>;
  readonly massDeleteRefused: Gauge<'provider'>;
  readonly probeDuration: Histogram<'provider' | 'target' | 'outcome'>;
  readonly recreations: Counter<'provider' | 'reason'>;
  readonly providerRequests: Counter<'provider'>;
  readonly rateLimited: Counter<'provider'>;
  readonly storeUp: Gauge;
  readonly lastPassCompleted: Gauge<'provider'>;
  readonly leaseHeld: Gauge<'provider'>;

  constructor(
    readSubscriptions?: () => Promise<RecordedSubscription[]>,
    opts: {
      defaultMetrics?: boolean;
      readTargets?: () => Promise<RecordedTarget[]>;
      /** 1 healthy, 0 failing, undefined never probed (the health policy lives above lib). */
      targetUp?: (t: RecordedTarget) => 0 | 1 | undefined;
      readDeliveries?: () => Promise<DeliveryRecord[]>;
      /** The accounts' leases, and this replica's holder id. */
      leases?: { read: () => Promise<{ account: string; holder: string; expiresAt: Date }[]>; holder: string };
    } = {},
  ) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'hookwarden_process_' });
      // Gauges named like counters (promtool check metrics rejects them): left out.
      for (const n of ['active_handles_total', 'active_requests_total', 'active_resources_total']) this.registry.removeSingleMetric(`hookwarden_process_nodejs_${n}`);
    }
    this.actions = new Counter({ name: 'hookwarden_actions_total', help: 'Actions executed, by outcome (succeeded, failed).', labelNames: ['provider', 'action', 'reason', 'outcome'], registers });
    this.providerErrors = new Counter({ name: 'hookwarden_provider_errors_total', help: 'Failed provider calls by error code.', labelNames: ['provider', 'code'], registers });
    this.passDuration = new Histogram({ name: 'hookwarden_reconcile_pass_duration_seconds', help: 'Duration of one reconcile pass over a provider account.', labelNames: ['provider'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.lastPassSuccess = new Gauge({ name: 'hookwarden_reconcile_last_success_timestamp_seconds', help: 'When a pass over the account last completed without a failed action.', labelNames: ['provider'], registers });
    this.orphans = new Gauge({ name: 'hookwarden_orphan_subscriptions', help: 'Subscriptions at the provider that match nothing declared.', labelNames: ['provider'], registers });
    this.massDeleteRefused = new Gauge({ name: 'hookwarden_mass_delete_refused', help: '1 while deletions are refused because they would remove more than half of what hookwarden owns.', labelNames: ['provider'], registers });

    this.probeDuration = new Histogram({ name: 'hookwarden_probe_duration_seconds', help: 'Callback probe latency, by outcome (ok or the failure class).', labelNames: ['provider', 'target', 'outcome'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10], registers });
    this.providerRequests = new Counter({ name: 'hookwarden_provider_requests_total', help: 'HTTP requests sent to the provider account, retries included (providers with a published rate limit).', labelNames: ['provider'], registers });
    this.rateLimited = new Counter({ name: 'hookwarden_provider_rate_limited_total', help: 'Answers 429 Too Many Requests from the provider account.', labelNames: ['provider'], registers });
    this.storeUp = new Gauge({ name: 'hookwarden_store_up', help: '1 while Postgres answers, 0 while it is unreachable (no pass starts then).', registers });
    this.lastPassCompleted = new Gauge({ name: 'hookwarden_reconcile_last_pass_timestamp_seconds', help: 'When this process last completed a pass over the account, whatever its outcome.', labelNames: ['provider'], registers });
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
    this.recreations = new Counter({ name: 'hookwarden_recreations_total', help: 'Subscriptions deleted and created again (or created again after the provider lost them), by reason.', labelNames: ['provider', 'reason'], registers });

    const ts = (d: Date | null) => (d ? d.getTime() / 1000 : undefined);
    if (opts.readTargets) {
      const up = opts.targetUp ?? ((t: RecordedTarget) => (t.lastProbeAt ? (t.consecutiveFailures === 0 ? 1 : 0) : undefined));
      const gauge = rowGauges(registers, opts.readTargets, 'target', (t) => ({ provider: t.provider, target: t.name }));
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
      const gauge = rowGauges(registers, latest, 'subscription', (d) => ({ provider: d.provider, subscription: d.name }));
      gauge('hookwarden_delivery_last_timestamp_seconds', "The provider's last delivery attempt to the subscription's callback, as it reports it.", (d) => ts(d.deliveredAt));
      gauge('hookwarden_delivery_last_success', '1 when that last delivery succeeded, else 0.', (d) => (d.success ? 1 : 0));
    }
    if (readSubscriptions) {
      const live = async () => (await readSubscriptions()).filter((r) => r.state !== 'deleted');
      const gauge = rowGauges(registers, live, 'subscription', (r) => ({ provider: r.provider, subscription: r.name }));
      gauge('hookwarden_subscription_expiry_timestamp_seconds', 'When the subscription expires at the provider unless renewed.', (r) => ts(r.expiresAt));
      gauge('hookwarden_subscription_next_check_timestamp_seconds', 'When hookwarden next looks at the subscription (renewal or periodic check).', (r) => ts(r.nextCheckAt));
      gauge('hookwarden_subscription_active', '1 when the provider reports the subscription ACTIVE, else 0.', (r) => (r.state === 'active' ? 1 : 0));
      gauge('hookwarden_subscription_consecutive_failures', 'Consecutive failed actions on the subscription.', (r) => r.failureCount);
      gauge('hookwarden_subscription_last_renewal_timestamp_seconds', 'When the subscription was last created or renewed.', (r) => ts(r.lastRenewedAt));
    }
  }
}

/**
 * A factory of gauges computed from rows read at scrape time: one read of Postgres per
 * scrape is shared by every gauge of the family, and each gauge is reset before it is
 * filled, so rows that disappeared leave no stale series.
 */
function rowGauges<T, L extends string>(registers: Registry[], read: () => Promise<T[]>, label: L, labels: (row: T) => Record<'provider' | L, string>) {
  let snapshot: Promise<T[]> | undefined;
  // While the database is unreachable a scrape still answers, from the last rows read.
  let lastGood: T[] = [];
  const readOrLast = () =>
    read().then(
      (rows) => (lastGood = rows),
      () => lastGood,
    );
  const rows = () => (snapshot ??= readOrLast().finally(() => setTimeout(() => (snapshot = undefined), 0)));
  return (name: string, help: string, value: (row: T) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['provider', label],
      registers,
      async collect() {
        this.reset();
        for (const r of await rows()) {
          const v = value(r);
          if (v !== undefined) this.set(labels(r), v);
        }
      },
    });
}
