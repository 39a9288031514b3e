import { gapHookOf } from '../config/hooks.js';
import { formatDuration, parseDuration } from '../domain/duration.js';
import { GapHookSender, type HookOutcome } from '../hooks/gap-hook.js';
import { createDispatcher } from '../lib/http.js';
import { displayUrl } from '../lib/scrub.js';
import { gapJson, gapsDocument, type GapJson } from '../server/status.js';
import type { GapRow } from '../store/types.js';
import { EXIT, withApp } from './common.js';
import { err, out, printJson, table } from './output.js';

export interface GapsOptions {
  config: string;
  since?: string;
  open?: boolean;
  json?: boolean;
  replay?: string;
}

/** Unknown gap id for --replay (a usage error, like an invalid config). */
const EXIT_UNKNOWN = 2;
const DEFAULT_SINCE = '7d';

/**
 * `hookwarden gaps`: the coverage gaps Postgres records (open ones, and those that ended in
 * the last --since), newest first, with their backfill hooks' state and the merged windows;
 * or, with --replay ID, the backfill hook of one closed gap sent again at once.
 */
export async function runGaps(o: GapsOptions): Promise<number> {
  if (o.replay !== undefined) return replay(o.config, o.replay, o.json ?? false);
  const sinceSeconds = parseDuration(o.since ?? DEFAULT_SINCE);
  if (sinceSeconds === undefined || sinceSeconds <= 0) {
    err(`hookwarden: --since must be a duration such as 12h, 7d or 30d, got ${JSON.stringify(o.since)}\n`);
    return EXIT.invalidConfig;
  }
  return withApp(o.config, { readOnly: true }, async (app) => {
    const now = app.clock.now();
    const since = new Date(now.getTime() - sinceSeconds * 1000);
    const rows = app.migrated ? await app.store.listGaps(o.open ? { open: true } : { since }) : [];
    const doc = gapsDocument(rows, now);
    if (o.json) {
      printJson(doc);
      return EXIT.ok;
    }
    if (!doc.gaps.length) {
      out(o.open ? 'no coverage gap is open\n' : `no coverage gaps since ${since.toISOString()}\n`);
      return EXIT.ok;
    }
    out(
      `${table(
        ['ID', 'PROVIDER', 'NAME', 'CAUSE', 'CONFIDENCE', 'FROM', 'TO', 'DURATION', 'HOOK'],
        doc.gaps.map((g) => [g.id, g.provider, g.name, g.cause, g.confidence, g.from, g.to ?? 'open', formatDuration(g.seconds), hookCell(g)]),
      )}\n`,
    );
    // Overlapping gaps of one subscription, seen as the one window a consumer fetches again.
    const merged = doc.windows.filter((w) => w.gapIds.length > 1);
    if (merged.length) {
      out(
        `\nmerged windows:\n${table(
          ['PROVIDER', 'NAME', 'FROM', 'TO', 'DURATION', 'CAUSES', 'CONFIDENCE', 'GAPS'],
          merged.map((w) => [w.provider, w.name, w.from, w.to ?? 'open', formatDuration(w.seconds), w.causes.join(','), w.confidence, w.gapIds.length]),
        )}\n`,
      );
    }
    return EXIT.ok;
  });
}

function hookCell(g: GapJson): string {
  const h = g.hook;
  if (g.to === null) return 'sent when it closes';
  if (h.state === 'none') return 'none configured';
  if (h.state === 'delivered') return `delivered ${h.deliveredAt ?? ''}`.trim();
  if (h.state === 'pending' && h.attempts === 0) return 'pending (not sent yet)';
  const attempts = `${h.attempts} attempt${h.attempts === 1 ? '' : 's'}`;
  const last = h.lastError ?? (h.lastStatus !== null ? `HTTP ${h.lastStatus}` : '');
  return `${h.state} (${attempts})${last ? `: ${last}` : ''}`;
}

/** The requeued hook is due this much later for the daemon, so that it does not send it while this command does. */
const REPLAY_CLAIM_MS = 60_000;

/**
 * Queues the hook of one closed gap again (attempts counted afresh) and sends it once, now,
 * with the config's hook for it. It is queued a minute ahead, as a claim: a running daemon
 * sends it only if this command dies before recording the attempt. Delivery stays at least
 * once either way: the receiver de-duplicates by id.
 */
async function replay(file: string, id: string, json: boolean): Promise<number> {
  return withApp(file, {}, async (app) => {
    const now = app.clock.now();
    const requeued = await app.store.requeueHook(id, new Date(now.getTime() + REPLAY_CLAIM_MS));
    if (!requeued) {
      const open = (await app.store.listGaps({ open: true })).find((g) => g.id === id);
      err(open ? `hookwarden: gap ${id} is still open: its backfill hook is sent when it closes\n` : `hookwarden: no closed coverage gap has the id ${id} (see hookwarden gaps -c FILE)\n`);
      return EXIT_UNKNOWN;
    }
    let outcome: HookOutcome | undefined;
    let recorded: GapRow | undefined;
    const dispatcher = createDispatcher();
    const target = gapHookOf(app.config, requeued.provider, requeued.name, requeued.subject);
    try {
      const sender = new GapHookSender({
        // Exactly this gap, whatever else is due (the daemon sends those).
        store: { dueHooks: async () => [requeued], recordHookAttempt: async (gapId, r) => (recorded = await app.store.recordHookAttempt(gapId, r)) },
        dispatcher,
        resolve: () => target,
        clock: app.clock,
        onAttempt: (o) => (outcome = o),
      });
      await sender.deliverDue();
    } finally {
      await dispatcher.close();
    }
    const after = recorded ?? requeued;
    const report = {
      id,
      delivered: outcome?.ok ?? false,
      status: outcome?.status ?? null,
      error: outcome?.ok ? null : (outcome?.error ?? 'not sent'),
      url: target ? displayUrl(target.url) : null,
      nextAttemptAt: outcome?.nextAttemptAt?.toISOString() ?? null,
      gap: gapJson(after, app.clock.now()),
    };
    if (json) printJson(report);
    else if (report.delivered) out(`gap ${id} (${requeued.provider}/${requeued.name}, ${requeued.cause}): backfill hook delivered to ${report.url} (HTTP ${report.status})\n`);
    else {
      const then = report.nextAttemptAt ? `; hookwarden tries again from ${report.nextAttemptAt}` : '';
      err(`gap ${id} (${requeued.provider}/${requeued.name}, ${requeued.cause}): backfill hook ${target ? `to ${report.url} ` : ''}failed: ${report.error}${then}\n`);
    }
    return report.delivered ? EXIT.ok : EXIT.failed;
  });
}
