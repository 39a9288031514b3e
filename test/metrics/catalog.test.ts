import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDER_OPERATIONS, STATUS_CLASSES } from '../../src/lib/http.js';
import { ROOT } from '../fixtures/cli.js';
import { documentedMetrics, familyOf, LIVE_ENV, liveRegistry, parseExposition, startLiveDaemon, type LiveDaemon } from './live.js';
import { needPromtool, runPromtool } from './promtool.js';

/**
 * The metrics catalog: what a running daemon exports (a `hookwarden run` process against the
 * sandboxes, every kind of series filled in) and docs/metrics.md list the same metrics, with
 * the same types and labels; names follow Prometheus' conventions, label values stay
 * bounded, and `promtool check metrics` accepts the scrape.
 */
const LINUX_ONLY = new Set(['process_virtual_memory_bytes', 'process_heap_bytes', 'process_open_fds', 'process_max_fds']);
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let daemon: LiveDaemon | undefined;
let scrape = '';
let registry: Awaited<ReturnType<typeof liveRegistry>>;
beforeAll(async () => {
  daemon = await startLiveDaemon();
  scrape = await daemon.scrape();
  registry = await liveRegistry();
}, 120_000);
afterAll(() => daemon?.close());

const docs = () => documentedMetrics();

describe('metrics catalog', () => {
  it('docs/metrics.md lists every exported metric, and every listed metric is exported, with its type', () => {
    const { families } = parseExposition(scrape);
    const documented = new Map(docs().map((d) => [d.name, d]));
    expect(documented.size).toBe(docs().length); // no metric listed twice
    const exported = [...families.keys()].sort();
    const expected = [...documented.keys()].filter((n) => process.platform === 'linux' || !LINUX_ONLY.has(n)).sort();
    expect(exported).toEqual(expected);
    for (const f of families.values()) expect(`${f.name} ${f.type}`).toBe(`${f.name} ${documented.get(f.name)!.type}`);
    // The registry an app builds holds the same metrics as the daemon's /metrics.
    expect([...registry.keys()].sort()).toEqual(exported);
  });

  it('documents each metric with its labels, unit and meaning', () => {
    for (const d of docs()) {
      const r = registry.get(d.name);
      if (!r) continue; // a Linux-only metric elsewhere
      expect(`${d.name}: ${[...d.labels].sort().join(',')}`).toBe(`${d.name}: ${[...r.labelNames].sort().join(',')}`);
      expect(d.meaning.length, d.name).toBeGreaterThan(10);
      if (d.name.endsWith('_seconds') || d.name.endsWith('_seconds_total')) expect(d.unit, d.name).toBe('seconds');
      else if (d.name.endsWith('_bytes')) expect(d.unit, d.name).toBe('bytes');
      else expect(d.unit, d.name).toBe('—');
    }
    // Every label of every series the daemon serves is documented for its metric.
    const { families, samples } = parseExposition(scrape);
    const labelsOf = new Map(docs().map((d) => [d.name, new Set([...d.labels, ...(d.type === 'histogram' ? ['le'] : [])])]));
    for (const s of samples) {
      const family = familyOf(s.name, families);
      for (const l of Object.keys(s.labels)) expect(labelsOf.get(family), `${s.name}{${l}}`).toContain(l);
    }
  });

  it('names follow the conventions: help text, base units, _total for counters only, _timestamp_seconds for moments', () => {
    const { families } = parseExposition(scrape);
    for (const f of families.values()) {
      expect(f.help.length, f.name).toBeGreaterThan(10);
      expect(f.name).toMatch(/^(hookwarden|process|nodejs)_[a-z0-9_]+$/);
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
      else expect(f.name).not.toMatch(/_total$/);
      expect(f.name).not.toMatch(/_(milliseconds|ms|minutes|hours|kilobytes|megabytes)(_|$)/);
      if (f.name.startsWith('hookwarden_') && /timestamp|_since|_at$/.test(f.name)) expect(f.name).toMatch(/_timestamp_seconds$/);
    }
  });

  it('label values stay bounded: names, codes and fixed sets; never ids, URLs or secrets', () => {
    const { samples } = parseExposition(scrape);
    const ids = daemon!.remoteIds();
    expect(ids.length).toBeGreaterThanOrEqual(3); // agents, engagements, conversations (and chat-a, when made before its callback was probed)
    for (const id of ids) expect(scrape).not.toContain(id);
    for (const secret of Object.values(LIVE_ENV)) expect(scrape).not.toContain(secret);
    for (const s of samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        expect(v, `${s.name}{${k}}`).not.toMatch(/:\/\/|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/i);
        if (k === 'operation') expect(PROVIDER_OPERATIONS as readonly string[]).toContain(v);
        if (k === 'status_class') expect(STATUS_CLASSES as readonly string[]).toContain(v);
        if (k === 'result') expect(['success', 'failure']).toContain(v);
        if (k === 'target') expect(['agents', 'chat-a', 'engagements', 'conversations', 'mcc-agents']).toContain(v);
      }
    }
  });

  it('exports build info, provider requests by operation and status class, and config reload state', () => {
    expect(scrape).toContain(`hookwarden_build_info{version="${version}",node="${process.version}"} 1`);
    for (const [provider, operation] of [
      ['infinity', 'token'],
      ['infinity', 'list'],
      ['infinity', 'create'],
      ['digital', 'token'],
      ['digital', 'list'],
      ['notify', 'create'],
      ['support', 'list'],
      ['support', 'create'],
      ['support', 'deliveries'],
    ]) {
      expect(scrape).toMatch(new RegExp(`hookwarden_provider_requests_total\\{provider="${provider}",operation="${operation}",status_class="2xx"\\} [1-9]`));
      expect(scrape).toMatch(new RegExp(`hookwarden_provider_request_duration_seconds_bucket\\{le="\\+Inf",provider="${provider}",operation="${operation}",status_class="2xx"\\} [1-9]`));
    }
    expect(scrape).toContain('hookwarden_renewals_total{provider="infinity",result="failure"} 0');
    expect(scrape).toContain('hookwarden_provider_rate_limited_total{provider="support"} 0');
    expect(scrape).toContain('hookwarden_config_reloads_total{result="failure"} 0');
    expect(scrape).toContain('hookwarden_config_last_reload_success 1');
    expect(scrape).toMatch(/^hookwarden_config_last_reload_timestamp_seconds \d+/m);
    expect(scrape).toContain('hookwarden_subscriptions{provider="infinity",state="active"} 1');
    expect(scrape).toMatch(/^process_cpu_seconds_total \d/m);
    expect(scrape).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(scrape).not.toContain('hookwarden_process_');
  });

  it('promtool check metrics accepts a live scrape', (ctx) => {
    const promtool = needPromtool(ctx);
    const r = runPromtool(promtool, ['check', 'metrics'], { input: scrape });
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });
});
