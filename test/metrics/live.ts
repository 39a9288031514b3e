import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AxpSandbox } from '../../src/sandbox/axp.js';
import { DixaSandbox } from '../../src/sandbox/dixa.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { CallbackReceiver } from '../../src/sandbox/receiver.js';
import { freePort } from '../../src/store/embedded.js';
import { ROOT, spawnCli, waitFor, writeTemp } from '../fixtures/cli.js';
import { freshDatabase } from '../fixtures/db.js';
import { startStack } from '../fixtures/stack.js';

export const LIVE_ENV = {
  INFINITY_CLIENT_SECRET: 'catalog-infinity-secret',
  AXP_APP_KEY: 'catalog-app-key',
  AXP_CLIENT_SECRET: 'catalog-axp-secret',
  DIXA_API_TOKEN: 'catalog-dixa-token',
};

/** One subscription of every provider kind, a watch-only target, and a callback that fails (so the cutoff gauges have values). */
function daemonYaml(u: { db: string; port: number; infinity: string; axp: string; dixa: string; hooks: string }): string {
  const axp = (kind: string) => `    kind: ${kind}
    baseUrl: ${u.axp}
    accountId: ABCDEF
    appKey: \${AXP_APP_KEY}
    clientId: hookwarden
    clientSecret: \${AXP_CLIENT_SECRET}
    policy: { unhealthyAfter: 1, disableAfter: 8h, deleteAfter: 7d }`;
  return `database:
  url: ${u.db}
server:
  listen: 127.0.0.1:${u.port}
defaults:
  reconcileEvery: 60s
  probe: { every: 1s, timeout: 1s }
  deliveryPoll: { every: 1s }
providers:
  infinity:
    kind: avaya-infinity
    baseUrl: ${u.infinity}
    clientId: catalog
    clientSecret: \${INFINITY_CLIENT_SECRET}
  digital:
${axp('axp-digital')}
  notify:
${axp('axp-notification')}
  support:
    kind: dixa
    baseUrl: ${u.dixa}
    apiToken: \${DIXA_API_TOKEN}
watch:
  - name: mcc-agents
    url: ${u.hooks}/hooks/mycontactcenter/agents
    format: mycontactcenter
subscriptions:
  - name: agents
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback: { url: ${u.hooks}/hooks/infinity/agents }
  - name: chat-a
    provider: digital
    channelProviderId: ChatConnector01
    events: [MESSAGES]
    callback: { url: ${u.hooks}/hooks/axp-digital/broken }
  - name: engagements
    provider: notify
    family: AGENT_ENGAGEMENT
    events: [ALL]
    callback: { url: ${u.hooks}/hooks/axp-notification/engagements }
  - name: conversations
    provider: support
    events: [ConversationCreated]
    callback: { url: ${u.hooks}/hooks/dixa/conversations }
`;
}

export interface LiveDaemon {
  /** GET /metrics. */
  scrape(): Promise<string>;
  /** Remote ids the sandboxes gave out (none may appear in a label). */
  remoteIds(): string[];
  close(): Promise<void>;
}

/**
 * `hookwarden run` as a separate process against the Infinity, AXP and Dixa sandboxes and a
 * callback receiver, over loopback, with a real Postgres. Resolves once every kind of
 * series has a value: subscriptions created, a callback unhealthy, a Dixa delivery read.
 */
