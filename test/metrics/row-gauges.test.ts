import { Registry, type Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/lib/metrics.js';
import type { SubscriptionGauge } from '../../src/store/types.js';

/**
 * The per-row gauges write their own text (a scrape at 10,000 subscriptions is some 60,000
 * such series): it must be exactly what prom-client writes for the same series.
 */
describe('per-row gauges', () => {
  it("write the text prom-client would write for them: escaping, missing values, a repeated label set's last row", async () => {
    const row = (provider: string, name: string, over: Partial<SubscriptionGauge> = {}): SubscriptionGauge => ({
      provider, name, state: 'active', expiresAt: 1_780_000_000_123, nextCheckAt: 1_780_000_000_000, lastRenewedAt: null, failureCount: 0, ...over,
    });
    const rows = [
      row('acct', 'plain'),
      row('acct', 'quote " and back\\slash', { failureCount: 3 }),
      row('acct', 'new\nline', { expiresAt: null, state: 'failing' }),
      row('other', 'plain', { lastRenewedAt: 1_779_999_999_000 }),
      // The same label set twice: one series, the last row's.
      row('acct', 'plain', { failureCount: 7 }),
      ...Array.from({ length: 2500 }, (_, i) => row(`bulk-${i % 7}`, `sub-${i}`, { failureCount: i % 3 })),
    ];
    const metrics = new Metrics(async () => rows, { defaultMetrics: false });
    const text = await metrics.registry.metrics();
    const plain = new Registry() as unknown as { getMetricsAsString(m: Metric): Promise<string> };
    const own = metrics.registry.getMetricsAsArray().filter((m) => 'promText' in m);
    expect(own.map((m) => m.name).sort()).toEqual([
      'hookwarden_subscription_active',
      'hookwarden_subscription_consecutive_failures',
      'hookwarden_subscription_expiry_timestamp_seconds',
      'hookwarden_subscription_last_renewal_timestamp_seconds',
      'hookwarden_subscription_next_check_timestamp_seconds',
    ]);
    for (const m of own) {
      const expected = await plain.getMetricsAsString(m as unknown as Metric);
      expect(text).toContain(`${expected}\n`);
      // Every row has one, except the time of a last renewal (one row only).
      expect(expected.split('\n').length).toBeGreaterThanOrEqual(m.name.includes('last_renewal') ? 3 : 2 + 2503);
    }
    expect(text).toContain('hookwarden_subscription_consecutive_failures{provider="acct",subscription="quote \\" and back\\\\slash"} 3');
    expect(text).toContain('hookwarden_subscription_consecutive_failures{provider="acct",subscription="plain"} 7');
    expect(text).not.toContain('hookwarden_subscription_expiry_timestamp_seconds{provider="acct",subscription="new\\nline"}');
  });
});
