import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/lib/metrics.js';
import { cli } from '../fixtures/cli.js';

describe('alert rules', () => {
  it('are printed as a Prometheus rules file whose expressions use only metrics hookwarden exports', async () => {
    const r = await cli(['alert-rules']);
    expect(r.code).toBe(0);
    const doc = parse(r.stdout) as { groups: { name: string; rules: { alert: string; expr: string; for: string; labels: { severity: string }; annotations: { summary: string; description: string } }[] }[] };
    const rules = doc.groups[0]!.rules;
    expect(rules.map((x) => x.alert)).toEqual(expect.arrayContaining(['HookwardenCallbackDisableSoon', 'HookwardenCallbackUnhealthy', 'HookwardenSubscriptionExpiring', 'HookwardenDown', 'HookwardenStoreDown']));
    const metrics = new Metrics(async () => [], { readTargets: async () => [], readDeliveries: async () => [], leases: { read: async () => [], holder: 'x' } });
    const exported = new Set(metrics.registry.getMetricsAsArray().map((m) => m.name));
    for (const x of rules) {
      for (const name of x.expr.match(/hookwarden_[a-z_]+/g) ?? []) expect(exported, `${x.alert}: ${name}`).toContain(name);
      expect(x.for).toMatch(/^\d+[smh]$/);
      expect(['info', 'warning', 'critical']).toContain(x.labels.severity);
      expect(x.annotations.summary).toBeTruthy();
      expect(x.annotations.description).toBeTruthy();
    }
  });
});