export async function startLiveDaemon(): Promise<LiveDaemon> {
  const infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: 3600 });
  const axp = new AxpSandbox({ subscriptionLifetimeSeconds: 3600 });
  const dixa = new DixaSandbox({ deliverEveryMs: 200 });
  const receiver = new CallbackReceiver();
  for (const f of ['axp-digital', 'axp-notification', 'mycontactcenter', 'infinity', 'dixa'] as const) receiver.expect(`/hooks/${f}`, f);
  receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital/broken');
  await Promise.all([infinity.listen(), axp.listen(), dixa.listen(), receiver.listen()]);
  const db = await freshDatabase();
  const port = await freePort();
  const file = writeTemp('hookwarden.yaml', daemonYaml({ db: db.url, port, infinity: infinity.url, axp: axp.url, dixa: dixa.url, hooks: receiver.url }));
  const daemon = spawnCli(['run', '-c', file], LIVE_ENV);
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()));
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
    return res.text();
  };
  const close = async () => {
    if (daemon.exitCode === null && daemon.signalCode === null) {
      daemon.kill('SIGTERM');
      await exited;
    }
    await Promise.all([infinity.close(), axp.close(), dixa.close(), receiver.close()]);
    await db.drop();
  };
  try {
    const wanted = [
      /hookwarden_subscription_active\{provider="infinity",subscription="agents"\} 1/,
      /hookwarden_subscription_active\{provider="notify",subscription="engagements"\} 1/,
      // chat-a is not created (nothing is made to deliver to a failing callback), but its account is listed.
      /hookwarden_provider_requests_total\{provider="digital",operation="list",status_class="2xx"\} [1-9]/,
      /hookwarden_subscription_active\{provider="support",subscription="conversations"\} 1/,
      /hookwarden_callback_disable_timestamp_seconds\{provider="digital",target="chat-a"\} \d/,
      /hookwarden_callback_up\{provider="watch",target="mcc-agents"\} 1/,
      /hookwarden_delivery_last_success\{provider="support",subscription="conversations"\} 1/,
      /hookwarden_provider_request_duration_seconds_count\{provider="support",operation="deliveries",status_class="2xx"\} [1-9]/,
    ];
    let missing = wanted;
    await waitFor(
      'every kind of series in /metrics',
      async () => {
        if (daemon.exitCode !== null) throw new Error(`hookwarden run exited with ${daemon.exitCode}:\n${daemon.output()}`);
        const text = await scrape().catch(() => '');
        missing = wanted.filter((re) => !re.test(text));
        return missing.length === 0;
      },
      45_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; missing ${missing.map(String).join(', ')}\n${daemon.output().slice(-4000)}`);
    });
  } catch (err) {
    await close();
    throw err;
  }
  return {
    scrape,
    remoteIds: () => [
      ...infinity.subscriptions('catalog').map((s) => s.subscriptionId),
      ...[...(axp.accounts.get('ABCDEF')?.digital.values() ?? []), ...(axp.accounts.get('ABCDEF')?.notification.values() ?? [])].map((s) => s.subscriptionId),
      ...[...(dixa.org(LIVE_ENV.DIXA_API_TOKEN)?.values() ?? [])].map((w) => w.id),
    ],
    close,
  };
}

/** The metric families of an app built by createApp (real Postgres, the Infinity sandbox), by name, after a pass. */
export async function liveRegistry(): Promise<Map<string, { type: string; labelNames: string[] }>> {
  const stack = await startStack({ subs: [{ name: 'agents' }] });
  try {
    await stack.app.reconciler.pass('infinity');
    return new Map(stack.app.metrics.registry.getMetricsAsArray().map((m) => [m.name, { type: String(m.type), labelNames: [...((m as unknown as { labelNames?: string[] }).labelNames ?? [])] }]));
  } finally {
    await stack.close();
  }
}

export interface DocumentedMetric {
  name: string;
  type: string;
  unit: string;
  labels: string[];
  meaning: string;
}

/** The metric tables of docs/metrics.md (rows whose first cell is a backticked metric name). */
export function documentedMetrics(): DocumentedMetric[] {
  const text = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const rows: DocumentedMetric[] = [];
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    // | `name` | type | unit | labels | meaning |
    if (cells.length !== 7 || !/^`[a-z_:][a-z0-9_:]*`$/.test(cells[1]!)) continue;
    const [, name, type, unit, labels, meaning] = cells as [string, string, string, string, string, string];
    if (!['counter', 'gauge', 'histogram', 'summary'].includes(type)) continue;
    rows.push({ name: name.slice(1, -1), type, unit, labels: [...labels.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!), meaning });
  }
  return rows;
}

export interface Family {
  name: string;
  type: string;
  help: string;
}
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

/** The Prometheus text format, as far as these tests need it. */
export function parseExposition(text: string): { families: Map<string, Family>; samples: Sample[] } {
  const families = new Map<string, Family>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m) {
      const f = families.get(m[2]!) ?? { name: m[2]!, type: '', help: '' };
      if (m[1] === 'HELP') f.help = m[3]!;
      else f.type = m[3]!;
      families.set(f.name, f);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: m[3]! });
  }
  return { families, samples };
}

/** A sample's family: histogram and summary series end in _bucket, _sum, _count. */
export function familyOf(sample: string, families: Map<string, Family>): string {
  if (families.has(sample)) return sample;
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  return base;
}

/** Metric names a PromQL expression refers to (histogram series folded into their family; `up` is Prometheus' own). */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\b((?:hookwarden|process|nodejs)_[a-z0-9_]+)\b/g)) names.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
  return [...names];
}
