import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CallbackReceiver } from '../../src/sandbox/receiver.js';
import { PrismaStore } from '../../src/store/prisma.js';
import { cli, writeTemp } from '../fixtures/cli.js';
import { freshDatabase } from '../fixtures/db.js';
import { infinityYaml, testEnv } from '../fixtures/stack.js';

/**
 * `hookwarden gaps`, run as a user runs it (bin/hookwarden.js over dist/), against a real
 * Postgres holding gaps written through the Store, and a backfill receiver over loopback.
 */

const SECRET = 'cli-backfill-signing-secret-0123';
const HOUR = 3600_000;

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: PrismaStore;
let receiver: CallbackReceiver;
let file: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  db = await freshDatabase();
  store = new PrismaStore(db.url);
  receiver = new CallbackReceiver().acceptBackfill({ path: '/backfill', secret: SECRET });
  await receiver.listen();
  // The account is never contacted: gaps only read Postgres (and --replay POSTs to the hook).
  file = writeTemp(
    'hookwarden.yaml',
    `database:\n  url: ${db.url}\n` +
      infinityYaml('https://infinity.example.com', [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }]).replace('defaults:\n', 'defaults:\n  gapAlertAfter: 2h\n') +
      `hooks:\n  gapClosed:\n    url: ${receiver.url}/backfill\n    signingSecret: ${SECRET}\n`,
  );
  const now = Date.now();
  const t = (hoursAgo: number) => new Date(now - hoursAgo * HOUR);
  // agents: a failing callback, then disabled, overlapping: one window of two gaps.
  await store.openGap({ provider: 'infinity', name: 'agents', subject: 'subscription', cause: 'callback-failing', confidence: 'possible', from: t(5), remoteId: 'r-1', events: ['AGENT/ALL'], now: t(5) });
  await store.openGap({ provider: 'infinity', name: 'agents', subject: 'subscription', cause: 'disabled', confidence: 'certain', from: t(4), remoteId: 'r-1', events: ['AGENT/ALL'], now: t(4) });
  for (const g of await store.closeGaps('infinity', 'agents', { to: t(3), remoteId: 'r-2', hook: true, now: t(3) })) ids[g.cause] = g.id;
  await store.recordHookAttempt(ids.disabled!, { at: t(3), ok: true, status: 200 });
  // queues: open now.
  ids.open = (await store.openGap({ provider: 'infinity', name: 'queues', subject: 'subscription', cause: 'expired', confidence: 'certain', from: t(1), events: ['QUEUE/ALL'], now: t(1) })).id;
  // Ten days ago.
  await store.openGap({ provider: 'infinity', name: 'queues', subject: 'subscription', cause: 'lost', confidence: 'certain', from: t(241), events: [], now: t(241) });
  ids.old = (await store.closeGaps('infinity', 'queues', { causes: ['lost'], to: t(240), hook: false, now: t(240) }))[0]!.id;
}, 60_000);
afterAll(async () => {
  await store.close();
  await receiver.close();
  await db.drop();
});

interface GapsJson {
  gaps: { id: string; provider: string; name: string; cause: string; confidence: string; from: string; to: string | null; seconds: number; events: string[]; remoteId: string | null; previousRemoteId: string | null; hook: Record<string, unknown> }[];
  windows: { provider: string; name: string; from: string; to: string | null; seconds: number; causes: string[]; confidence: string; events: string[]; gapIds: string[] }[];
}

