import type { Lapse, SandboxAudit } from '../src/sandbox/audit.js';
import type { PassRecord, Snapshot } from './daemon.js';
import { EXPIRING, KINDS, listPages, PUBLISHED_LIMIT, type Kind, type Timing } from './fleet.js';
import { byOp, peakInWindow, perSecond, type Hit } from './traffic.js';
import { stallsIn, type Stall } from './stalls.js';

/** What a run collected (bench/run.ts), before any arithmetic. */
export interface Sweep {
  reloadAt: number;
  revertedAt: number | undefined;
  before: Snapshot;
  after: Snapshot;
  /** The first pass of each account started after the reload. */
  passes: PassRecord[];
}

export interface Raw {
  startedAt: string;
  node: string;
  postgres: string;
  notes: string[];
  scale: { subscriptions: number; accounts: number; perKind: Record<Kind, { accounts: number; subscriptions: number }>; sandboxInstances: number };
  timing: Timing & { naiveEverySeconds: number; pageSize: number; concurrency: number; actionConcurrency: number };
  fleet: { name: string; kind: Kind; size: number; scenario: boolean }[];
  first: { spawnedAt: number; liveAt: number; readyAt: number | undefined; snapshot: Snapshot; passes: PassRecord[] };
  /** Every account at once right after the first pass (rows may still settle), then idle, then at the default concurrency. */
  idleFirst: Sweep;
  idle: Sweep;
  idlePaced: Sweep;
  allDue: Sweep;
  scrapes: { ms: number; bytes: number; series: number; cpuSeconds: number }[];
  scenario: {
    account: string;
    subscriptions: number;
    brokenAt: number;
    detectedAt: number | undefined;
    /** The start of the last scrape that did not show it yet. */
    notYetAt: number;
    disabledAt: number | undefined;
    presumedAt: number | undefined;
    mendedAt: number;
    firstDeliveryAt: number | undefined;
    repairedAt: number | undefined;
    delivering: number;
    scrapeMs: number[];
  };
  steady: { from: number; to: number; before: Snapshot; after: Snapshot; benchStalls?: Stall[] };
  daemon: { stoppedAt: number; exitCode: number | null; last: Snapshot; passes: PassRecord[] };
  naive: { from: number; to: number; floorRssBytes: number | undefined; report: { rounds?: { startedAt: string; seconds: number }[]; requests?: Record<string, number>; errors?: Record<string, number>; maxRssBytes?: number } };
  audits: { scenario: boolean; report: ReturnType<SandboxAudit['report']> }[];
  created: Record<string, { at: number; kind: Kind }>;
  hits: Hit[];
  identities: Record<string, string>;
  /** bench --profile: the heaviest functions of each CPU profile, and what holds the heap. */
  profiles?: unknown;
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const mb = (b: number) => Math.round(b / 1048576);
const sec = (ms: number) => r2(ms / 1000);

/** Total length of the union of intervals. */
function union(iv: [number, number][]): number {
  const s = [...iv].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let cur: [number, number] | undefined;
  for (const [a, b] of s) {
    if (!cur || a > cur[1]) {
      if (cur) total += cur[1] - cur[0];
      cur = [a, b];
    } else cur[1] = Math.max(cur[1], b);
  }
  if (cur) total += cur[1] - cur[0];
  return total;
}

/** Least squares y = a + b·x. */
function fit(xs: number[], ys: number[]): { intercept: number; slope: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const slope = sxx ? sxy / sxx : 0;
  return { intercept: my - slope * mx, slope };
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))]! : NaN;
};

/** A lapse that counts: the subscription expired (events stopped), or was disabled or deleted and never brought back. */
const counts = (l: Lapse) => l.why === 'expired' || !l.recoveredAt;

