import { setTimeout as sleep } from 'node:timers/promises';
import type { Sandbox } from '../src/sandbox/server.js';
import type { PgProxy } from './pgproxy.js';
import { log, type DbEvent, type Plan } from './plans.js';
import type { OwnedPostgres } from './postgres.js';
import type { Replica } from './replicas.js';
import type { Rng } from './util.js';

/**
 * The chaos phase: kills spread over the whole phase (half of them right as a write reaches
 * a provider, in the window between the provider's commit and the daemon's record), and,
 * one after the other, database outages and freezes. A kill, a freeze or a partition never
 * takes the last replica able to work: the question is whether the others take over.
 */
export interface ScenarioContext {
  plan: Plan;
  rng: Rng;
  replicas: Replica[];
  proxies: PgProxy[];
  pg: OwnedPostgres;
  sandboxes: Sandbox[];
  start: number;
  inChaos: () => boolean;
  note: (what: string) => void;
}

export interface ScenarioLog {
  kills: { total: number; onActivity: number; skipped: number };
  database: { kind: DbEvent; at: string; downMs: number; replica?: number }[];
  freezes: { replica: number; at: string; seconds: number }[];
}

const LISTS = /(^|\.)list$/;
const WRITES = /(^|\.)(create|renew|patch|put|delete)$/;

export async function runScenario(c: ScenarioContext): Promise<ScenarioLog> {
  const out: ScenarioLog = { kills: { total: 0, onActivity: 0, skipped: 0 }, database: [], freezes: [] };
  const { plan, rng, replicas, proxies } = c;
  const partitioned = new Set<number>();
  // Able to work: running, answering, not frozen, not cut off from Postgres.
  const serving = (r: Replica) => r.running && r.ready && !r.frozen && !partitioned.has(r.index);

  // A list call (a pass under way) or a write reaching any sandbox, within `ms`.
  const statSum = (re: RegExp) => c.sandboxes.reduce((n, s) => n + [...s.server.stats].filter(([k]) => re.test(k)).reduce((m, [, v]) => m + v, 0), 0);
  const waitFor = async (re: RegExp, ms: number) => {
    const before = statSum(re);
    const until = Date.now() + ms;
    while (Date.now() < until && statSum(re) === before) await sleep(20);
  };
  /** A serving replica while another one serves too (waits up to 20 s for that). */
  const secondServing = async (): Promise<Replica | undefined> => {
    for (let i = 0; i < 200; i++) {
      const able = replicas.filter(serving);
      if (able.length >= 2) return able[Math.floor(rng() * able.length)];
      await sleep(100);
    }
    return undefined;
  };

  // One kill in each of `kills` equal slots, somewhere in its middle 70 %: random, never bunched.
  const restarts: Promise<void>[] = [];
  const slot = (plan.chaosSeconds - 8) / plan.kills;
  const killTimes = Array.from({ length: plan.kills }, (_, i) => 4 + slot * (i + 0.15 + 0.7 * rng()));
  const killer = (async () => {
    for (const t of killTimes) {
      await sleep(Math.max(0, c.start + t * 1000 - Date.now()));
      const onActivity = rng() < 0.5;
      if (onActivity) await waitFor(WRITES, 3000);
      const pick = () => {
        const running = replicas.filter((r) => r.running && !r.frozen);
        const able = running.filter((r) => running.some((o) => o !== r && serving(o)));
        return able[Math.floor(rng() * able.length)];
      };
      let victim = pick();
      for (let i = 0; !victim && i < 100 && c.inChaos(); i++) {
        await sleep(100);
        victim = pick();
      }
      if (!victim) {
        out.kills.skipped++;
        c.note('kill skipped: no second replica able to work');
        continue;
      }
      await victim.kill();
      out.kills.total++;
      if (onActivity) out.kills.onActivity++;
      const down = 500 + rng() * 3500;
      c.note(`SIGKILL replica ${victim.index}${onActivity ? ' (right after a provider write)' : ''}; restart in ${Math.round(down)} ms`);
      restarts.push(
        sleep(down).then(() => {
          if (!c.inChaos()) return;
          victim.start();
          c.note(`replica ${victim.index} started`);
        }),
      );
    }
  })();

  const majors: ({ kind: 'db'; event: DbEvent } | { kind: 'freeze' })[] = [];
  for (const e of plan.dbEvents) majors.push({ kind: 'db', event: c.pg.kind === 'external' && e === 'restart' ? 'cut' : e });
  for (let i = 0; i < plan.freezes; i++) majors.splice(Math.min(majors.length, 1 + i * 2), 0, { kind: 'freeze' });
  const majorChain = (async () => {
    for (const [i, m] of majors.entries()) {
      await sleep(Math.max(0, c.start + (((plan.chaosSeconds - 10) * (i + 0.6)) / majors.length) * 1000 - Date.now()));
      if (Date.now() > c.start + plan.chaosSeconds * 1000) break;
      if (m.kind === 'freeze') {
        const r = await secondServing();
        if (!r) {
          c.note('freeze skipped: no second replica able to work');
          continue;
        }
        const seconds = Math.round(plan.leaseTtl * 1.6);
        c.note(`SIGSTOP replica ${r.index} for ${seconds} s (past its ${plan.leaseTtl} s lease)`);
        out.freezes.push({ replica: r.index, at: new Date().toISOString(), seconds });
        r.freeze();
        await sleep(seconds * 1000);
        r.thaw();
        c.note(`SIGCONT replica ${r.index}`);
        continue;
      }
      if (m.event === 'partition') {
        const r = await secondServing();
        if (!r) {
          c.note('partition skipped: no second replica able to work');
          continue;
        }
        const ms = Math.round(plan.leaseTtl * 1500);
        const at = new Date().toISOString();
        c.note(`replica ${r.index} partitioned from Postgres for ${ms} ms (past its ${plan.leaseTtl} s lease)`);
        partitioned.add(r.index);
        proxies[r.index - 1]!.cut('blackhole');
        await sleep(ms);
        proxies[r.index - 1]!.heal();
        partitioned.delete(r.index);
        c.note(`replica ${r.index} reaches Postgres again`);
        out.database.push({ kind: 'partition', at, downMs: ms, replica: r.index });
        continue;
      }
      await waitFor(LISTS, 5000);
      const downMs = Math.round(3000 + rng() * 3000);
      const at = new Date().toISOString();
      if (m.event === 'restart') {
        c.note(`Postgres restart mid-pass (down ${downMs} ms)`);
        const restarting = c.pg.restart(downMs);
        for (const p of proxies) p.cut('reset');
        await restarting.catch((e: unknown) => log(`Postgres restart failed: ${(e as Error).message}`));
      } else {
        c.note(`database connections cut mid-pass for ${downMs} ms`);
        for (const p of proxies) p.cut('reset');
        await sleep(downMs);
      }
      for (const p of proxies) p.heal();
      out.database.push({ kind: m.event, at, downMs });
    }
  })();

  await sleep(Math.max(0, c.start + plan.chaosSeconds * 1000 - Date.now()));
  await killer;
  await majorChain;
  await Promise.all(restarts);
  return out;
}
