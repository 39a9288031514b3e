import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { Metrics } from '../../src/lib/metrics.js';
import { startServer } from '../../src/server/http.js';
import { statusPage, statusView } from '../../src/server/page.js';
import { gapsDocument, statusDocument, type StatusDocument } from '../../src/server/status.js';
import { PrismaStore } from '../../src/store/prisma.js';
import type { GapRow } from '../../src/store/types.js';
import { freshDatabase } from '../fixtures/db.js';

/**
 * Coverage gaps on /status and /status.json: open gaps and those of the last 7 days, their
 * merged windows, and each closed gap's backfill hook, read from a real Postgres.
 */

const NOW = new Date('2026-06-10T12:00:00.000Z');
const ago = (minutes: number) => new Date(NOW.getTime() - minutes * 60_000);

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: PrismaStore;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await freshDatabase();
  store = new PrismaStore(db.url);
  // agents: a failing callback (possible), then the provider disabling it (certain), overlapping: one window; its hook delivered.
  await store.openGap({ provider: 'infinity', name: 'agents', subject: 'subscription', cause: 'callback-failing', confidence: 'possible', from: ago(120), remoteId: 'r-1', events: ['AGENT/ALL'], now: ago(120) });
  await store.openGap({ provider: 'infinity', name: 'agents', subject: 'subscription', cause: 'disabled', confidence: 'certain', from: ago(100), remoteId: 'r-1', events: ['AGENT/ALL'], now: ago(100) });
  const closed = await store.closeGaps('infinity', 'agents', { to: ago(60), remoteId: 'r-2', hook: true, now: ago(60) });
  for (const g of closed) ids[`agents/${g.cause}`] = g.id;
  await store.recordHookAttempt(ids['agents/callback-failing']!, { at: ago(59), ok: true, status: 204 });
  await store.recordHookAttempt(ids['agents/disabled']!, { at: ago(59), ok: false, status: 503, error: 'HTTP 503: <b>down</b>', nextAttemptAt: ago(-5) });
  // queues: still open.
  ids['queues/expired'] = (await store.openGap({ provider: 'infinity', name: 'queues', subject: 'subscription', cause: 'expired', confidence: 'certain', from: ago(10), events: ['QUEUE/ALL'], now: ago(10) })).id;
  // A watch-only target, closed without a hook.
  ids['mcc/callback-failing'] = (await store.openGap({ provider: 'watch', name: 'mcc', subject: 'target', cause: 'callback-failing', confidence: 'possible', from: ago(300), events: [], now: ago(300) })).id;
  await store.closeGaps('watch', 'mcc', { to: ago(250), hook: false, now: ago(250) });
  // Eight days ago: out of the status document.
  ids['old/expired'] = (await store.openGap({ provider: 'infinity', name: 'old', subject: 'subscription', cause: 'expired', confidence: 'certain', from: ago(8 * 1440 + 10), events: [], now: ago(8 * 1440 + 10) })).id;
  await store.closeGaps('infinity', 'old', { to: ago(8 * 1440), hook: true, now: ago(8 * 1440) });
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

