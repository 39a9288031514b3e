/**
 * The naive baseline: the cron script a team would otherwise write, following the
 * providers' samples. Every interval (node-cron), for every account at once: fetch a token,
 * list everything, renew every subscription that expires (Infinity, AXP Notification),
 * create what is missing, enable what Dixa disabled. No state, no schedule of its own, no
 * health checks. Run by bench/run.ts as a child process on the same sandboxes and
 * subscriptions as the daemon:
 *
 *   tsx bench/naive.ts FLEET.json EVERY_SECONDS
 *   tsx bench/naive.ts --floor        (prints the memory of the process doing nothing)
 *
 * On SIGTERM it waits for the round under way and prints one JSON line: rounds, requests by
 * operation, errors, and its peak resident memory.
 */
import { readFileSync } from 'node:fs';
import cron from 'node-cron';
import { Agent, request } from 'undici';
import type { FleetAccount, FleetSub } from './fleet.js';

interface NaiveInput {
  accounts: FleetAccount[];
  subs: FleetSub[];
  hooks: string;
  pageSize: number;
}

const [file, everyArg] = process.argv.slice(2);
// `--floor`: the memory of the process with its modules loaded and nothing done (the runtime and loader's share).
if (file === '--floor') {
  process.stdout.write(`${JSON.stringify({ maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
  process.exit(0);
}
if (!file || !everyArg) {
  process.stderr.write('usage: naive.ts FLEET.json EVERY_SECONDS\n');
  process.exit(2);
}
const input = JSON.parse(readFileSync(file, 'utf8')) as NaiveInput;
const every = Number(everyArg);
const dispatcher = new Agent({ connections: 16, keepAliveTimeout: 10_000 });
const requests: Record<string, number> = {};
const errors: Record<string, number> = {};
const rounds: { startedAt: string; seconds: number }[] = [];

async function call(op: string, method: 'GET' | 'POST' | 'PATCH', url: string, headers: Record<string, string>, body?: string): Promise<unknown> {
  requests[op] = (requests[op] ?? 0) + 1;
  try {
    const res = await request(url, { method, headers, ...(body !== undefined ? { body } : {}), dispatcher, signal: AbortSignal.timeout(10_000) });
    const text = await res.body.text();
    if (res.statusCode >= 300) {
      errors[`${op} ${res.statusCode}`] = (errors[`${op} ${res.statusCode}`] ?? 0) + 1;
      return undefined;
    }
    return text ? JSON.parse(text) : undefined;
  } catch (err) {
    errors[`${op} ${(err as Error).name}`] = (errors[`${op} ${(err as Error).name}`] ?? 0) + 1;
    return undefined;
  }
}

const json = { 'content-type': 'application/json' };
const sorted = (xs: readonly string[]) => [...xs].sort().join(',');

async function token(url: string, headers: Record<string, string>, a: FleetAccount, clientId: string): Promise<string | undefined> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: a.secret, scope: 'EVENT_NOTIFICATION' }).toString();
  const r = (await call('token', 'POST', url, { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, form)) as { access_token?: string } | undefined;
  return r?.access_token;
}

/** Infinity and AXP Notification: paged listing, renew every match, create the rest. */
async function expiring(a: FleetAccount, subs: FleetSub[]): Promise<void> {
  const callback = `${input.hooks}${a.callbackPath}`;
  const inf = a.kind === 'avaya-infinity';
  const base = inf ? `${a.baseUrl}/api/events/v1/subscriptions` : `${a.baseUrl}/api/notification/v1/accounts/${a.tenant}/subscriptions`;
  const appkey: Record<string, string> = inf ? {} : { appkey: 'bench-app-key' };
  const tokenUrl = inf ? `${a.baseUrl}/auth/realms/avaya/protocol/openid-connect/token` : `${a.baseUrl}/api/auth/v1/${a.tenant}/protocol/openid-connect/token`;
  const bearer = await token(tokenUrl, appkey, a, inf ? a.tenant : `bench-${a.name}`);
  if (!bearer) return;
  const headers = { ...appkey, authorization: `Bearer ${bearer}` };
  type Listed = { subscriptionId: string; family: string[] | string; events: string[]; transport: { endpoint?: string } };
  const listed: Listed[] = [];
  for (let page = 1; page <= 1000; page++) {
    const r = (await call('list', 'GET', `${base}?pageNumber=${page}&pageSize=${input.pageSize}`, headers)) as { subscriptions?: Listed[]; links?: { next?: string } } | undefined;
    if (!r?.subscriptions) break;
    listed.push(...r.subscriptions);
    if (!r.links?.next) break;
  }
  const key = (family: string[] | string, events: readonly string[], endpoint: string | undefined) => `${Array.isArray(family) ? sorted(family) : family} ${sorted(events)} ${endpoint}`;
  const byKey = new Map(listed.map((l) => [key(l.family, l.events, l.transport.endpoint), l]));
  for (const s of subs) {
    const found = byKey.get(key(s.family!, s.events, callback));
    if (found) await call('renew', 'POST', `${base}/${found.subscriptionId}:renew`, headers);
    else {
      const transport = inf ? { type: 'WEBHOOK', method: 'POST', endpoint: callback } : { type: 'WEBHOOK', endpoint: callback };
      await call('create', 'POST', base, { ...headers, ...json }, JSON.stringify({ family: s.family, events: s.events, transport }));
    }
  }
}

/** AXP Digital: nothing expires; create what is missing. */
async function digital(a: FleetAccount, subs: FleetSub[]): Promise<void> {
  const callback = `${input.hooks}${a.callbackPath}`;
  const appkey = { appkey: 'bench-app-key' };
  const bearer = await token(`${a.baseUrl}/api/auth/v1/${a.tenant}/protocol/openid-connect/token`, appkey, a, `bench-${a.name}`);
  if (!bearer) return;
  const headers = { ...appkey, authorization: `Bearer ${bearer}` };
  const base = `${a.baseUrl}/api/digital/webhook/v1/accounts/${a.tenant}/subscriptions`;
  const listed = ((await call('list', 'GET', base, headers)) as { channelProviderId: string; callbackUrl: string; eventTypes: string[] }[] | undefined) ?? [];
  const have = new Set(listed.map((l) => `${l.channelProviderId} ${l.callbackUrl} ${sorted(l.eventTypes)}`));
  for (const s of subs) {
    if (have.has(`${s.channelProviderId} ${callback} ${sorted(s.events)}`)) continue;
    await call('create', 'POST', base, { ...headers, ...json }, JSON.stringify({ channelProviderId: s.channelProviderId, callbackUrl: callback, eventTypes: s.events }));
  }
}

/** Dixa: nothing expires; create what is missing, enable what is disabled. */
async function dixa(a: FleetAccount, subs: FleetSub[]): Promise<void> {
  const callback = `${input.hooks}${a.callbackPath}`;
  const headers = { authorization: a.tenant };
  const base = `${a.baseUrl}/v1/webhooks`;
  const listed = ((await call('list', 'GET', base, headers)) as { data?: { id: string; name: string; enabled: boolean }[] } | undefined)?.data ?? [];
  const byName = new Map(listed.map((l) => [l.name, l]));
  for (const s of subs) {
    const found = byName.get(`hookwarden:${s.name}`);
    if (found && !found.enabled) await call('update', 'PATCH', `${base}/${found.id}`, { ...headers, ...json }, JSON.stringify({ enabled: true }));
    if (!found) await call('create', 'POST', base, { ...headers, ...json }, JSON.stringify({ name: `hookwarden:${s.name}`, url: callback, events: s.events, authorization: { _type: 'NoAuth' } }));
  }
}

const subsOf = new Map<string, FleetSub[]>();
for (const s of input.subs) subsOf.set(s.account, [...(subsOf.get(s.account) ?? []), s]);

async function round(): Promise<void> {
  const started = Date.now();
  await Promise.all(
    input.accounts.map((a) => {
      const subs = subsOf.get(a.name) ?? [];
      if (a.kind === 'avaya-infinity' || a.kind === 'axp-notification') return expiring(a, subs);
      if (a.kind === 'axp-digital') return digital(a, subs);
      return dixa(a, subs);
    }),
  );
  rounds.push({ startedAt: new Date(started).toISOString(), seconds: (Date.now() - started) / 1000 });
}

let running: Promise<void> | undefined;
// A cron expression for the interval: every N seconds when N divides a minute, else every N minutes.
const expr = every < 60 ? `*/${every} * * * * *` : `0 */${Math.round(every / 60)} * * * *`;
const task = cron.schedule(expr, () => {
  running = round();
  return running;
});

process.once('SIGTERM', () => {
  void (async () => {
    await task.stop();
    await running;
    await dispatcher.close();
    process.stdout.write(`${JSON.stringify({ rounds, requests, errors, maxRssBytes: process.resourceUsage().maxRSS * 1024 })}\n`);
    process.exit(0);
  })();
});
