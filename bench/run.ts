/**
 * The benchmark (issue 10): hookwarden at the scale of a contact-center platform, beside the
 * cron script a team would otherwise write. Not part of the test command.
 *
 *   npm run bench [-- --subscriptions 10000 --accounts 200 --minutes 6 --lifetime 90
 *                     --database-url URL --build --out FILE --keep --daemon DIR --profile
 *                     --daemon-node-options FLAGS]
 *
 * --daemon DIR runs the daemon of another checkout (its bin/ and built dist/), to compare two
 * builds on the same benchmark. --profile records the daemon's CPU profile of the first pass,
 * the idle pass, the steady state and the all-due pass, and its heap (sampled), in the work
 * directory (kept), and adds their heaviest functions to the JSON.
 *
 * --daemon-node-options sets NODE_OPTIONS for the daemon alone; by default the ones the shipped
 * Kubernetes Deployment sets (deploy/kubernetes/deployment.yaml: the heap capped to fit its
 * memory limit, as Node itself does in a container with a memory limit); "" runs it uncapped.
 *
 * What runs: the provider sandboxes on loopback (several instances per kind, one callback
 * receiver), a real Postgres (DATABASE_URL or --database-url, else an embedded one; a
 * database of its own, dropped at the end), and the daemon as a user runs it
 * (`bin/hookwarden.js run`, a child process with bench/instrument.mjs loaded to count SQL
 * statements and time passes). Subscription lifetimes (90 s by default instead of 900 s)
 * and the policy durations are scaled down so that a run spans several lifetimes:
 *
 *   1. first pass: the daemon starts and creates every subscription;
 *   2. a pass right after the first one (a reload makes every account due at once);
 *   3. a /metrics scrape;
 *   4. steady state, during which one AXP Digital account's callback breaks (detection: until
 *      /metrics shows it) and, once AXP has disabled its subscriptions, mends (repair: until
 *      every one of them delivers again);
 *   5. idle pass: once every subscription has had its first renewal, a reload with
 *      renewBefore 10% (nothing due for a while) and defaults.concurrency 64 makes every
 *      account due at once, twice (the second is measured), then once more at the default
 *      concurrency (8); 33% is put back; then the all-due pass: a reload with renewBefore 99% makes every expiring
 *      subscription due at once; the next reload puts 33% back;
 *   6. the daemon stops and the naive cron script (bench/naive.ts) takes the same
 *      subscriptions over for a while;
 *   7. the sandboxes' audits give lapses and duplicates.
 *
 * It prints a table and writes every measurement as JSON to bench/results/<UTC time>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { silentLogger } from '../src/lib/logger.js';
import { AxpSandbox } from '../src/sandbox/axp.js';
import { DixaSandbox } from '../src/sandbox/dixa.js';
import { InfinitySandbox } from '../src/sandbox/infinity.js';
import { CallbackReceiver } from '../src/sandbox/receiver.js';
import type { Sandbox } from '../src/sandbox/server.js';
import { freePort, startEmbeddedPostgres } from '../src/store/embedded.js';
import { DaemonProcess, metricValue, type PassRecord } from './daemon.js';
import { buildFleet, daemonYaml, EXPIRING, KINDS, PAGE_SIZE, type Fleet, type Kind, type Timing } from './fleet.js';
import { summariseProfiles } from './profiles.js';
import { recordStalls } from './stalls.js';
import { analyse, type Raw } from './report.js';
import { Traffic } from './traffic.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const INSTRUMENT = join(ROOT, 'bench', 'instrument.mjs');
const NAIVE = join(ROOT, 'bench', 'naive.ts');

/** NODE_OPTIONS of the shipped Kubernetes Deployment (kept in step with deploy/kubernetes/deployment.yaml). */
const DEPLOYMENT_NODE_OPTIONS = '--max-old-space-size=256';