describe('hookwarden gaps', () => {
  it('--json: the open gaps and those of the last 7 days, newest first, with their hooks, and the merged windows', async () => {
    const r = await cli(['gaps', '-c', file, '--json'], testEnv);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as GapsJson;
    expect(Object.keys(doc).sort()).toEqual(['gaps', 'windows']);
    expect(doc.gaps.map((g) => `${g.name}/${g.cause}`)).toEqual(['queues/expired', 'agents/disabled', 'agents/callback-failing']);
    for (const g of doc.gaps) {
      expect(Object.keys(g).sort()).toEqual(['cause', 'confidence', 'events', 'from', 'hook', 'id', 'name', 'previousRemoteId', 'provider', 'remoteId', 'seconds', 'subject', 'to']);
      expect(Object.keys(g.hook).sort()).toEqual(['attempts', 'deliveredAt', 'lastAttemptAt', 'lastError', 'lastStatus', 'nextAttemptAt', 'state']);
      expect(new Date(g.from).toISOString()).toBe(g.from);
    }
    const [open, disabled, failing] = doc.gaps;
    expect(open).toMatchObject({ id: ids.open, to: null, hook: { state: 'none' } });
    expect(open!.seconds).toBeGreaterThanOrEqual(3600);
    expect(disabled).toMatchObject({ id: ids.disabled, remoteId: 'r-2', previousRemoteId: 'r-1', confidence: 'certain', seconds: 3600, hook: { state: 'delivered', attempts: 1, lastStatus: 200 } });
    expect(failing).toMatchObject({ id: ids['callback-failing'], seconds: 7200, events: ['AGENT/ALL'], hook: { state: 'pending', attempts: 0 } });
    expect(doc.windows.map((w) => [w.name, w.causes, w.confidence, w.seconds, w.gapIds])).toEqual([
      ['queues', ['expired'], 'certain', open!.seconds, [ids.open]],
      ['agents', ['callback-failing', 'disabled'], 'certain', 7200, [ids['callback-failing'], ids.disabled]],
    ]);
  });

  it('--since widens the look back; --open shows only what is open', async () => {
    const wide = JSON.parse((await cli(['gaps', '-c', file, '--json', '--since', '30d'], testEnv)).stdout) as GapsJson;
    expect(wide.gaps.map((g) => g.id)).toContain(ids.old);
    const open = JSON.parse((await cli(['gaps', '-c', file, '--json', '--open'], testEnv)).stdout) as GapsJson;
    expect(open.gaps.map((g) => g.id)).toEqual([ids.open]);
    const bad = await cli(['gaps', '-c', file, '--since', 'a while'], testEnv);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--since must be a duration');
  });

  it('a table for people, with the merged windows', async () => {
    const r = await cli(['gaps', '-c', file], testEnv);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+PROVIDER\s+NAME\s+CAUSE\s+CONFIDENCE\s+FROM\s+TO\s+DURATION\s+HOOK$/);
    expect(lines.find((l) => l.startsWith(ids.open!))).toMatch(/queues\s+expired\s+certain\s+\S+\s+open\s+1h\S*\s+sent when it closes/);
    expect(lines.find((l) => l.startsWith(ids.disabled!))).toMatch(/agents\s+disabled\s+certain .* 1h\s+delivered \S+/);
    expect(r.stdout).toContain('merged windows:');
    expect(r.stdout).toMatch(/agents\s+\S+\s+\S+\s+2h\s+callback-failing,disabled\s+certain\s+2/);
  });

  it('status --json has them too', async () => {
    const r = await cli(['status', '-c', file, '--json'], testEnv);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { gaps: GapsJson & { open: number; since: string } };
    expect(doc.gaps.open).toBe(1);
    expect(doc.gaps.gaps.map((g) => g.id)).toEqual([ids.open, ids.disabled, ids['callback-failing']]);
    expect(doc.gaps.windows).toHaveLength(2);
  });

  it('--replay sends a closed gap again, signed, and records it; the receiver keeps it once', async () => {
    const r = await cli(['gaps', '-c', file, '--replay', ids.disabled!], testEnv);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`gap ${ids.disabled} (infinity/agents, disabled): backfill hook delivered to ${receiver.url}/backfill (HTTP 200)`);
    expect(receiver.rejected).toEqual([]);
    expect(receiver.backfills.get(ids.disabled!)).toMatchObject({ deliveries: 1, body: { id: ids.disabled, cause: 'disabled', seconds: 3600, remoteId: 'r-2', previousRemoteId: 'r-1' } });
    // Again, as JSON: delivered a second time, and the receiver de-duplicates it.
    const again = await cli(['gaps', '-c', file, '--replay', ids.disabled!, '--json'], testEnv);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: ids.disabled, delivered: true, status: 200, error: null, gap: { id: ids.disabled, hook: { state: 'delivered', attempts: 1, lastStatus: 200 } } });
    expect(receiver.backfills.get(ids.disabled!)!.deliveries).toBe(2);
  });

  it('--replay exits 1 when the hook fails (and leaves it queued), 2 for an unknown or open gap', async () => {
    receiver.break({ kind: 'status', status: 503 }, '/backfill');
    try {
      const r = await cli(['gaps', '-c', file, '--replay', ids['callback-failing']!], testEnv);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`gap ${ids['callback-failing']} \\(infinity/agents, callback-failing\\): backfill hook to ${receiver.url}/backfill failed: HTTP 503; hookwarden tries again from \\S+`));
      const [g] = (await store.listGaps({ name: 'agents' })).filter((x) => x.id === ids['callback-failing']);
      expect(g).toMatchObject({ hookState: 'pending', hookAttempts: 1, hookLastStatus: 503 });
    } finally {
      receiver.mend('/backfill');
    }
    const unknown = await cli(['gaps', '-c', file, '--replay', '00000000-0000-4000-8000-000000000000'], testEnv);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no closed coverage gap has the id 00000000-0000-4000-8000-000000000000');
    const open = await cli(['gaps', '-c', file, '--replay', ids.open!], testEnv);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('is still open');
  });

  it('alert-rules -c uses the config’s gapAlertAfter', async () => {
    const r = await cli(['alert-rules', '-c', file], testEnv);
    expect(r.code).toBe(0);
    const rules = (parse(r.stdout) as { groups: { rules: { alert: string; expr: string; annotations: { description: string } }[] }[] }).groups[0]!.rules;
    const rule = rules.find((x) => x.alert === 'HookwardenCoverageGapOpen')!;
    expect(rule.expr).toContain('> 7200');
    expect(rule.annotations.description).toContain('more than 2h');
  });
});