export function analyse(raw: Raw): { json: unknown; table: string } {
  const t = raw.timing;
  const L = t.lifetimeSeconds;
  const size = new Map(raw.fleet.map((a) => [a.name, a.size]));
  const main = raw.fleet.filter((a) => !a.scenario);
  const mainSubs = main.reduce((n, a) => n + a.size, 0);
  const expiringSubs = main.filter((a) => EXPIRING.has(a.kind)).reduce((n, a) => n + a.size, 0);
  const oauthAccounts = main.filter((a) => a.kind !== 'dixa').length;
  const hits = raw.hits;

  // --- first pass
  const firstHit = hits.find((h) => h.at >= raw.first.spawnedAt)?.at ?? raw.first.spawnedAt;
  const firstHits = hits.filter((h) => h.at >= firstHit && h.at <= raw.first.liveAt);
  const firstWall = (raw.first.liveAt - firstHit) / 1000;
  const perKindRate = (hs: Hit[], seconds: number) =>
    Object.fromEntries(
      KINDS.map((k) => {
        const ks = hs.filter((h) => h.kind === k);
        const published = PUBLISHED_LIMIT[k];
        const tokens = new Map<string, number[]>();
        if (published) for (const h of ks) tokens.set(h.who, [...(tokens.get(h.who) ?? []), h.at]);
        const perToken = [...tokens.values()].map((ts) => ({ n: ts.length, peak: peakInWindow(ts), mean: ts.length / Math.max(1, (Math.max(...ts) - Math.min(...ts)) / 1000 + 1 / published!) }));
        return [
          k,
          {
            requests: ks.length,
            meanPerSecond: r1(ks.length / Math.max(seconds, 0.001)),
            peakPerSecond: peakInWindow(ks.map((h) => h.at)),
            rateLimited: ks.filter((h) => h.status === 429).length,
            publishedLimitPerSecond: published ?? 'none published',
            ...(published
              ? {
                  perToken: {
                    tokens: perToken.length,
                    peakPerSecond: Math.max(0, ...perToken.map((p) => p.peak)),
                    meanPerSecondWhileBusy: r1(perToken.reduce((a, p) => a + p.mean, 0) / Math.max(1, perToken.length)),
                    secondsAtLimit: r1(Math.max(0, ...perToken.map((p) => p.n / published))),
                  },
                }
              : {}),
          },
        ];
      }),
    ) as Record<Kind, { requests: number; meanPerSecond: number; peakPerSecond: number; rateLimited: number; publishedLimitPerSecond: number | string; perToken?: { tokens: number; peakPerSecond: number; meanPerSecondWhileBusy: number; secondsAtLimit: number } }>;
  const firstRates = perKindRate(firstHits, firstWall);
  const limitBound = Math.max(0, ...KINDS.map((k) => firstRates[k].perToken?.secondsAtLimit ?? 0));
  const first = {
    wallSeconds: r1(firstWall),
    fromDaemonStartSeconds: r1((raw.first.liveAt - raw.first.spawnedAt) / 1000),
    readyAfterSeconds: raw.first.readyAt ? r1((raw.first.readyAt - raw.first.spawnedAt) / 1000) : null,
    creates: firstHits.filter((h) => h.op === 'create' && h.status < 300).length,
    requests: firstHits.length,
    byOp: byOp(firstHits),
    perKind: firstRates,
    publishedLimitsAloneNeedSeconds: limitBound,
    daemonCpuSeconds: r2(raw.first.snapshot.cpuSeconds),
    daemonMaxRssMB: mb(raw.first.snapshot.maxRssBytes),
    sqlStatements: raw.first.snapshot.sql,
    passes: raw.first.passes.length,
    requestsPerSecond: perSecond(firstHits.map((h) => h.at), firstHit, raw.first.liveAt + 1),
  };

  // --- sweeps (idle and all-due)
  const sweep = (s: Sweep) => {
    const ps = s.passes.filter((p) => p.end > 0);
    if (!ps.length) return undefined;
    const firstP = ps.reduce((a, b) => (b.start < a.start ? b : a));
    const lastP = ps.reduce((a, b) => (b.end > a.end ? b : a));
    const from = firstP.start;
    const to = lastP.end;
    const hs = hits.filter((h) => h.at >= from && h.at <= to);
    const sizes = ps.map((p) => size.get(p.account) ?? 0);
    const sql = ps.map((p) => p.sql);
    const f = fit(sizes, sql);
    return {
      accounts: ps.length,
      wallSeconds: sec(to - from),
      busySeconds: sec(union(ps.map((p) => [p.start, p.end]))),
      reloadToLastPassSeconds: sec(to - s.reloadAt),
      passSeconds: { mean: r3(ps.reduce((a, p) => a + (p.end - p.start), 0) / ps.length / 1000), max: sec(Math.max(...ps.map((p) => p.end - p.start))), sum: sec(ps.reduce((a, p) => a + (p.end - p.start), 0)) },
      cpuSeconds: r2(lastP.cpu1 - firstP.cpu0),
      sqlStatements: lastP.sql1 - firstP.sql0,
      sqlInPasses: sql.reduce((a, b) => a + b, 0),
      sqlPerPass: { mean: r1(sql.reduce((a, b) => a + b, 0) / sql.length), min: Math.min(...sql), max: Math.max(...sql), perExtraSubscription: r3(f.slope), atZeroSubscriptions: r1(f.intercept) },
      actions: ps.reduce((a, p) => a + p.actions, 0),
      inSync: ps.reduce((a, p) => a + p.records, 0),
      renewals: ps.reduce((a, p) => a + p.renewals, 0),
      requests: hs.length,
      byOp: byOp(hs),
      perKind: perKindRate(hs, (to - from) / 1000),
      rssMB: mb(Math.max(...ps.map((p) => p.rss1))),
      maxRssMB: mb(s.after.maxRssBytes),
      requestsPerSecond: perSecond(hs.map((h) => h.at), from, to + 1),
    };
  };
  const idleFirst = sweep(raw.idleFirst);
  const idle = sweep(raw.idle);
  const idlePaced = sweep(raw.idlePaced);
  const allDueSweep = sweep(raw.allDue);
  const waveEnd = Math.max(...raw.allDue.passes.map((p) => p.end));
  const waveRenews = hits.filter((h) => h.op === 'renew' && h.status < 300 && h.at >= raw.allDue.reloadAt && h.at <= waveEnd);
  const waveIds = new Set(waveRenews.map((h) => h.id));
  const renewedAgain = hits.filter((h) => h.op === 'renew' && h.at > waveEnd && h.at < waveEnd + (L / 3) * 1000 && waveIds.has(h.id)).length;
  // The daemon never renews a subscription again within a tenth of its lifetime (at most
  // 30 s) of renewing it (its guard against a provider whose clock runs ahead): those renewed
  // that shortly before the all-due reload are not due in it.
  const gapMs = Math.min(30, Math.max(1, Math.floor(L / 10))) * 1000;
  const renewedJustBefore = new Set(hits.filter((h) => h.op === 'renew' && h.status < 300 && h.id && h.at < raw.allDue.reloadAt && h.at >= raw.allDue.reloadAt - gapMs).map((h) => h.id)).size;
  const allDue = allDueSweep && {
    ...allDueSweep,
    expiringSubscriptions: expiringSubs,
    renewedJustBefore,
    renewed: waveIds.size,
    renewRequests: waveRenews.length,
    renewSpanSeconds: waveRenews.length ? sec(Math.max(...waveRenews.map((h) => h.at)) - Math.min(...waveRenews.map((h) => h.at))) : 0,
    renewalsPerSecond: waveRenews.length ? r1(waveRenews.length / Math.max(0.001, (Math.max(...waveRenews.map((h) => h.at)) - Math.min(...waveRenews.map((h) => h.at))) / 1000)) : 0,
    renewedAgainWithinAThirdOfALifetime: renewedAgain,
    sqlPerRenewal: waveRenews.length ? r1(allDueSweep.sqlStatements / waveRenews.length) : null,
  };

  // --- steady state: requests per subscription per lifetime against the minimum
  // The time since each renewal's previous renewal (or the create) of the same subscription.
  const gapOf = new Map<Hit, number>();
  {
    const last = new Map<string, number>(Object.entries(raw.created).map(([id, c]) => [id, c.at]));
    for (const h of hits) {
      if (h.op !== 'renew' || h.status >= 300 || !h.id) continue;
      const prev = last.get(h.id);
      if (prev !== undefined) gapOf.set(h, (h.at - prev) / 1000);
      last.set(h.id, h.at);
    }
  }
  const steadyOf = (from: number, to: number, everyListSeconds: number) => {
    const hs = hits.filter((h) => h.at >= from && h.at < to && !h.scenario);
    const W = (to - from) / 1000;
    const lifetimes = W / L;
    const ops = byOp(hs);
    const polls = (ops.deliveries ?? 0) + (ops['delivery-logs'] ?? 0);
    const job = hs.length - polls;
    const minimum = {
      renew: expiringSubs * lifetimes,
      list: main.reduce((n, a) => n + listPages(a), 0) * (W / everyListSeconds),
      token: oauthAccounts * (W / t.tokenLifetimeSeconds),
    };
    const minTotal = minimum.renew + minimum.list + minimum.token;
    // Renewals per subscription per lifetime from the time between two renewals of one
    // subscription: unlike a count in a window, it does not depend on where the window falls
    // in the renewal cycle.
    const gaps = hs.filter((h) => gapOf.has(h)).map((h) => gapOf.get(h)!);
    const meanGap = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
    const renewalsPerLifetime = L / meanGap;
    const otherPerLifetime = (job - (ops.renew ?? 0)) / lifetimes;
    const perSubPerLifetime = (renewalsPerLifetime * expiringSubs + otherPerLifetime) / mainSubs;
    const minPerSubPerLifetime = minTotal / lifetimes / mainSubs;
    // With renewBefore 33%, a renewal comes when two thirds of the lifetime have passed: 1.5 renewals per lifetime.
    const policyMinPerSub = (minTotal / lifetimes + expiringSubs * 0.5) / mainSubs;
    return {
      windowSeconds: r1(W),
      lifetimes: r2(lifetimes),
      requests: hs.length,
      byOp: ops,
      deliveryPolls: polls,
      renewalsPerSubscriptionPerLifetime: r2(renewalsPerLifetime),
      secondsBetweenRenewals: { mean: r1(meanGap), min: r1(Math.min(...gaps)), max: r1(Math.max(...gaps)) },
      perSubscriptionPerLifetime: r3(perSubPerLifetime),
      countedInWindow: { perSubscriptionPerLifetime: r3(job / (mainSubs * lifetimes)), ratio: r2(job / minTotal) },
      minimum: { renew: Math.round(minimum.renew), list: Math.round(minimum.list), token: Math.round(minimum.token), total: Math.round(minTotal), perSubscriptionPerLifetime: r3(minPerSubPerLifetime) },
      listsPerAccountPerLifetime: r2((ops.list ?? 0) / lifetimes / main.length),
      minimumListsPerAccountPerLifetime: r2(main.reduce((n, a) => n + listPages(a), 0) * (L / everyListSeconds) / main.length),
      ratio: r2(perSubPerLifetime / minPerSubPerLifetime),
      ratioToRenewBefore33: r2(perSubPerLifetime / policyMinPerSub),
    };
  };
  const steady = steadyOf(raw.steady.from, raw.steady.to, t.reconcileEverySeconds);
  const naiveSteady = steadyOf(raw.naive.from, raw.naive.to, t.reconcileEverySeconds);

  // --- renewal spread: the subscriptions created in the same minute (the busiest one)
  const created = Object.entries(raw.created).sort((a, b) => a[1].at - b[1].at);
  let best: [number, number] = [0, 0];
  for (let i = 0, j = 0; i < created.length; i++) {
    while (created[i]![1].at - created[j]![1].at >= 60_000) j++;
    if (i - j + 1 > best[1] - best[0]) best = [j, i + 1];
  }
  const cohort = new Set(created.slice(best[0], best[1]).map(([id]) => id));
  const spreadOf = (from: number, to: number) => {
    const ts = hits.filter((h) => h.op === 'renew' && h.status < 300 && h.at >= from && h.at < to && h.id && cohort.has(h.id)).map((h) => h.at);
    const bins = perSecond(ts, from, to);
    const mean = ts.length / ((to - from) / 1000);
    const peak = Math.max(0, ...bins);
    // Where the busiest seconds fell (seconds after the window's start): to tell a burst that
    // recurs each cycle from one that happened once (a pause of the process).
    const peaks = bins.map((n, second) => ({ second, n })).sort((a, b) => b.n - a.n).slice(0, 5);
    return { renewals: ts.length, meanPerSecond: r2(mean), peakPerSecond: peak, spread: mean ? r2(peak / mean) : null, p99PerSecond: quantile(bins, 0.99), peaks, perSecond: bins };
  };
  const spread = { cohort: cohort.size, ...spreadOf(raw.steady.from, raw.steady.to) };
  const naiveSpread = { cohort: cohort.size, ...spreadOf(raw.naive.from, raw.naive.to) };

  // How much lifetime was left when hookwarden renewed (steady state).
  const left = hits.filter((h) => gapOf.has(h) && h.at >= raw.steady.from && h.at < raw.steady.to).map((h) => L - gapOf.get(h)!);
  const lifetimeLeftAtRenewal = { min: r1(Math.min(...left)), p50: r1(quantile(left, 0.5)), max: r1(Math.max(...left)) };

  // --- detection and repair
  const sc = raw.scenario;
  const scenario = {
    account: sc.account,
    subscriptions: sc.subscriptions,
    detectionSeconds: sc.detectedAt ? sec(sc.detectedAt - sc.brokenAt) : null,
    detectionNotBeforeSeconds: sec(sc.notYetAt - sc.brokenAt),
    probeEverySeconds: t.probeEverySeconds,
    disabledByProviderAfterSeconds: sc.disabledAt ? sec(sc.disabledAt - sc.brokenAt) : null,
    presumedDisabledAfterSeconds: sc.presumedAt ? sec(sc.presumedAt - sc.brokenAt) : null,
    brokenForSeconds: sec(sc.mendedAt - sc.brokenAt),
    repairSeconds: sc.repairedAt ? sec(sc.repairedAt - sc.mendedAt) : null,
    firstDeliveryAfterSeconds: sc.firstDeliveryAt ? sec(sc.firstDeliveryAt - sc.mendedAt) : null,
    subscriptionsDeliveringAgain: sc.delivering,
    reconcileEverySeconds: t.reconcileEverySeconds,
    metricsScrapeMs: { mean: r1(sc.scrapeMs.reduce((a, b) => a + b, 0) / Math.max(1, sc.scrapeMs.length)), max: r1(Math.max(0, ...sc.scrapeMs)) },
  };

  // --- lapses and duplicates, by phase
  const stop = raw.daemon.stoppedAt;
  const lapses = raw.audits.flatMap((a) => a.report.lapses.map((l) => ({ ...l, scenario: a.scenario, name: raw.identities[l.identity] })));
  const counted = lapses.filter(counts);
  const phaseOf = (at: string) => (Date.parse(at) < stop ? 'hookwarden' : 'naive');
  const dup = raw.audits.flatMap((a) => a.report.identities.filter((i) => i.maxLive > 1).map((i) => ({ identity: i.identity, name: raw.identities[i.identity], maxLive: i.maxLive, at: i.maxLiveAt ?? '' })));
  const lapseSummary = (phase: string) => ({
    lapses: counted.filter((l) => phaseOf(l.at) === phase).length,
    expired: counted.filter((l) => phaseOf(l.at) === phase && l.why === 'expired').length,
    neverRecovered: counted.filter((l) => phaseOf(l.at) === phase && !l.recoveredAt).length,
    duplicates: dup.filter((d) => phaseOf(d.at) === phase).length,
  });
  const lapseReport = {
    hookwarden: lapseSummary('hookwarden'),
    naive: lapseSummary('naive'),
    scenarioDisabledAndRecreated: lapses.filter((l) => l.scenario && l.recoveredAt && l.why !== 'expired').length,
    examples: counted.slice(0, 10),
    duplicates: dup.slice(0, 10),
  };

  // --- memory, CPU
  const daemonMaxRss = mb(raw.daemon.last.maxRssBytes);
  const naiveMaxRss = raw.naive.report.maxRssBytes ? mb(raw.naive.report.maxRssBytes) : null;
  const scrape = raw.scrapes[raw.scrapes.length - 1]!;

  // --- targets
  const target = (name: string, met: boolean | null, detail: string) => ({ name, met, detail });
  const sqlShare = idle ? (idle.sqlPerPass.perExtraSubscription * (mainSubs / main.length)) / Math.max(1, idle.sqlPerPass.mean) : 1;
  const targets = [
    target('idle pass over everything under 2 s wall', idle ? idle.wallSeconds < 2 : null, idle ? `${idle.wallSeconds} s with every account at once; ${idlePaced?.reloadToLastPassSeconds ?? '?'} s at the default concurrency` : 'not measured'),
    target('peak RSS of the daemon under 200 MB', daemonMaxRss < 200, `${daemonMaxRss} MB over the whole run`),
    target('SQL per pass grows with accounts, not subscriptions', idle ? sqlShare < 0.1 : null, idle ? `${idle.sqlPerPass.mean} statements per idle pass, ${idle.sqlPerPass.perExtraSubscription} more per subscription in the account` : 'not measured'),
    target('requests per subscription per lifetime within 1.1x the minimum', steady.ratio <= 1.1, `${steady.ratio}x (${steady.ratioToRenewBefore33}x of what renewBefore 33% needs)`),
    target('renewal spread at most 1.5', spread.spread !== null ? spread.spread <= 1.5 : null, `${spread.spread} (peak ${spread.peakPerSecond}/s over a mean of ${spread.meanPerSecond}/s)`),
    target('first pass bounded by the providers\' limits', firstWall <= limitBound * 1.25 + 2, `${first.wallSeconds} s; Dixa's 10 req/s alone needs ${limitBound} s; Dixa tokens reached ${firstRates.dixa.perToken?.peakPerSecond ?? '?'} req/s at peak`),
    // Only Infinity and AXP Notification renew, and neither publishes a limit: nothing to be bound by.
    target('all-due pass bounded by the providers\' limits', null, allDue ? `no published limit applies (only Infinity and AXP Notification renew); ${allDue.renewed} of ${expiringSubs} renewed in ${allDue.wallSeconds} s, ${allDue.renewalsPerSecond} renewals/s, 429s: ${KINDS.reduce((n, k) => n + allDue.perKind[k].rateLimited, 0)}` : 'not measured'),
    target('detection within one probe interval', scenario.detectionSeconds !== null ? scenario.detectionSeconds <= t.probeEverySeconds : false, `${scenario.detectionSeconds ?? 'never'} s (probe every ${t.probeEverySeconds} s)`),
    target('repair within one reconcile interval', scenario.repairSeconds !== null ? scenario.repairSeconds <= t.reconcileEverySeconds : false, `${scenario.repairSeconds ?? 'never'} s (reconcile every ${t.reconcileEverySeconds} s)`),
    target('zero lapses', lapseReport.hookwarden.lapses === 0, `${lapseReport.hookwarden.lapses} (naive: ${lapseReport.naive.lapses})`),
  ];

  const json = {
    startedAt: raw.startedAt,
    node: raw.node,
    postgres: raw.postgres,
    notes: raw.notes,
    scale: raw.scale,
    timing: raw.timing,
    first,
    afterFirst: idleFirst,
    idle,
    idleAtDefaultConcurrency: idlePaced,
    allDue,
    steady: {
      ...steady,
      renewalSpread: spread,
      lifetimeLeftAtRenewalSeconds: lifetimeLeftAtRenewal,
      daemonCpuSeconds: r2(raw.steady.after.cpuSeconds - raw.steady.before.cpuSeconds),
      daemonCpuShareOfOneCore: r3((raw.steady.after.cpuSeconds - raw.steady.before.cpuSeconds) / ((raw.steady.to - raw.steady.from) / 1000)),
      sqlStatements: raw.steady.after.sql - raw.steady.before.sql,
      sqlPerSecond: r1((raw.steady.after.sql - raw.steady.before.sql) / ((raw.steady.to - raw.steady.from) / 1000)),
      // Event-loop stalls over 250 ms in the window: the daemon's, and the bench process's own
      // (it serves the sandboxes and stamps their requests).
      stalls: { daemon: stallsIn(raw.steady.after.stalls ?? [], raw.steady.from, raw.steady.to), bench: stallsIn(raw.steady.benchStalls ?? [], raw.steady.from, raw.steady.to) },
    },
    naive: { everySeconds: t.naiveEverySeconds, rounds: raw.naive.report.rounds, errors: raw.naive.report.errors, ...naiveSteady, renewalSpread: naiveSpread, maxRssMB: naiveMaxRss, idleProcessRssMB: raw.naive.floorRssBytes ? mb(raw.naive.floorRssBytes) : null },
    scenario,
    lapses: lapseReport,
    daemon: {
      maxRssMB: daemonMaxRss,
      rssMB: {
        afterFirstPass: mb(raw.first.snapshot.rssBytes),
        maxAfterFirstPass: mb(raw.first.snapshot.maxRssBytes),
        idlePass: idle?.rssMB ?? null,
        steadyStart: mb(raw.steady.before.rssBytes),
        steadyEnd: mb(raw.steady.after.rssBytes),
        end: mb(raw.daemon.last.rssBytes),
      },
      /** Where the memory is, at the end of the steady state (V8 heap, and memory outside it: WebAssembly, buffers). */
      memoryAtSteadyEndMB: Object.fromEntries(Object.entries(raw.steady.after.memory).map(([k, v]) => [k, mb(v)])),
      cpuSeconds: r2(raw.daemon.last.cpuSeconds),
      sqlStatements: raw.daemon.last.sql,
      passes: raw.daemon.passes.length,
      exitCode: raw.daemon.exitCode,
    },
    metricsScrape: { ms: r1(scrape.ms), bytes: scrape.bytes, series: scrape.series, daemonCpuSeconds: r3(scrape.cpuSeconds) },
    targets,
    ...(raw.profiles ? { profiles: raw.profiles } : {}),
    idlePasses: raw.idle.passes.map((p) => ({ account: p.account, subscriptions: size.get(p.account), ms: p.end - p.start, sql: p.sql })),
  };
  return { json, table: table(raw, json, targets) };
}