const log = (msg: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

const { values: args } = parseArgs({
  options: {
    subscriptions: { type: 'string', default: '10000' },
    accounts: { type: 'string', default: '200' },
    minutes: { type: 'string', default: '6' },
    lifetime: { type: 'string', default: '90' },
    'database-url': { type: 'string' },
    build: { type: 'boolean', default: false },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
    daemon: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'daemon-node-options': { type: 'string', default: DEPLOYMENT_NODE_OPTIONS },
  },
});

/** The largest whole divisor of a minute (or whole number of minutes) not above `s` seconds: a cron step. */
function cronStep(s: number): number {
  if (s >= 60) return Math.floor(s / 60) * 60;
  return [30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1].find((d) => d <= s) ?? 1;
}

async function main(): Promise<number> {
  const started = new Date();
  const t0 = Date.now();
  const subscriptions = Number(args.subscriptions);
  const accountCount = Number(args.accounts);
  const minutes = Number(args.minutes);
  const lifetime = Number(args.lifetime);
  if (!(subscriptions >= 4 && accountCount >= 4 && minutes > 0 && lifetime >= 20)) {
    log('--subscriptions and --accounts take at least 4, --lifetime at least 20 (seconds)');
    return 2;
  }
  const timing: Timing = {
    lifetimeSeconds: lifetime,
    tokenLifetimeSeconds: lifetime,
    reconcileEverySeconds: Math.max(10, Math.round(lifetime / 3)),
    probeEverySeconds: Math.max(5, Math.round(lifetime / 9)),
    disableAfterSeconds: Math.max(10, Math.round(lifetime / 6)),
    deleteAfterSeconds: lifetime * 20,
  };
  const naiveEvery = cronStep(lifetime / 2);

  // The daemon runs the compiled dist/ (of this checkout, or of --daemon DIR).
  const daemonRoot = args.daemon ?? ROOT;
  const built = existsSync(join(daemonRoot, 'dist', 'cli', 'index.js'));
  if (args.build || !built) {
    log(`building ${join(daemonRoot, 'dist')} (npm run build)`);
    const b = spawnSync('npm', ['run', 'build'], { cwd: daemonRoot, stdio: 'inherit' });
    if (b.status !== 0) return 2;
  }
  const notes: string[] = [];
  if (args.daemon) notes.push(`the daemon ran from ${args.daemon}`);
  notes.push(args['daemon-node-options'] ? `the daemon ran with NODE_OPTIONS=${args['daemon-node-options']}${args['daemon-node-options'] === DEPLOYMENT_NODE_OPTIONS ? ' (as the shipped Kubernetes Deployment)' : ''}` : 'the daemon ran with no NODE_OPTIONS (heap sized by Node from the machine\'s memory)');
  if (statSync(join(daemonRoot, 'dist', 'cli', 'index.js')).mtimeMs < newest(join(daemonRoot, 'src'))) notes.push('dist/ is older than src/: the daemon ran the last build (use --build)');

  const dir = mkdtempSync(join(tmpdir(), 'hookwarden-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse().splice(0)) await c().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`));
    if (args.keep || args.profile) log(`work directory kept: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const hardStop = setTimeout(
    () => {
      log('hard time limit reached: stopping');
      void cleanup().finally(() => process.exit(3));
    },
    (minutes * 60 + 300) * 1000,
  );
  hardStop.unref();
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    // Postgres: a database of its own on the given server, or an embedded server.
    let serverUrl = (args['database-url'] ?? process.env.DATABASE_URL)?.replace(/\/[^/]*$/, '');
    let postgres = 'external (DATABASE_URL)';
    if (!serverUrl) {
      const db = await startEmbeddedPostgres(join(dir, 'pg'), silentLogger, 'postgres');
      serverUrl = db.serverUrl;
      postgres = 'embedded';
      cleanups.push(async () => {
        await db.stop();
        // As root the cluster lives outside the work directory, in a directory of its own (see src/store/embedded.ts).
        rmSync(db.dir.startsWith(dir) ? db.dir : dirname(db.dir), { recursive: true, force: true });
      });
    }
    const dbName = `hw_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${dbName}`);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    });
    const databaseUrl = `${serverUrl}/${dbName}`;

    // The callback receiver, the fleet, and the sandboxes serving it.
    const receiver = new CallbackReceiver();
    const hooks = await receiver.listen(0);
    cleanups.push(() => receiver.close());
    const fleet = buildFleet({ subscriptions, accounts: accountCount, hooks });
    const traffic = new Traffic();
    const sandboxes = await startSandboxes(fleet, timing, traffic);
    cleanups.push(() => Promise.all(sandboxes.all.map((s) => s.close())));
    log(`${fleet.subs.length} subscriptions over ${fleet.accounts.length} accounts; ${sandboxes.all.length} sandbox instances; Postgres: ${postgres}`);

    // The daemon's config, and where each declared subscription lives.
    const port = await freePort();
    const instrumentPort = await freePort();
    const configFile = join(dir, 'hookwarden.yaml');
    const writeConfig = (o: { concurrency?: number; renewBefore?: string; keepDays?: number } = {}) => writeFileSync(configFile, daemonYaml(fleet, timing, { databaseUrl, port, ...o }));
    writeConfig();
    const auditOf = new Map(fleet.accounts.map((a) => [a.name, sandboxes.of(a.name)]));
    const allLive = () => fleet.subs.every((s) => auditOf.get(s.account)!.audit.liveCount(s.identity) > 0);

    const profileDir = args.profile ? join(dir, 'profiles') : undefined;
    if (profileDir) mkdirSync(profileDir);
    const daemon = new DaemonProcess({ bin: join(daemonRoot, 'bin', 'hookwarden.js'), dist: join(daemonRoot, 'dist'), instrument: INSTRUMENT, config: configFile, port, instrumentPort, log: join(dir, 'daemon.log'), cwd: dir, profileDir, nodeOptions: args['daemon-node-options'] });
    cleanups.push(() => daemon.stop());
    const raw: Raw = {
      startedAt: started.toISOString(),
      node: process.version,
      postgres,
      notes,
      scale: { subscriptions: fleet.subs.length, accounts: fleet.accounts.length, perKind: Object.fromEntries(KINDS.map((k) => [k, { accounts: fleet.accounts.filter((a) => a.kind === k).length, subscriptions: fleet.subs.filter((s) => s.kind === k).length }])) as Raw['scale']['perKind'], sandboxInstances: sandboxes.all.length },
      timing: { ...timing, naiveEverySeconds: naiveEvery, pageSize: PAGE_SIZE, concurrency: 8, actionConcurrency: 8 },
      fleet: fleet.accounts.map((a) => ({ name: a.name, kind: a.kind, size: a.size, scenario: a.name === fleet.scenario })),
    } as Raw;

    // 1. First pass.
    log('first pass: starting the daemon');
    daemon.start();
    if (!(await daemon.waitServing(120_000))) throw new Error(`the daemon did not start (log: ${join(dir, 'daemon.log')})`);
    await daemon.profile('start');
    const firstDeadline = Date.now() + 600_000;
    while (!allLive() && Date.now() < firstDeadline && daemon.running) await sleep(250);
    if (!allLive()) throw new Error('the first pass did not create every subscription in 10 minutes');
    const liveAt = Date.now();
    await daemon.profile({ stop: 'first-pass' });
    const afterFirst = await daemon.snapshot();
    let readyAt: number | undefined;
    for (let i = 0; i < 200 && readyAt === undefined; i++) {
      if ((await daemon.get('/readyz')).status === 200) readyAt = Date.now();
      else await sleep(250);
    }
    raw.first = { spawnedAt: daemon.startedAt, liveAt, readyAt, snapshot: afterFirst, passes: (await daemon.passes()).filter((p) => p.start <= liveAt) };
    log(`first pass: every subscription live after ${((liveAt - daemon.startedAt) / 1000).toFixed(1)} s`);

    // 2. Idle passes: every account at once (concurrency 64), then at the default concurrency.
    // Each reload changes the defaults (history.keep alternates between 30 and 31 days if
    // nothing else changes), which makes every account due at the next wake-up.
    let keepDays = 30;
    const sweep = async (label: string, cfg: { concurrency?: number; renewBefore?: string }, revert: boolean) => {
      keepDays = keepDays === 30 ? 31 : 30;
      writeConfig({ ...cfg, keepDays });
      const before = await daemon.snapshot();
      const at = await daemon.reload();
      // Every account passed with the new config (forced at the next wake-up, or its periodic pass).
      const since = async () => (await daemon.passes()).filter((p) => p.start >= at);
      const until = Date.now() + 180_000;
      let passes = await since();
      while (new Set(passes.map((p) => p.account)).size < fleet.accounts.length && Date.now() < until) {
        await sleep(100);
        passes = await since();
      }
      // The first pass of each account since the reload, once ended.
      const firsts = (ps: PassRecord[]) => [...new Map([...ps].reverse().map((p) => [p.account, p])).values()];
      // Put the defaults back once each account's first pass has planned with the reloaded
      // config (later passes keep starting: with renewBefore 99% everything stays due).
      while (revert && firsts(passes).some((p) => p.planned === 0 && p.end === 0) && Date.now() < until) {
        await sleep(50);
        passes = await since();
      }
      let revertedAt: number | undefined;
      if (revert) {
        keepDays = 30;
        writeConfig();
        revertedAt = await daemon.reload();
      }
      while (firsts(passes).some((p) => p.end === 0) && Date.now() < until) {
        await sleep(200);
        passes = await since();
      }
      const after = await daemon.snapshot();
      const done = firsts(passes);
      log(`${label}: ${done.length} accounts passed, ${done.reduce((n, p) => n + p.actions, 0)} actions; reload applied ${((at - before.at) / 1000).toFixed(2)} s after the signal, passes from +${((Math.min(...done.map((p) => p.start)) - at) / 1000).toFixed(2)} s to +${((Math.max(...done.map((p) => p.end)) - at) / 1000).toFixed(2)} s`);
      return { reloadAt: at, revertedAt, before, after, passes: done };
    };
    // Right after the first pass some rows still record what the provider settled on.
    raw.idleFirst = await sweep('pass after the first pass, every account at once', { concurrency: 64 }, false);

    // 3. One /metrics scrape (then a second one, warm).
    const scrapes: Raw['scrapes'] = [];
    for (let i = 0; i < 2; i++) {
      const a = await daemon.snapshot();
      const r = await daemon.get('/metrics');
      const b = await daemon.snapshot();
      scrapes.push({ ms: r.ms, bytes: Buffer.byteLength(r.body), series: r.body.split('\n').filter((l) => l && !l.startsWith('#')).length, cpuSeconds: b.cpuSeconds - a.cpuSeconds });
    }
    raw.scrapes = scrapes;

    // 4. Steady state, with the callback scenario.
    const budget = minutes * 60 - (Date.now() - t0) / 1000 - 45;
    const steadySeconds = Math.max(lifetime, Math.round(budget * 0.55));
    const naiveRounds = Math.max(2, Math.floor((budget - steadySeconds) / naiveEvery));
    await daemon.profile('start');
    const benchStalls = recordStalls();
    const steadyBefore = await daemon.snapshot();
    const steadyFrom = Date.now();
    log(`steady state for ${steadySeconds} s; the callback of ${fleet.scenario} breaks now`);
    const watcher = new pg.Client({ connectionString: databaseUrl });
    await watcher.connect();
    const disabledRows = async (account: string) => (await watcher.query<{ n: number }>(`SELECT count(*)::int AS n FROM subscription WHERE provider = $1 AND state = 'disabled'`, [account])).rows[0]!.n;
    raw.scenario = await scenario(fleet, timing, daemon, receiver, sandboxes.scenario, disabledRows);
    await watcher.end();
    const steadyTo = steadyFrom + steadySeconds * 1000;
    while (Date.now() < steadyTo) await sleep(500);
    raw.steady = { from: steadyFrom, to: Date.now(), before: steadyBefore, after: await daemon.snapshot(), benchStalls: [...benchStalls.stalls] };
    await daemon.profile({ stop: 'steady' });

    // Idle passes, once every subscription has had its first renewal (spread over the first
    // cycle): renewBefore 10% instead of 33% makes nothing due for a fifth of a lifetime (what
    // was due at 33% has been renewed), so each pass only lists and compares; the first of them
    // settles, the second is measured. Then 33% again, and what came due meanwhile is renewed
    // (still a tenth of a lifetime ahead of expiry) before the all-due pass.
    await sweep('pass with renewals held off, every account at once', { concurrency: 64, renewBefore: '10%' }, false);
    await daemon.profile('start');
    raw.idle = await sweep('idle pass, every account at once', { concurrency: 64, renewBefore: '10%' }, false);
    await daemon.profile({ stop: 'idle-pass' });
    raw.idlePaced = await sweep('idle pass at the default concurrency', { renewBefore: '10%' }, false);
    await sweep('renewBefore back to 33%, every account at once', { concurrency: 64 }, false);

    // 5. All-due pass.
    log('all-due pass: renewBefore 99%');
    await daemon.profile('start');
    raw.allDue = await sweep('all-due pass', { concurrency: 64, renewBefore: '99%' }, true);
    await daemon.profile({ stop: 'all-due' });
    await sleep(3000);

    // 6. The naive cron script takes over, starting at one of its cron boundaries.
    const step = naiveEvery * 1000;
    let boundary = Math.ceil(Date.now() / step) * step;
    if (boundary - Date.now() < 12_000) boundary += step;
    while (Date.now() < boundary - 8000) await sleep(200);
    const last = await daemon.snapshot();
    const passes = await daemon.passes();
    const stopAt = Date.now();
    const code = await daemon.stop();
    raw.daemon = { stoppedAt: stopAt, exitCode: code, last, passes };
    log(`daemon stopped (exit ${code}); the naive cron script runs every ${naiveEvery} s, ${naiveRounds} rounds`);
    const naiveFile = join(dir, 'naive.json');
    writeFileSync(naiveFile, JSON.stringify({ accounts: fleet.accounts, subs: fleet.subs, hooks: fleet.hooks, pageSize: PAGE_SIZE }));
    const naive = spawn(process.execPath, ['--import', 'tsx', NAIVE, naiveFile, String(naiveEvery)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let naiveOut = '';
    naive.stdout.on('data', (c: Buffer) => (naiveOut += c.toString()));
    const naiveExit = new Promise<void>((r) => naive.once('exit', () => r()));
    cleanups.push(async () => {
      naive.kill('SIGKILL');
    });
    const naiveTo = boundary + naiveRounds * step;
    while (Date.now() < naiveTo - step / 2) await sleep(250);
    naive.kill('SIGTERM');
    await Promise.race([naiveExit, sleep(30_000)]);
    const floor = spawnSync(process.execPath, ['--import', 'tsx', NAIVE, '--floor'], { cwd: ROOT, encoding: 'utf8' });
    raw.naive = {
      from: boundary,
      to: naiveTo,
      report: JSON.parse(naiveOut.trim().split('\n').pop() || '{}') as Raw['naive']['report'],
      floorRssBytes: (JSON.parse(floor.stdout.trim() || '{}') as { maxRssBytes?: number }).maxRssBytes,
    };

    // 7. What the sandboxes saw.
    raw.audits = sandboxes.all.map((s) => ({ scenario: s === sandboxes.scenario, report: s.audit.report() }));
    raw.created = createdAt(sandboxes);
    raw.hits = traffic.hits;
    raw.identities = Object.fromEntries(fleet.subs.map((s) => [s.identity, s.name]));

    if (profileDir) raw.profiles = summariseProfiles(profileDir);
    const { json, table } = analyse(raw);
    const out = args.out ?? join(ROOT, 'bench', 'results', `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`${table}\nwritten to ${out}\n`);
    return 0;
  } finally {
    clearTimeout(hardStop);
    await cleanup();
  }
}

/** Each kind on a few sandbox instances, plus the scenario's own AXP sandbox (which delivers every second). */
async function startSandboxes(fleet: Fleet, t: Timing, traffic: Traffic) {
  const policy = { unhealthyAfter: 3, disableAfterSeconds: t.disableAfterSeconds, deleteAfterSeconds: t.deleteAfterSeconds, timeoutMs: 5000 };
  const instances = new Map<string, Sandbox>();
  const all: Sandbox[] = [];
  const make = (kind: Kind, shard: number): Sandbox => {
    if (kind === 'avaya-infinity') return new InfinitySandbox({ subscriptionLifetimeSeconds: t.lifetimeSeconds, tokenLifetimeSeconds: t.tokenLifetimeSeconds });
    if (kind === 'dixa') return new DixaSandbox({});
    return new AxpSandbox({ subscriptionLifetimeSeconds: t.lifetimeSeconds, tokenLifetimeSeconds: t.tokenLifetimeSeconds, policy, ...(shard < 0 ? { deliverEveryMs: 1000 } : {}) });
  };
  for (const kind of KINDS) {
    for (let shard = kind === 'axp-digital' ? -1 : 0; shard < fleet.shards[kind]; shard++) {
      const s = make(kind, shard);
      await s.listen(0);
      traffic.watch(s, () => kind, shard < 0);
      instances.set(`${kind}/${shard}`, s);
      all.push(s);
    }
  }
  for (const a of fleet.accounts) a.baseUrl = instances.get(`${a.kind}/${a.shard}`)!.url;
  const byAccount = new Map(fleet.accounts.map((a) => [a.name, instances.get(`${a.kind}/${a.shard}`)!]));
  return { all, scenario: instances.get('axp-digital/-1') as AxpSandbox, of: (account: string) => byAccount.get(account)!, instances };
}

/**
 * The callback of one AXP Digital account breaks (503). Detection: until /metrics shows the
 * callback down. It stays broken until AXP has disabled the subscriptions on it and the
 * daemon presumes them disabled; then it mends. Repair: until every one of them delivers
 * again.
 */
async function scenario(fleet: Fleet, t: Timing, daemon: DaemonProcess, receiver: CallbackReceiver, sandbox: AxpSandbox, disabledRows: (account: string) => Promise<number>): Promise<Raw['scenario']> {
  const account = fleet.accounts.find((a) => a.name === fleet.scenario)!;
  const subs = fleet.subs.filter((s) => s.account === account.name);
  const metrics = async () => (await daemon.get('/metrics')).body;
  const scrapeMs: number[] = [];
  const brokenAt = Date.now();
  receiver.break({ kind: 'status', status: 503 }, account.callbackPath);
  // Scraped back to back (a pause of 250 ms between scrapes): /metrics shows it by the end of
  // the first scrape that does, and did not yet at the start of the one before.
  let detectedAt: number | undefined;
  let notYetAt = brokenAt;
  while (Date.now() - brokenAt < t.probeEverySeconds * 4000) {
    const began = Date.now();
    const s = performance.now();
    const text = await metrics();
    scrapeMs.push(performance.now() - s);
    if (metricValue(text, 'hookwarden_callback_up', { provider: account.name }) === 0) {
      detectedAt = Date.now();
      break;
    }
    notYetAt = began;
    await sleep(250);
  }
  // Broken until AXP has disabled every subscription on it and the daemon presumes so.
  let disabledAt: number | undefined;
  let presumedAt: number | undefined;
  const until = Date.now() + (t.disableAfterSeconds + 6 * t.probeEverySeconds + 30) * 1000;
  while (Date.now() < until && (disabledAt === undefined || presumedAt === undefined)) {
    const subsNow = [...(sandbox.accounts.get(account.tenant)?.digital.values() ?? [])];
    if (disabledAt === undefined && subsNow.length >= subs.length && subsNow.every((s) => s.disabledAt)) disabledAt = Date.now();
    // What /metrics shows as hookwarden_subscriptions{state="disabled"}, read from Postgres directly (cheaper than scraping).
    if (presumedAt === undefined && (await disabledRows(account.name)) >= subs.length) presumedAt = Date.now();
    await sleep(1000);
  }
  const mendedAt = Date.now();
  receiver.mend(account.callbackPath);
  // Repair: every subscription of the account delivers again (an event from each channel provider).
  const delivering = new Set<string>();
  let firstDeliveryAt: number | undefined;
  let repairedAt: number | undefined;
  const repairUntil = mendedAt + (t.reconcileEverySeconds * 3 + t.probeEverySeconds) * 1000;
  let seen = 0;
  while (Date.now() < repairUntil && repairedAt === undefined) {
    const got = receiver.received;
    for (let i = Math.max(0, Math.min(seen, got.length)); i < got.length; i++) {
      const r = got[i]!;
      if (r.probe || r.at.getTime() < mendedAt || !r.path.startsWith(account.callbackPath)) continue;
      firstDeliveryAt ??= r.at.getTime();
      delivering.add(String((r.body as { channelProviderId?: string }).channelProviderId));
    }
    seen = got.length;
    if (delivering.size >= subs.length) repairedAt = Date.now();
    else await sleep(250);
  }
  return { account: account.name, subscriptions: subs.length, brokenAt, detectedAt, notYetAt, disabledAt, presumedAt, mendedAt, firstDeliveryAt, repairedAt, delivering: delivering.size, scrapeMs };
}

/** When every subscription of an expiring kind was created, by id (from the sandboxes' state). */
function createdAt(s: { instances: Map<string, Sandbox> }): Record<string, { at: number; kind: Kind }> {
  const out: Record<string, { at: number; kind: Kind }> = {};
  for (const [key, sb] of s.instances) {
    const kind = key.split('/')[0] as Kind;
    if (!EXPIRING.has(kind)) continue;
    if (sb instanceof InfinitySandbox) for (const t of sb.tenants.values()) for (const x of t.values()) out[x.subscriptionId] = { at: x.createdAt.getTime(), kind };
    if (sb instanceof AxpSandbox) for (const a of sb.accounts.values()) for (const x of a.notification.values()) out[x.subscriptionId] = { at: x.createdAt.getTime(), kind };
  }
  return out;
}

function newest(dir: string): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'generated') walk(p);
      } else n = Math.max(n, statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return n;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(3);
  },
);
