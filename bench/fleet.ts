import { digitalIdentity, notificationIdentity } from '../src/sandbox/axp.js';
import { tenantTag } from '../src/sandbox/audit.js';
import { dixaIdentity } from '../src/sandbox/dixa.js';
import { infinityIdentity } from '../src/sandbox/infinity.js';

/**
 * The benchmark's fleet: `subscriptions` spread over `accounts` provider accounts, a quarter
 * of each of the four kinds. Account sizes vary (from half to one and a half times the mean)
 * so that a cost growing with an account's subscriptions shows against one growing with
 * accounts. Every account delivers to one callback URL of its own (a tenant's endpoint),
 * so there is one probed target per account. The same description drives the daemon's
 * config and the naive baseline.
 */
export type Kind = 'avaya-infinity' | 'axp-notification' | 'axp-digital' | 'dixa';
export const KINDS: Kind[] = ['avaya-infinity', 'axp-notification', 'axp-digital', 'dixa'];
export const EXPIRING: ReadonlySet<Kind> = new Set(['avaya-infinity', 'axp-notification']);
/** Published request limits, per token (Dixa's 10 per second); the others publish none. */
export const PUBLISHED_LIMIT: Record<Kind, number | undefined> = { 'avaya-infinity': undefined, 'axp-notification': undefined, 'axp-digital': undefined, dixa: 10 };
export const PAGE_SIZE = 25;

export interface FleetAccount {
  name: string;
  kind: Kind;
  /** Subscriptions declared in it. */
  size: number;
  /** Which sandbox instance of its kind serves it (-1: the scenario's own AXP sandbox). */
  shard: number;
  baseUrl: string;
  /** Infinity client id, AXP account id (6 letters) or Dixa API token. */
  tenant: string;
  secret: string;
  /** Callback URL shared by its subscriptions. */
  callbackPath: string;
}

export interface FleetSub {
  name: string;
  account: string;
  kind: Kind;
  /** Infinity and AXP Notification: event names; AXP Digital: event types; Dixa: event names. */
  events: string[];
  /** Infinity family list, AXP Notification family. */
  family?: string[] | string;
  channelProviderId?: string;
  /** What the sandbox's audit calls it (see src/sandbox/audit.ts). */
  identity: string;
}

export interface Fleet {
  accounts: FleetAccount[];
  subs: FleetSub[];
  /** The AXP Digital account whose callback is broken and mended. */
  scenario: string;
  /** Sandbox instances per kind. */
  shards: Record<Kind, number>;
  /** The callback receiver's base URL. */
  hooks: string;
}

/** Subscriptions per sandbox instance (the sandboxes' audit sweeps are linear in what one instance holds). */
const PER_SHARD = 500;

function split(total: number, parts: number): number[] {
  const out = Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out;
}

/** Sizes from about half to one and a half times the mean, summing to `total`. */
function sizes(total: number, n: number): number[] {
  if (n === 1) return [total];
  const w = Array.from({ length: n }, (_, i) => 0.5 + i / (n - 1));
  const sum = w.reduce((a, b) => a + b, 0);
  const out = w.map((x) => Math.max(1, Math.floor((total * x) / sum)));
  let left = total - out.reduce((a, b) => a + b, 0);
  for (let i = n - 1; left > 0; i = (i - 1 + n) % n, left--) out[i]!++;
  for (let i = n - 1; left < 0; i = (i - 1 + n) % n) if (out[i]! > 1) out[i]!--, left++;
  return out;
}

/** Six letters for an AXP account id, from a number. */
function letters(n: number, prefix: string): string {
  let s = '';
  for (let i = 0; i < 6 - prefix.length; i++, n = Math.floor(n / 26)) s = String.fromCharCode(65 + (n % 26)) + s;
  return prefix + s;
}

const SHORT: Record<Kind, string> = { 'avaya-infinity': 'inf', 'axp-notification': 'notif', 'axp-digital': 'digital', dixa: 'dixa' };

