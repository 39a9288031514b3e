import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecordedSubscription } from '../domain/types.js';

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

  constructor(readSubscriptions?: () => Promise<RecordedSubscription[]>, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'hookwarden_process_' });
    this.actions = new Counter({ name: 'hookwarden_actions_total', help: 'Actions executed, by outcome (succeeded, failed).', labelNames: ['provider', 'action', 'reason', 'outcome'], registers });
    this.providerErrors = new Counter({ name: 'hookwarden_provider_errors_total', help: 'Failed provider calls by error code.', labelNames: ['provider', 'code'], registers });
    this.passDuration = new Histogram({ name: 'hookwarden_reconcile_pass_duration_seconds', help: 'Duration of one reconcile pass over a provider account.', labelNames: ['provider'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.lastPassSuccess = new Gauge({ name: 'hookwarden_reconcile_last_success_timestamp_seconds', help: 'When a pass over the account last completed without a failed action.', labelNames: ['provider'], registers });
    this.orphans = new Gauge({ name: 'hookwarden_orphan_subscriptions', help: 'Subscriptions at the provider that match nothing declared.', labelNames: ['provider'], registers });
    this.massDeleteRefused = new Gauge({ name: 'hookwarden_mass_delete_refused', help: '1 while deletions are refused because they would remove more than half of what hookwarden owns.', labelNames: ['provider'], registers });

    if (readSubscriptions) {
      const labelNames = ['provider', 'subscription'] as const;
      let snapshot: Promise<RecordedSubscription[]> | undefined;
      // One read of Postgres per scrape, shared by the gauges below.
      const rows = () => (snapshot ??= readSubscriptions().finally(() => setTimeout(() => (snapshot = undefined), 0)));
      const gauge = (name: string, help: string, value: (r: RecordedSubscription) => number | undefined) =>
        new Gauge({
          name,
          help,
          labelNames,
          registers,
          async collect() {
            this.reset();
            for (const r of await rows()) {
              if (r.state === 'deleted') continue;
              const v = value(r);
              if (v !== undefined) this.set({ provider: r.provider, subscription: r.name }, v);
            }
          },
        });
      gauge('hookwarden_subscription_expiry_timestamp_seconds', 'When the subscription expires at the provider unless renewed.', (r) => (r.expiresAt ? r.expiresAt.getTime() / 1000 : undefined));
      gauge('hookwarden_subscription_next_check_timestamp_seconds', 'When hookwarden next looks at the subscription (renewal or periodic check).', (r) => r.nextCheckAt.getTime() / 1000);
      gauge('hookwarden_subscription_active', '1 when the provider reports the subscription ACTIVE, else 0.', (r) => (r.state === 'active' ? 1 : 0));
      gauge('hookwarden_subscription_consecutive_failures', 'Consecutive failed actions on the subscription.', (r) => r.failureCount);
      gauge('hookwarden_subscription_last_renewal_timestamp_seconds', 'When the subscription was last created or renewed.', (r) => (r.lastRenewedAt ? r.lastRenewedAt.getTime() / 1000 : undefined));
    }
  }
}