type Json = ReturnType<typeof analyse>['json'] & Record<string, unknown>;

function table(raw: Raw, j: Json, targets: { name: string; met: boolean | null; detail: string }[]): string {
  const x = j as unknown as {
    first: { wallSeconds: number; creates: number; requests: number; perKind: Record<Kind, { peakPerSecond: number; meanPerSecond: number; rateLimited: number; perToken?: { peakPerSecond: number; meanPerSecondWhileBusy: number } }>; publishedLimitsAloneNeedSeconds: number; daemonCpuSeconds: number };
    idle?: { wallSeconds: number; busySeconds: number; cpuSeconds: number; sqlStatements: number; sqlPerPass: { mean: number; perExtraSubscription: number }; requests: number; actions: number; rssMB: number; maxRssMB: number };
    idleAtDefaultConcurrency?: { reloadToLastPassSeconds: number; wallSeconds: number; busySeconds: number; cpuSeconds: number; sqlStatements: number; requests: number; actions: number };
    allDue?: { wallSeconds: number; renewed: number; renewedJustBefore?: number; expiringSubscriptions: number; renewalsPerSecond: number; cpuSeconds: number; sqlPerRenewal: number | null; perKind: Record<Kind, { peakPerSecond: number }>; renewedAgainWithinAThirdOfALifetime: number };
    steady: { windowSeconds: number; lifetimes: number; perSubscriptionPerLifetime: number; renewalsPerSubscriptionPerLifetime: number; listsPerAccountPerLifetime: number; minimumListsPerAccountPerLifetime: number; minimum: { perSubscriptionPerLifetime: number }; ratio: number; ratioToRenewBefore33: number; byOp: Record<string, number>; renewalSpread: { spread: number | null; peakPerSecond: number; meanPerSecond: number; cohort: number }; lifetimeLeftAtRenewalSeconds: { min: number }; stalls?: Record<'daemon' | 'bench', { count: number; totalSeconds: number; maxSeconds: number }> };
    naive: { everySeconds: number; windowSeconds: number; perSubscriptionPerLifetime: number; renewalsPerSubscriptionPerLifetime: number; listsPerAccountPerLifetime: number; idleProcessRssMB: number | null; ratio: number; byOp: Record<string, number>; renewalSpread: { spread: number | null; peakPerSecond: number; meanPerSecond: number }; maxRssMB: number | null };
    scenario: { detectionSeconds: number | null; repairSeconds: number | null; firstDeliveryAfterSeconds: number | null; brokenForSeconds: number };
    lapses: { hookwarden: { lapses: number; duplicates: number }; naive: { lapses: number; duplicates: number } };
    daemon: { maxRssMB: number };
    metricsScrape: { ms: number; bytes: number; series: number; daemonCpuSeconds: number };
  };
  const t = raw.timing;
  const kinds = (f: (k: Kind) => string) => KINDS.map((k) => `${k.replace('avaya-', '').replace('axp-', '')} ${f(k)}`).join(', ');
  const rows: string[][] = [
    ['measure', 'hookwarden', `naive cron (every ${t.naiveEverySeconds} s)`],
    ['first pass: wall', `${x.first.wallSeconds} s for ${x.first.creates} creates (${x.first.requests} requests, ${x.first.daemonCpuSeconds} s CPU)`, '—'],
    ['first pass: req/s peak (limit)', kinds((k) => `${x.first.perKind[k].peakPerSecond}${k === 'dixa' ? `, ${x.first.perKind.dixa.perToken?.peakPerSecond ?? 0}/token (10/token)` : ' (none published)'}`), '—'],
    ['first pass: published limits need', `${x.first.publishedLimitsAloneNeedSeconds} s (largest Dixa account at 10 req/s); 429s: ${x.first.perKind.dixa.rateLimited}`, '—'],
  ];
  if (x.idle) {
    rows.push(['idle pass, all accounts at once', `${x.idle.wallSeconds} s wall, ${x.idle.cpuSeconds} s CPU, ${x.idle.sqlStatements} SQL, ${x.idle.requests} requests, ${x.idle.actions} actions, RSS ${x.idle.rssMB} MB`, '—']);
    rows.push(['idle pass: SQL per account pass', `${x.idle.sqlPerPass.mean} (+${x.idle.sqlPerPass.perExtraSubscription} per subscription in the account)`, '—']);
  }
  if (x.idleAtDefaultConcurrency) {
    const p = x.idleAtDefaultConcurrency;
    rows.push(['idle pass, concurrency 8', `${p.reloadToLastPassSeconds} s from reload to last pass (${p.busySeconds} s busy), ${p.cpuSeconds} s CPU, ${p.sqlStatements} SQL, ${p.requests} requests, ${p.actions} actions`, '—']);
  }
  if (x.allDue) {
    rows.push(['all-due pass', `${x.allDue.renewed}/${x.allDue.expiringSubscriptions} renewed in ${x.allDue.wallSeconds} s (${x.allDue.renewalsPerSecond} renewals/s), ${x.allDue.cpuSeconds} s CPU, ${x.allDue.sqlPerRenewal} SQL per renewal`, '—']);
    if (x.allDue.renewedJustBefore !== undefined) rows.push(['  not due: renewed just before', `${x.allDue.renewedJustBefore} renewed within a tenth of a lifetime before the reload (never renewed again that soon)`, '—']);
    rows.push(['all-due: req/s peak (limit)', kinds((k) => `${x.allDue!.perKind[k].peakPerSecond}${k === 'dixa' ? ' (10/token)' : ''}`), '—']);
  }
  rows.push(
    ['requests/subscription/lifetime', `${x.steady.perSubscriptionPerLifetime} (min ${x.steady.minimum.perSubscriptionPerLifetime}): ${x.steady.ratio}x`, `${x.naive.perSubscriptionPerLifetime}: ${x.naive.ratio}x`],
    ['  renewals per expiring sub/lifetime', `${x.steady.renewalsPerSubscriptionPerLifetime} (min 1; 1.5 with renewBefore 33%)`, `${x.naive.renewalsPerSubscriptionPerLifetime}`],
    ['  lists per account/lifetime', `${x.steady.listsPerAccountPerLifetime} (min ${x.steady.minimumListsPerAccountPerLifetime})`, `${x.naive.listsPerAccountPerLifetime}`],
    ['  requests in the window', ops(x.steady.byOp), ops(x.naive.byOp)],
    ['renewal spread (peak/mean)', `${x.steady.renewalSpread.spread} (${x.steady.renewalSpread.peakPerSecond}/s over ${x.steady.renewalSpread.meanPerSecond}/s; ${x.steady.renewalSpread.cohort} created in one minute)`, `${x.naive.renewalSpread.spread} (${x.naive.renewalSpread.peakPerSecond}/s over ${x.naive.renewalSpread.meanPerSecond}/s)`],
    ...(x.steady.stalls
      ? [['  event-loop stalls > 0.25 s (steady)', `daemon ${x.steady.stalls.daemon.count} (${x.steady.stalls.daemon.totalSeconds} s, longest ${x.steady.stalls.daemon.maxSeconds} s); bench process (sandboxes) ${x.steady.stalls.bench.count} (${x.steady.stalls.bench.totalSeconds} s, longest ${x.steady.stalls.bench.maxSeconds} s)`, '—']]
      : []),
    ['lifetime left at renewal (min)', `${x.steady.lifetimeLeftAtRenewalSeconds.min} s of ${t.lifetimeSeconds} s`, '—'],
    ['detection (callback broken -> /metrics)', `${x.scenario.detectionSeconds ?? 'never'} s (probe every ${t.probeEverySeconds} s)`, 'none'],
    ['repair (mended -> deliveries flowing)', `${x.scenario.repairSeconds ?? 'never'} s, first delivery ${x.scenario.firstDeliveryAfterSeconds ?? '-'} s (reconcile every ${t.reconcileEverySeconds} s)`, 'none'],
    ['lapses (duplicates)', `${x.lapses.hookwarden.lapses} (${x.lapses.hookwarden.duplicates})`, `${x.lapses.naive.lapses} (${x.lapses.naive.duplicates})`],
    ['peak RSS', `${x.daemon.maxRssMB} MB`, x.naive.maxRssMB !== null ? `${x.naive.maxRssMB} MB (${x.naive.idleProcessRssMB ?? '?'} MB of it with nothing done: Node and the tsx loader)` : '?'],
    ['/metrics scrape', `${x.metricsScrape.ms} ms, ${Math.round(x.metricsScrape.bytes / 1024)} KiB, ${x.metricsScrape.series} series, ${x.metricsScrape.daemonCpuSeconds} s CPU`, '—'],
  );
  const w = [0, 1, 2].map((i) => Math.min(i === 0 ? 40 : 90, Math.max(...rows.map((r) => r[i]!.length))));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd();
  const head = `hookwarden bench: ${raw.scale.subscriptions} subscriptions over ${raw.scale.accounts} accounts; lifetime ${t.lifetimeSeconds} s, reconcileEvery ${t.reconcileEverySeconds} s, probe every ${t.probeEverySeconds} s; Postgres ${raw.postgres}; Node ${raw.node}`;
  const tg = targets.map((g) => `  [${g.met === null ? 'n/a' : g.met ? 'met' : 'MISSED'}] ${g.name}: ${g.detail}`);
  return [head, '', line(rows[0]!), ...rows.slice(1).map(line), '', 'targets:', ...tg, ...raw.notes.map((n) => `note: ${n}`)].join('\n');
}

function ops(o: Record<string, number>): string {
  return Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}