describe('coverage gaps in the status document', () => {
  it('lists open gaps and those of the last 7 days, newest first, with their hooks, and the merged windows', async () => {
    const doc = await statusDocument(store, NOW);
    const gaps = doc.gaps!;
    expect(gaps.since).toBe(new Date(NOW.getTime() - 7 * 86400_000).toISOString());
    expect(gaps.open).toBe(1);
    expect(gaps.gaps.map((g) => `${g.name}/${g.cause}`)).toEqual(['queues/expired', 'agents/disabled', 'agents/callback-failing', 'mcc/callback-failing']);
    const byKey = new Map(gaps.gaps.map((g) => [`${g.name}/${g.cause}`, g]));
    expect(byKey.get('queues/expired')).toMatchObject({ id: ids['queues/expired'], to: null, seconds: 600, hook: { state: 'none', attempts: 0 } });
    expect(byKey.get('agents/callback-failing')).toEqual({
      id: ids['agents/callback-failing'],
      provider: 'infinity',
      name: 'agents',
      subject: 'subscription',
      remoteId: 'r-2',
      previousRemoteId: 'r-1',
      cause: 'callback-failing',
      confidence: 'possible',
      from: ago(120).toISOString(),
      to: ago(60).toISOString(),
      seconds: 3600,
      events: ['AGENT/ALL'],
      hook: { state: 'delivered', attempts: 1, nextAttemptAt: null, lastAttemptAt: ago(59).toISOString(), lastStatus: 204, lastError: null, deliveredAt: ago(59).toISOString() },
    });
    expect(byKey.get('agents/disabled')!.hook).toEqual({ state: 'pending', attempts: 1, nextAttemptAt: ago(-5).toISOString(), lastAttemptAt: ago(59).toISOString(), lastStatus: 503, lastError: 'HTTP 503: <b>down</b>', deliveredAt: null });
    expect(byKey.get('mcc/callback-failing')).toMatchObject({ subject: 'target', hook: { state: 'none' } });
    expect(gaps.windows).toEqual([
      { provider: 'infinity', name: 'queues', from: ago(10).toISOString(), to: null, seconds: 600, causes: ['expired'], confidence: 'certain', events: ['QUEUE/ALL'], gapIds: [ids['queues/expired']] },
      {
        provider: 'infinity', name: 'agents', from: ago(120).toISOString(), to: ago(60).toISOString(), seconds: 3600, causes: ['callback-failing', 'disabled'], confidence: 'certain', events: ['AGENT/ALL'],
        gapIds: [ids['agents/callback-failing'], ids['agents/disabled']],
      },
      { provider: 'watch', name: 'mcc', from: ago(300).toISOString(), to: ago(250).toISOString(), seconds: 3000, causes: ['callback-failing'], confidence: 'possible', events: [], gapIds: [ids['mcc/callback-failing']] },
    ]);
  });

  it('is served in /status.json, and the page has a Coverage gaps section with each window and hook', async () => {
    const clock = new ManualClock(NOW);
    const server = await startServer('127.0.0.1', 0, { store, metrics: new Metrics(undefined, { defaultMetrics: false }), clock, logger: silentLogger, ready: () => true });
    try {
      const doc = (await (await fetch(`${server.url}/status.json`)).json()) as StatusDocument;
      expect(doc.gaps).toEqual((await statusDocument(store, NOW)).gaps);
      const html = await (await fetch(`${server.url}/status`)).text();
      expect(html).toContain('<h2>Coverage gaps</h2>');
      expect(html).toContain('1 open coverage gap');
      const row = (name: string) => {
        const m = new RegExp(`<tr class="gap [a-z]+" data-gap="${name}">([\\s\\S]*?)</tr>`).exec(html);
        expect(m, name).not.toBeNull();
        return m![1]!;
      };
      const text = (s: string) => s.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
      expect(text(row('infinity/queues'))).toMatch(/open for 10m 00s .*expired certain QUEUE\/ALL expired: open/);
      const agents = text(row('infinity/agents'));
      expect(agents).toContain('1h 00m 00s');
      expect(agents).toContain('callback-failing, disabled certain AGENT/ALL');
      expect(agents).toMatch(/callback-failing: delivered 59m 00s ago/);
      // Recorded text is escaped, and the retry is a countdown.
      expect(row('infinity/agents')).toContain('HTTP 503: &#60;b&#62;down&#60;/b&#62;');
      expect(agents).toContain('disabled: pending 1 attempt HTTP 503: &#60;b&#62;down&#60;/b&#62; next in 5m 00s');
      expect(text(row('watch/mcc'))).toContain('callback-failing: no hook');
      expect(html).not.toContain('infinity/old');
    } finally {
      await server.close();
    }
  });
});

describe('the gaps section of the page', () => {
  const base: StatusDocument = { generatedAt: NOW.toISOString(), subscriptions: [], leases: [], targets: [], deliveries: [], history: [] };
  const row = (over: Partial<GapRow>): GapRow => ({
    id: 'g-1', provider: 'acct', name: 'n', subject: 'subscription', remoteId: null, previousRemoteId: null, cause: 'expired', confidence: 'certain', from: ago(5), to: null, events: [],
    openedAt: ago(5), closedAt: null, updatedAt: ago(5), hookState: 'none', hookAttempts: 0, hookNextAttemptAt: null, hookLastAttemptAt: null, hookLastStatus: null, hookLastError: null, hookDeliveredAt: null,
    ...over,
  });

  it('is left out when the document has no gaps part (an older server), and says so when there are none', () => {
    // (The page's script holds the renderer's source, words included: look at what it rendered.)
    const main = (html: string) => html.slice(html.indexOf('<main'), html.indexOf('</main>'));
    expect(main(statusPage(base))).not.toContain('Coverage gaps');
    const none = statusPage({ ...base, gaps: { since: ago(7 * 1440).toISOString(), open: 0, gaps: [], windows: [] } });
    expect(main(none)).toContain('<h2>Coverage gaps</h2>');
    expect(main(none)).toContain('no coverage gaps');
    expect(main(none)).not.toContain('open coverage gap');
  });

  it('escapes names, causes and errors', () => {
    const rows = [row({ name: '<img src=x onerror=alert(1)>', to: ago(1), hookState: 'failed', hookAttempts: 3, hookLastError: '<script>alert(1)</script>' })];
    const html = statusPage({ ...base, gaps: { since: ago(7 * 1440).toISOString(), open: 0, ...gapsDocument(rows, NOW) } });
    expect(html).not.toContain('<img');
    expect(html).not.toMatch(/<script>alert/);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
  });

  it('counts an open window live: the same renderer runs in the page', () => {
    const view = statusView();
    const doc = { ...base, gaps: { since: ago(7 * 1440).toISOString(), open: 1, ...gapsDocument([row({})], NOW) } };
    expect(view.render(doc, NOW.getTime())).toContain(`data-at="${ago(5).toISOString()}" data-future="starts in {}" data-past="for {}"`);
  });
});
