import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { alertRules, type AlertRule } from '../../src/server/alerts.js';
import { cli, ROOT } from '../fixtures/cli.js';
import { liveRegistry, metricNamesIn } from '../metrics/live.js';
import { needPromtool, runPromtool } from '../metrics/promtool.js';

/**
 * deploy/prometheus/alerts.yaml is what `hookwarden alert-rules` prints (regenerate it with
 * `npx hookwarden alert-rules > deploy/prometheus/alerts.yaml`), and alerts.test.yaml
 * unit-tests every alert in it with promtool.
 */
const DIR = join(ROOT, 'deploy', 'prometheus');
const shipped = () => readFileSync(join(DIR, 'alerts.yaml'), 'utf8');
const rulesOf = (text: string) => (parse(text) as { groups: { name: string; rules: AlertRule[] }[] }).groups.flatMap((g) => g.rules);

interface UnitTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

let exported: Set<string>;
beforeAll(async () => {
  exported = new Set((await liveRegistry()).keys());
});

describe('deploy/prometheus', () => {
  it('alerts.yaml is exactly what `hookwarden alert-rules` prints', async () => {
    const r = await cli(['alert-rules']);
    expect(r.code).toBe(0);
    expect(shipped(), 'regenerate it: npx hookwarden alert-rules > deploy/prometheus/alerts.yaml').toBe(r.stdout);
  });

  it('every alert has a severity, a summary and a description saying what to do, on metrics hookwarden exports', () => {
    const rules = rulesOf(shipped());
    expect(rules.length).toBeGreaterThanOrEqual(20);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const r of rules) {
      expect(r.alert).toMatch(/^Hookwarden[A-Z][A-Za-z]+$/);
      expect(['critical', 'warning', 'info']).toContain(r.labels.severity);
      expect(r.for).toMatch(/^\d+[smh]$/);
      expect(r.annotations.summary.length, r.alert).toBeGreaterThan(15);
      expect(r.annotations.description.length, r.alert).toBeGreaterThan(60);
      const names = metricNamesIn(r.expr);
      expect(names.length > 0 || /\bup\{/.test(r.expr), r.alert).toBe(true);
      for (const n of names) expect(exported, `${r.alert}: ${n}`).toContain(n);
    }
  });

  it('covers what must page or warn someone', () => {
    const byName = new Map(rulesOf(shipped()).map((r) => [r.alert, r]));
    const expr = (name: string) => {
      expect(byName.has(name), name).toBe(true);
      return byName.get(name)!.expr;
    };
    const severity = (name: string) => byName.get(name)!.labels.severity;
    expect(expr('HookwardenDown')).toBe('up{job="hookwarden"} == 0');
    expect(expr('HookwardenAbsent')).toBe('absent(up{job="hookwarden"})');
    expect(expr('HookwardenStoreDown')).toBe('hookwarden_store_up == 0');
    expect(expr('HookwardenConfigReloadFailed')).toBe('hookwarden_config_last_reload_success == 0');
    // Three intervals of the example config's reconcileEvery (60s).
    expect(expr('HookwardenReconcileStalled')).toContain('hookwarden_reconcile_last_success_timestamp_seconds) > 180');
    expect(byName.get('HookwardenReconcileNeverSucceeded')!.for).toBe('3m');
    expect(expr('HookwardenRenewalOverdue')).toContain('hookwarden_subscription_next_check_timestamp_seconds');
    expect(expr('HookwardenSubscriptionExpiring')).toContain('hookwarden_subscription_expiry_timestamp_seconds');
    expect(expr('HookwardenSubscriptionExpired')).toContain('hookwarden_subscription_expiry_timestamp_seconds');
    expect(expr('HookwardenRenewalsFailing')).toContain('hookwarden_renewals_total{result="failure"}');
    expect(expr('HookwardenRecreationsFailing')).toContain('hookwarden_recreations_total{result="failure"}');
    expect(expr('HookwardenCallbackUnhealthy')).toContain('hookwarden_callback_unhealthy_since_timestamp_seconds');
    expect(severity('HookwardenCallbackUnhealthy')).toBe('warning');
    expect(expr('HookwardenCallbackDisableSoon')).toContain('< 2 * 3600');
    expect(severity('HookwardenCallbackDisableSoon')).toBe('critical');
    expect(expr('HookwardenCallbackDeleteSoon')).toContain('hookwarden_callback_delete_timestamp_seconds');
    expect(expr('HookwardenRateLimited')).toContain('hookwarden_provider_rate_limited_total');
    expect(expr('HookwardenProviderAuthFailing')).toContain('PROVIDER_AUTH_FAILED');
  });

  it('docs/metrics.md lists every alert with its severity', () => {
    const docs = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
    const listed = [...docs.matchAll(/^\| `(Hookwarden\w+)` \| (\w+) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(listed.sort()).toEqual(rulesOf(shipped()).map((r) => `${r.alert} ${r.labels.severity}`).sort());
  });

  it('thresholds counted in reconcile intervals follow the config', () => {
    const rules = new Map(alertRules({ reconcileEverySeconds: 300 }).groups[0]!.rules.map((r) => [r.alert, r]));
    expect(rules.get('HookwardenReconcileStalled')!.expr).toContain('> 900');
    expect(rules.get('HookwardenReconcileNeverSucceeded')!.for).toBe('15m');
    expect(rules.get('HookwardenRenewalOverdue')!.expr).toContain('> 900');
    expect(alertRules({ job: 'hw' }).groups[0]!.rules.find((r) => r.alert === 'HookwardenDown')!.expr).toBe('up{job="hw"} == 0');
  });

  it('a coverage gap alerts after the config’s gapAlertAfter (30m in the example config)', () => {
    const shipped = new Map(rulesOf(readFileSync(join(DIR, 'alerts.yaml'), 'utf8')).map((r) => [r.alert, r]));
    expect(shipped.get('HookwardenCoverageGapOpen')!.expr).toBe('time() - min by (provider, subscription, cause) (hookwarden_coverage_gap_start_timestamp_seconds) > 1800');
    expect(shipped.get('HookwardenCoverageGapOpen')!.labels.severity).toBe('warning');
    expect(shipped.get('HookwardenGapHookFailing')!.expr).toContain('hookwarden_gap_hook_deliveries_total{result="failure"}');
    const hour = alertRules({ gapAlertAfterSeconds: 3600 }).groups[0]!.rules.find((r) => r.alert === 'HookwardenCoverageGapOpen')!;
    expect(hour.expr).toContain('> 3600');
    expect(hour.annotations.description).toContain('open for more than 1h');
  });

  it('alerts.test.yaml has a firing case for every alert, and names no other', () => {
    const doc = parse(readFileSync(join(DIR, 'alerts.test.yaml'), 'utf8')) as UnitTests;
    expect(doc.rule_files).toEqual(['alerts.yaml']);
    const cases = doc.tests.flatMap((t) => t.alert_rule_test ?? []);
    const alerts = rulesOf(shipped()).map((r) => r.alert);
    const firing = new Set(cases.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
    expect([...firing].sort()).toEqual([...alerts].sort());
    for (const c of cases) expect(alerts).toContain(c.alertname);
    // Most alerts also have a case where they must stay quiet.
    const quiet = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
    expect(quiet.size).toBeGreaterThanOrEqual(alerts.length - 2);
  });

  it('promtool check rules accepts alerts.yaml', (ctx) => {
    const promtool = needPromtool(ctx);
    const r = runPromtool(promtool, ['check', 'rules', 'alerts.yaml'], { cwd: DIR });
    expect(r.output).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('promtool test rules passes alerts.test.yaml', (ctx) => {
    const promtool = needPromtool(ctx);
    const r = runPromtool(promtool, ['test', 'rules', 'alerts.test.yaml'], { cwd: DIR });
    expect(r.output).toContain('SUCCESS');
    expect(r.code, r.output).toBe(0);
  });
});