/** The fleet; each account's baseUrl is filled in once its sandbox listens. */
export function buildFleet(o: { subscriptions: number; accounts: number; hooks: string }): Fleet {
  const accountsPerKind = split(Math.max(4, o.accounts), 4);
  const subsPerKind = split(Math.max(o.subscriptions, Math.max(4, o.accounts)), 4);
  const accounts: FleetAccount[] = [];
  const subs: FleetSub[] = [];
  const shards = {} as Record<Kind, number>;
  // The scenario account: a middle-sized AXP Digital account.
  const digitalCount = accountsPerKind[2]!;
  const scenarioIndex = Math.floor(digitalCount / 2);
  let scenario = '';
  KINDS.forEach((kind, k) => {
    const n = accountsPerKind[k]!;
    const total = subsPerKind[k]!;
    shards[kind] = Math.max(1, Math.round(total / PER_SHARD));
    sizes(total, n).forEach((size, i) => {
      const name = `${SHORT[kind]}-${String(i + 1).padStart(3, '0')}`;
      const isScenario = kind === 'axp-digital' && i === scenarioIndex;
      if (isScenario) scenario = name;
      const tenant =
        kind === 'avaya-infinity' ? `bench-client-${i + 1}` : kind === 'dixa' ? `bench-dixa-token-${i + 1}-${Math.random().toString(36).slice(2, 10)}` : letters(i, kind === 'axp-digital' ? 'D' : 'N');
      const head = { name, kind, size, shard: isScenario ? -1 : i % shards[kind], tenant, secret: `bench-secret-${i + 1}`, callbackPath: `/a/${name}` };
      accounts.push({ ...head, baseUrl: '' });
      const url = `${o.hooks}${head.callbackPath}`;
      for (let j = 0; j < size; j++) {
        const sub = `${name}-s${String(j + 1).padStart(3, '0')}`;
        if (kind === 'avaya-infinity') {
          const family = ['AGENT'];
          const events = [`Agent.Bench${j + 1}`];
          subs.push({ name: sub, account: name, kind, family, events, identity: infinityIdentity(tenant, { family, events, transport: { method: 'POST', endpoint: url } }) });
        } else if (kind === 'axp-notification') {
          const events = [`BenchEvent${j + 1}`];
          subs.push({ name: sub, account: name, kind, family: 'AGENT_ENGAGEMENT', events, identity: notificationIdentity(tenant, { family: 'AGENT_ENGAGEMENT', events, transport: { type: 'WEBHOOK', endpoint: url } }) });
        } else if (kind === 'axp-digital') {
          const events = ['MESSAGES', 'ENGAGEMENT_CREATED'];
          const channelProviderId = `BenchConnector${j + 1}`;
          subs.push({ name: sub, account: name, kind, events, channelProviderId, identity: digitalIdentity(tenant, { channelProviderId, callbackUrl: url, eventTypes: events }) });
        } else {
          const events = ['ConversationCreated'];
          subs.push({ name: sub, account: name, kind, events, identity: dixaIdentity(tenantTag(tenant), `hookwarden:${sub}`) });
        }
      }
    });
  });
  // Interleaved (one of each kind in turn), as tenants holding several kinds would be.
  const order = new Map<string, number>();
  for (const kind of KINDS) accounts.filter((a) => a.kind === kind).forEach((a, i) => order.set(a.name, i * 4 + KINDS.indexOf(kind)));
  accounts.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  return { accounts, subs, scenario, shards, hooks: o.hooks };
}

/** List pages one listing of the account reads. */
export function listPages(a: Pick<FleetAccount, 'kind' | 'size'>): number {
  return a.kind === 'avaya-infinity' || a.kind === 'axp-notification' ? Math.max(1, Math.ceil(a.size / PAGE_SIZE)) : 1;
}

export interface Timing {
  lifetimeSeconds: number;
  tokenLifetimeSeconds: number;
  reconcileEverySeconds: number;
  probeEverySeconds: number;
  disableAfterSeconds: number;
  deleteAfterSeconds: number;
}

/** The daemon's config for the fleet. */
export function daemonYaml(f: Fleet, t: Timing, o: { databaseUrl: string; port: number; concurrency?: number; renewBefore?: string; keepDays?: number }): string {
  const lines: string[] = [
    '# Written by the benchmark (bench/run.ts).',
    'database:',
    `  url: ${o.databaseUrl}`,
    'server:',
    `  listen: 127.0.0.1:${o.port}`,
    'history:',
    `  keep: ${o.keepDays ?? 30}d`,
    'defaults:',
    `  reconcileEvery: ${t.reconcileEverySeconds}s`,
    `  renewBefore: "${o.renewBefore ?? '33%'}"`,
    `  concurrency: ${o.concurrency ?? 8}`,
    '  actionConcurrency: 8',
    `  probe: { every: ${t.probeEverySeconds}s, timeout: 5s }`,
    'providers:',
  ];
  const policy = `    policy: { unhealthyAfter: 3, disableAfter: ${t.disableAfterSeconds}s, deleteAfter: ${t.deleteAfterSeconds}s }`;
  for (const a of f.accounts) {
    lines.push(`  ${a.name}:`, `    kind: ${a.kind}`);
    if (a.kind === 'avaya-infinity') lines.push(`    baseUrl: ${a.baseUrl}`, `    clientId: ${a.tenant}`, `    clientSecret: ${a.secret}`, `    pageSize: ${PAGE_SIZE}`);
    else if (a.kind === 'dixa') lines.push(`    baseUrl: ${a.baseUrl}`, `    apiToken: ${a.tenant}`);
    else lines.push(`    baseUrl: ${a.baseUrl}`, `    accountId: ${a.tenant}`, '    appKey: bench-app-key', `    clientId: bench-${a.name}`, `    clientSecret: ${a.secret}`, ...(a.kind === 'axp-notification' ? [`    pageSize: ${PAGE_SIZE}`] : []), policy);
  }
  lines.push('subscriptions:');
  const hooks = new Map(f.accounts.map((a) => [a.name, a]));
  for (const s of f.subs) {
    const url = `${f.hooks}${hooks.get(s.account)!.callbackPath}`;
    lines.push(`  - name: ${s.name}`, `    provider: ${s.account}`);
    if (s.kind === 'avaya-infinity') lines.push(`    family: [${(s.family as string[]).join(', ')}]`, `    events: [${s.events.join(', ')}]`);
    else if (s.kind === 'axp-notification') lines.push(`    family: ${s.family as string}`, `    events: [${s.events.join(', ')}]`);
    else if (s.kind === 'axp-digital') lines.push(`    channelProviderId: ${s.channelProviderId!}`, `    events: [${s.events.join(', ')}]`);
    else lines.push(`    events: [${s.events.join(', ')}]`);
    lines.push(`    callback: { url: "${url}"${s.kind === 'dixa' ? ', authorization: { type: none }' : ''} }`);
  }
  return `${lines.join('\n')}\n`;
}

