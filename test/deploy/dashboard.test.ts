import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ROOT } from '../fixtures/cli.js';
import { liveRegistry, metricNamesIn } from '../metrics/live.js';
import { needPromtool, runPromtool } from '../metrics/promtool.js';

/** deploy/grafana/hookwarden.json: an importable dashboard whose queries name only metrics hookwarden exports. */
interface Target {
  expr: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
  includeAll?: boolean;
}
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'hookwarden.json'), 'utf8')) as Dashboard;
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
const queryOf = (v: Variable) => (typeof v.query === 'string' ? v.query : v.query.query);
const DS = { type: 'prometheus', uid: '${datasource}' };

let exported: Set<string>;
beforeAll(async () => {
  exported = new Set((await liveRegistry()).keys());
});

describe('Grafana dashboard', () => {
  it('is importable: schema version, a Prometheus data source input and variable, a provider variable', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.schemaVersion).toBeLessThanOrEqual(41);
    expect(dashboard.title).toBe('hookwarden');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const provider = vars.get('provider')!;
    expect(provider).toMatchObject({ type: 'query', datasource: DS, includeAll: true });
    expect(queryOf(provider)).toMatch(/^label_values\(.*, provider\)$/);
  });

  it('every panel and query uses the ${datasource} variable; ids are unique; panels fit the grid without overlapping', () => {
    expect(panels.length).toBeGreaterThanOrEqual(15);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual(DS);
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(t.datasource, p.title).toEqual(DS);
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    }
    const cells = new Set<string>();
    for (const p of dashboard.panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${p.title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('names only metrics the live registry exports (histogram series folded into their family)', () => {
    const named = new Set<string>();
    for (const t of targets) for (const n of metricNamesIn(t.expr)) named.add(n);
    for (const v of dashboard.templating.list) if (v.type === 'query') for (const n of metricNamesIn(queryOf(v))) named.add(n);
    expect(named.size).toBeGreaterThan(15);
    for (const n of named) expect(exported, n).toContain(n);
    // What the dashboard is for.
    for (const n of [
      'hookwarden_subscriptions',
      'hookwarden_subscription_expiry_timestamp_seconds',
      'hookwarden_callback_up',
      'hookwarden_callback_disable_timestamp_seconds',
      'hookwarden_callback_delete_timestamp_seconds',
      'hookwarden_provider_requests_total',
      'hookwarden_provider_request_duration_seconds',
      'hookwarden_reconcile_pass_duration_seconds',
      'hookwarden_store_up',
      'hookwarden_build_info',
    ]) {
      expect(named, n).toContain(n);
    }
  });

  it('shows provider request latency p50 and p95 by operation, from the histogram', () => {
    const latency = targets.filter((t) => t.expr.includes('hookwarden_provider_request_duration_seconds_bucket'));
    for (const q of ['0.5', '0.95']) {
      expect(latency.some((t) => t.expr.startsWith(`histogram_quantile(${q}, sum by (le, operation) (rate(`)), q).toBe(true);
    }
    // Queries about provider accounts follow the provider variable.
    for (const t of targets) if (/hookwarden_(subscription|callback|provider|reconcile|renewals|recreations|actions|probe)/.test(t.expr)) expect(t.expr, t.panel).toContain('provider=~"$provider"');
  });

  it('every query is valid PromQL (promtool, with the variables filled in)', (ctx) => {
    const promtool = needPromtool(ctx);
    const fill = (expr: string) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$provider', '.*').replaceAll('$job', '.*');
    const rules = { groups: [{ name: 'dashboard', rules: targets.map((t, i) => ({ record: `dashboard:query_${i}`, expr: fill(t.expr) })) }] };
    const file = join(mkdtempSync(join(tmpdir(), 'hookwarden-dashboard-')), 'queries.yaml');
    writeFileSync(file, stringify(rules));
    const r = runPromtool(promtool, ['check', 'rules', file]);
    expect(r.output).toContain(`SUCCESS: ${targets.length} rules found`);
    expect(r.code).toBe(0);
  });
});
