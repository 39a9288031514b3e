import { countsAsLapse, scrub, type AuditSummary, type FinalCheck, type SecretHit } from './check.js';
import type { ChaosConfig } from './config.js';
import type { Plan } from './plans.js';
import type { UnexpectedExit } from './replicas.js';
import type { ScenarioLog } from './scenario.js';

/** The result document (chaos/results/<time>.json), the table, and the exit code. */
export interface ReportInput {
  plan: Plan;
  seed: number;
  startedAt: Date;
  notes: string[];
  postgres: string;
  cfg: ChaosConfig;
  faults: Record<string, number>;
  providerCalls: number;
  scenario: ScenarioLog;
  summary: AuditSummary;
  final: FinalCheck;
  /** `hookwarden status --json` rows of the subscriptions that did not converge. */
  recorded: unknown[];
  firedFaults: { at: string; method: string; path: string; kind: string; status?: number; retryAfter?: string }[];
  settledAfter: number | undefined;
  secretHits: SecretHit[];
  alive: number;
  starts: number;
  unexpected: UnexpectedExit[];
  stops: string[];
  callbacks: { events: number; probes: number };
  timeline: { at: string; what: string }[];
  logs: string;
}

export function report(i: ReportInput): { json: string; rows: [string, string][]; exitCode: number } {
  const byKind = count(i.cfg.declared.map((d) => d.kind));
  const lapses = i.summary.lapses.filter(countsAsLapse);
  const lapsedNames = new Set(lapses.map((l) => l.name ?? l.identity));
  const duplicates = i.summary.identities.filter((x) => x.maxLive > 1);
  const secretSlots = new Set(i.secretHits.map((h) => h.slot));
  const columns = { lapsed: lapsedNames.size, duplicates: duplicates.length, twice: i.summary.twice.length, secrets: secretSlots.size };
  // The four invariants; then every replica alive, none that exited by itself, and converged.
  const fails = columns.lapsed + columns.duplicates + columns.twice + columns.secrets > 0 || i.alive < i.plan.replicas || i.unexpected.length > 0 || !i.final.ok;
  const exitCode = fails ? 1 : 0;
  const faultTotal = Object.values(i.faults).reduce((a, b) => a + b, 0);
  const { kills, database, freezes } = i.scenario;

  const result = {
    startedAt: i.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    form: i.plan.form,
    seed: i.seed,
    plan: i.plan,
    notes: i.notes,
    postgres: i.postgres,
    subscriptions: { total: i.cfg.declared.length, byKind },
    faults: {
      injected: faultTotal,
      byKind: i.faults,
      providerCallsHandled: i.providerCalls,
      absurdRetryAfter: i.firedFaults.filter((f) => f.status === 429 && !['1', '2', '3'].includes(f.retryAfter ?? '')),
      log: i.firedFaults.sort((a, b) => a.at.localeCompare(b.at)),
    },
    kills,
    database: { outages: database.length, events: database },
    freezes,
    lapsed: { subscriptions: lapsedNames.size, events: lapses.length, byWhy: count(lapses.map((l) => l.why)), allLapses: i.summary.lapses.length, details: lapses.slice(0, 100) },
    duplicates: { identities: duplicates.length, details: duplicates.slice(0, 100) },
    actionsTwice: {
      count: i.summary.twice.length,
      byOp: count(i.summary.twice.map((t) => t.op)),
      details: i.summary.twice.slice(0, 100),
      // A retry after an answer that never arrived (a fault after the commit): not counted.
      afterAmbiguousAnswer: { count: i.summary.afterAmbiguous.length, byOp: count(i.summary.afterAmbiguous.map((t) => t.op)), details: i.summary.afterAmbiguous.slice(0, 50) },
    },
    providerWrites: i.summary.calls,
    secrets: { found: secretSlots.size, hits: i.secretHits },
    replicas: { count: i.plan.replicas, aliveAtEnd: i.alive, starts: i.starts, unexpectedExits: i.unexpected, stops: i.stops },
    final: { ...i.final, settledAfterSeconds: i.settledAfter ?? null, recorded: i.recorded },
    callbacks: i.callbacks,
    timeline: i.timeline,
    logs: i.logs,
    exitCode,
  };
  const list = (o: Record<string, number>) =>
    Object.entries(o)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
  const rows: [string, string][] = [
    ['form', `${i.plan.form} (seed ${i.seed}, ${Math.round((Date.now() - i.startedAt.getTime()) / 1000)} s)`],
    ['subscriptions', `${i.cfg.declared.length} (${list(byKind)})`],
    ['replicas', String(i.plan.replicas)],
    ['faults injected', `${faultTotal} of ${i.providerCalls} provider calls: ${list(i.faults)}`],
    ['kills (SIGKILL)', `${kills.total} (${kills.onActivity} right after a provider write${kills.skipped ? `, ${kills.skipped} skipped` : ''})`],
    ['database outages', `${database.length} (${database.map((d) => `${d.kind}${d.replica ? ` r${d.replica}` : ''} ${d.downMs} ms`).join(', ') || 'none'})`],
    ['freezes (SIGSTOP)', `${freezes.length}${freezes.length ? ` (${freezes.map((f) => `r${f.replica} ${f.seconds} s`).join(', ')})` : ''}`],
    ['replica exits by themselves', String(i.unexpected.length)],
    ['settled', i.final.ok ? (i.settledAfter !== undefined ? `yes, after ${i.settledAfter} s` : 'the providers yes; not every replica was serving') : `NO: missing ${i.final.missing.length}, duplicated ${i.final.duplicated.length}, inactive ${i.final.inactive.length}, undeclared ${i.final.undeclared.length}`],
    ['subscriptions that lapsed', `${columns.lapsed} (${lapses.length} lapses${lapses.length ? `: ${list(count(lapses.map((l) => l.why)))}` : ''})`],
    ['duplicates at a provider', String(columns.duplicates)],
    ['actions performed twice', `${columns.twice}${columns.twice ? ` (${list(count(i.summary.twice.map((t) => t.op)))})` : ''}; retries after an ambiguous answer, not counted: ${i.summary.afterAmbiguous.length}`],
    ['secrets found in logs', `${columns.secrets}${secretSlots.size ? ` (${[...secretSlots].slice(0, 6).join(', ')}${secretSlots.size > 6 ? ', ...' : ''})` : ''}`],
    ['replicas alive at the end', `${i.alive}/${i.plan.replicas} (stops: ${list(count(i.stops))})`],
    ['result', fails ? 'FAIL' : 'PASS'],
  ];
  return { json: scrub(JSON.stringify(result, null, 2), i.cfg.canaries) + '\n', rows, exitCode };
}

export function count(xs: string[]): Record<string, number> {
  const o: Record<string, number> = {};
  for (const x of xs) o[x] = (o[x] ?? 0) + 1;
  return o;
}
