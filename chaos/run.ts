/**
 * The chaos suite: the four provider sandboxes on loopback with lifetimes of seconds and
 * random faults on about a fifth of all calls, a Postgres of its own behind proxies it can
 * cut (and restart), and several daemon replicas run as a user runs them, which it kills,
 * freezes and restarts. Then it lets everything settle and checks the invariants:
 * every declared subscription exists exactly once and is ACTIVE, none ever lapsed, no
 * duplicate ever existed at a provider, no action was performed twice, no secret reached a
 * log. Usage: npx tsx chaos/run.ts [--short] [--seed N] [--database-url URL] [--build] [--out FILE]
 * (and, to try smaller runs: --replicas N --subscriptions N --chaos-seconds N --kills N).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CallbackReceiver } from '../src/sandbox/receiver.js';
import { startSandboxes } from '../src/sandbox/stack.js';
import { freePort } from '../src/store/embedded.js';
import { finalCheck, scanLogs, scrub, summarize, type FinalCheck } from './check.js';
import { chaosConfig, type ChaosConfig } from './config.js';
import { faultPlan } from './faults.js';
import { PgProxy } from './pgproxy.js';
import { AXP_POLICY, HTTP_TIMEOUT_SECONDS, log, PLANS, type Plan } from './plans.js';
import { ownPostgres } from './postgres.js';
import { Replica, type UnexpectedExit } from './replicas.js';
import { report } from './report.js';
import { runScenario } from './scenario.js';
import { printTable } from './table.js';
import { acquireLock, newestMtime, random, type Rng } from './util.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'hookwarden.js');

interface Run {
  plan: Plan;
  rng: Rng;
  seed: number;
  startedAt: Date;
  deadline: number;
  dir: string;
  logs: string;
  replicas: Replica[];
  cleanups: (() => Promise<unknown>)[];
  notes: string[];
  databaseUrl: string | undefined;
  outFile: string | undefined;
  recordPids: () => void;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      seed: { type: 'string' },
      'database-url': { type: 'string' },
      build: { type: 'boolean', default: false },
      replicas: { type: 'string' },
      subscriptions: { type: 'string' },
      'chaos-seconds': { type: 'string' },
      kills: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const plan: Plan = { ...PLANS[values.short ? 'short' : 'long'] };
  if (values.replicas) plan.replicas = Math.max(2, Number(values.replicas));
  if (values.subscriptions) plan.subscriptions = Math.max(4, Number(values.subscriptions));
  if (values['chaos-seconds']) plan.chaosSeconds = Math.max(30, Number(values['chaos-seconds']));
  if (values.kills) plan.kills = Math.max(1, Number(values.kills));
  const seed = values.seed ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  const startedAt = new Date();

  const release = await acquireLock(values.short ? 30_000 : 120_000);
  if (!release) {
    log('another chaos run is in progress; not starting a second one');
    return 4;
  }
  if (values.build) {
    log('building dist/');
    spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  const notes: string[] = [];
  try {
    const built = statSync(join(ROOT, 'dist', 'cli', 'index.js')).mtimeMs;
    if (newestMtime(join(ROOT, 'src')) > built) notes.push('dist/ is older than src/: the replicas ran the last build (use --build)');
  } catch {
    log('dist/ is missing: run "npm run build" (or pass --build)');
    release();
    return 2;
  }

  const dir = mkdtempSync(join(tmpdir(), 'hookwarden-chaos-'));
  const logs = join(dir, 'logs');
  mkdirSync(logs);
  log(`form ${plan.form}, seed ${seed}, logs in ${logs}`);
  const cleanups: (() => Promise<unknown>)[] = [];
  const replicas: Replica[] = [];
  // Should this process die without cleaning up, the reaper kills what it started.
  const stateFile = join(dir, 'state.json');
  const recordPids = () => writeFileSync(stateFile, JSON.stringify({ pids: replicas.map((r) => r.pid).filter((p) => p !== undefined) }));
  recordPids();
  spawn(process.execPath, [join(ROOT, 'chaos', 'reaper.mjs'), String(process.pid), stateFile, join(dir, 'pg')], { detached: true, stdio: 'ignore' }).unref();
  const finish = async () => {
    for (const c of cleanups.reverse().splice(0)) await c().catch((e: unknown) => log(`cleanup: ${(e as Error).message}`));
    rmSync(join(dir, 'pg'), { recursive: true, force: true });
    writeFileSync(stateFile, JSON.stringify({ pids: [], done: true }));
    release();
  };
  const emergency = (why: string, code: number) => {
    log(`${why}: stopping everything`);
    void Promise.allSettled(replicas.map((r) => r.kill()))
      .then(finish)
      .finally(() => process.exit(code));
  };
  const hardStop = setTimeout(() => emergency(`hard time limit of ${plan.hardLimitSeconds} s reached`, 3), plan.hardLimitSeconds * 1000);
  process.once('SIGINT', () => emergency('interrupted', 130));
  process.once('SIGTERM', () => emergency('terminated', 143));
  try {
    return await chaos({ plan, rng: random(seed), seed, startedAt, deadline: Date.now() + plan.hardLimitSeconds * 1000, dir, logs, replicas, cleanups, notes, databaseUrl: values['database-url'], outFile: values.out, recordPids });
  } finally {
    clearTimeout(hardStop);
    await finish();
  }
}

async function chaos(run: Run): Promise<number> {
  const { plan, dir, logs, replicas, cleanups } = run;
  // Sandboxes (the ones `hookwarden sandbox` runs, plus Dixa) and the callback receiver.
  const stack = await startSandboxes({
    infinity: { subscriptionLifetimeSeconds: plan.lifetimes.infinity, tokenLifetimeSeconds: 120 },
    axp: { subscriptionLifetimeSeconds: plan.lifetimes.axpNotification, tokenLifetimeSeconds: 120, deliverEveryMs: 10_000, policy: { ...AXP_POLICY, timeoutMs: 5000 } },
    dixa: { deliverEveryMs: 20_000 },
  });
  cleanups.push(() => stack.close());
  const receiver = new CallbackReceiver();
  const hooks = await receiver.listen(0);
  cleanups.push(() => receiver.close());
  const sandboxes = stack.all().map(([, s]) => s);
  const dixa = stack.dixa!;

  // The config, and a check that this build of the daemon accepts it.
  const params = {
    count: plan.subscriptions,
    urls: { infinity: stack.infinity.url, axp: stack.axp.url, dixa: dixa.url, hooks },
    leaseTtl: plan.leaseTtl as number | undefined,
    passTimeout: 20 as number | undefined,
    reconcileEverySeconds: 10,
    timeoutSeconds: HTTP_TIMEOUT_SECONDS,
    axpPolicy: AXP_POLICY,
    accounts: plan.accounts,
  };
  let cfg: ChaosConfig = chaosConfig(params);
  const file = join(dir, 'hookwarden.yaml');
  const validate = () => {
    writeFileSync(file, cfg.yaml);
    return spawnSync(process.execPath, [BIN, 'validate', '-c', file], { cwd: ROOT, env: { ...process.env, ...cfg.env, CHAOS_LISTEN_PORT: '1', CHAOS_DATABASE_URL: 'postgresql://u@127.0.0.1:1/d' }, encoding: 'utf8' });
  };
  let v = validate();
  if (v.status !== 0 && /leaseTtl|passTimeout/.test(v.stderr + v.stdout)) {
    run.notes.push('this build rejects defaults.leaseTtl/passTimeout: the config runs without them');
    cfg = chaosConfig({ ...params, leaseTtl: undefined, passTimeout: undefined });
    v = validate();
  }
  if (v.status !== 0) {
    log(`the daemon rejects the chaos config:\n${scrub(v.stderr + v.stdout, cfg.canaries)}`);
    return 2;
  }
  log(`${cfg.declared.length} subscriptions, ${plan.replicas} replicas`);

  // Postgres, and one proxy per replica in front of it.
  const pg = await ownPostgres(dir, cfg.dbPassword, run.databaseUrl);
  cleanups.push(() => pg.close());
  log(`Postgres: ${pg.kind}`);
  const proxies: PgProxy[] = [];
  for (let i = 0; i < plan.replicas; i++) {
    const p = new PgProxy(() => pg.upstream());
    await p.listen();
    proxies.push(p);
    cleanups.push(() => p.close());
  }

  // Faults on from the first call.
  for (const s of sandboxes) for (const f of faultPlan(HTTP_TIMEOUT_SECONDS)) s.addFault(f);

  const timeline: { at: string; what: string }[] = [];
  const note = (what: string) => {
    timeline.push({ at: new Date().toISOString(), what });
    log(what);
  };
  const unexpected: UnexpectedExit[] = [];
  let phase: 'chaos' | 'settle' | 'end' = 'chaos';
  for (let i = 0; i < plan.replicas; i++) {
    const r: Replica = new Replica(i + 1, await freePort(), {
      bin: BIN,
      config: file,
      dir: logs,
      cwd: dir,
      env: { ...cfg.env, CHAOS_DATABASE_URL: `postgresql://${pg.role}:${cfg.dbPassword}@127.0.0.1:${proxies[i]!.port}/${pg.database}` },
      onStart: run.recordPids,
      onUnexpectedExit: (e) => {
        unexpected.push({ ...e, lastLines: e.lastLines.map((l) => scrub(l, cfg.canaries)) });
        note(`replica ${e.replica} exited by itself (code ${e.code}, signal ${e.signal}); starting it again`);
        // As a supervisor would.
        setTimeout(() => phase !== 'end' && r.start(), 2000);
      },
    });
    replicas.push(r);
    r.start();
  }
  cleanups.push(() => Promise.allSettled(replicas.map((r) => r.kill())));
  await Promise.all(replicas.map((r) => r.waitListening(20_000)));

  // Dixa's generated signing secrets must never reach a log either: remember every one seen.
  const dixaSecrets = new Map<string, string>();
  const collectSecrets = () => {
    for (const org of dixa.orgs.values()) for (const w of org.values()) dixaSecrets.set(`dixa secretKey of ${w.name}`, w.secretKey);
  };
  const collector = setInterval(collectSecrets, 2000);
  cleanups.push(async () => clearInterval(collector));

  note('replicas started; chaos begins');
  const scenario = await runScenario({ plan, rng: run.rng, replicas, proxies, pg, sandboxes, start: Date.now(), inChaos: () => phase === 'chaos', note });

  // Settle: no more faults, everything healed and running; wait for the providers to converge.
  phase = 'settle';
  const faults: Record<string, number> = {};
  for (const s of sandboxes) {
    for (const [k, n] of s.server.faultTable.fired) {
      // Every delay here outlasts the daemon's HTTP timeout.
      const kind = k === 'delay' ? 'timeout' : k === 'delay-after' ? 'timeout+afterCommit' : k;
      faults[kind] = (faults[kind] ?? 0) + n;
    }
    s.server.clearFaults();
  }
  for (const p of proxies) p.heal();
  for (const r of replicas) {
    if (r.frozen) r.thaw();
    if (!r.running) r.start();
  }
  note('chaos over; faults cleared; settling');
  const settleStart = Date.now();
  const check = () => finalCheck(summarize(sandboxes.map((s) => s.audit), cfg.declared), cfg.declared);
  let final: FinalCheck = check();
  let okSince: number | undefined;
  const settleUntil = Math.min(settleStart + plan.settleSeconds * 1000, run.deadline - 25_000);
  // Calm for at least one lifetime, so that a subscription the daemon lost track of lapses now.
  const calmFor = Math.min(plan.settleSeconds, Math.max(plan.lifetimes.infinity, plan.lifetimes.axpNotification)) * 1000;
  while (Date.now() < settleUntil) {
    final = check();
    if (final.ok && replicas.every((r) => r.ready)) okSince ??= Date.now();
    else okSince = undefined;
    // Converged, still so a few seconds later, and calm long enough.
    if (okSince && Date.now() - okSince >= 4000 && Date.now() - settleStart >= calmFor) break;
    await sleep(1000);
  }
  collectSecrets();

  // The end: who is alive, what the audits say, what the logs hold.
  const alive = (await Promise.all(replicas.map((r) => r.healthy()))).filter(Boolean).length;
  phase = 'end';
  const summary = summarize(sandboxes.map((s) => s.audit), cfg.declared);
  final = finalCheck(summary, cfg.declared);
  // What the daemon itself records about the subscriptions that did not converge.
  const unsettled = new Set([...final.missing, ...final.duplicated, ...final.inactive]);
  let recorded: unknown[] = [];
  if (unsettled.size) {
    const st = spawnSync(process.execPath, [BIN, 'status', '-c', file, '--json'], {
      cwd: ROOT,
      env: { ...process.env, ...cfg.env, CHAOS_LISTEN_PORT: '1', CHAOS_DATABASE_URL: `postgresql://${pg.role}:${cfg.dbPassword}@127.0.0.1:${proxies[0]!.port}/${pg.database}` },
      encoding: 'utf8',
      timeout: 30_000,
    });
    try {
      recorded = (JSON.parse(st.stdout) as { subscriptions: { name: string }[] }).subscriptions.filter((x) => unsettled.has(x.name));
    } catch {
      recorded = [`hookwarden status failed: ${scrub(st.stderr.slice(-500), cfg.canaries)}`];
    }
  }
  const firedFaults = sandboxes.flatMap((s) => s.server.faultTable.recent);
  const stops = await Promise.all(replicas.map((r) => r.stop()));
  const { json, rows, exitCode } = report({
    plan,
    seed: run.seed,
    startedAt: run.startedAt,
    notes: [...run.notes, ...cfg.notes],
    postgres: pg.kind,
    cfg,
    faults,
    providerCalls: sandboxes.reduce((n, s) => n + [...s.server.stats.values()].reduce((a, b) => a + b, 0), 0),
    scenario,
    summary,
    final,
    recorded,
    firedFaults,
    settledAfter: okSince ? Math.round((okSince - settleStart) / 100) / 10 : undefined,
    secretHits: scanLogs(logs, cfg.canaries, dixaSecrets, 'chaos'),
    alive,
    starts: replicas.reduce((n, r) => n + r.starts, 0),
    unexpected,
    stops,
    callbacks: { events: receiver.count({ probe: false }), probes: receiver.count({ probe: true }) },
    timeline,
    logs,
  });
  const out = run.outFile ?? join(ROOT, 'chaos', 'results', `${run.startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, json);
  printTable([...rows, ['written to', out]]);
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(3);
  },
);
