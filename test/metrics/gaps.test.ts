import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Metrics } from '../../src/lib/metrics.js';
import { CallbackReceiver } from '../../src/sandbox/receiver.js';
import type { GapRow } from '../../src/store/types.js';
import { infinityYaml, startStack, testEnv, type Stack } from '../fixtures/stack.js';

/**
 * Coverage-gap metrics and the backfill hook, wired as createApp wires them: the gap
 * recorder counts closed gaps, the open ones are read from Postgres at scrape time, and the
 * scheduler's wake-ups send the hooks (counted by result) to the configured URL.
 */

const SECRET = 'metrics-backfill-signing-secret';

let stack: Stack;
let receiver: CallbackReceiver;
const hooksYaml = (url: string, extra = '') => `hooks:\n  gapClosed:\n    url: ${url}\n    signingSecret: ${SECRET}\n${extra}`;

beforeAll(async () => {
  receiver = new CallbackReceiver().acceptBackfill({ path: '/backfill', secret: SECRET });
  await receiver.listen();
  // Subscriptions that outlive the test: the only gaps are the ones it records.
  stack = await startStack({ lifetime: 30 * 86400, subs: [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }], yaml: (url) => infinityYaml(url, [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }]) + hooksYaml(`${receiver.url}/backfill`) });
});
afterAll(async () => {
  await stack.close();
  await receiver.close();
});

const scrape = () => stack.app.metrics.registry.metrics();
const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('coverage gap metrics and the backfill hook', () => {
  it('an open gap is a gauge (1, and its start), read from Postgres; closing it counts it and its length', async () => {
    const gaps = stack.app.gaps!;
    const from = stack.clock.now();
    const opened = await gaps.open({ provider: 'infinity', name: 'agents', subject: 'subscription', cause: 'expired', confidence: 'certain', from, events: ['AGENT/ALL'] });
    expect(opened).toBeDefined();
    let text = await scrape();
    expect(value(text, 'hookwarden_coverage_gap_open{provider="infinity",subscription="agents",cause="expired"}')).toBe(1);
    expect(value(text, 'hookwarden_coverage_gap_start_timestamp_seconds{provider="infinity",subscription="agents",cause="expired"}')).toBe(from.getTime() / 1000);

    stack.clock.advance(90);
    const closed = await gaps.close('infinity', 'agents', { to: stack.clock.now() });
    expect(closed.map((g) => [g.cause, g.hookState])).toEqual([['expired', 'pending']]);
    text = await scrape();
    expect(text).not.toContain('hookwarden_coverage_gap_open{provider="infinity",subscription="agents"');
    expect(value(text, 'hookwarden_coverage_gaps_total{provider="infinity",cause="expired"}')).toBe(1);
    expect(value(text, 'hookwarden_coverage_gap_seconds_total{provider="infinity",cause="expired"}')).toBe(90);
    expect(value(text, 'hookwarden_gap_hook_deliveries_total{result="success"}')).toBe(0);
  });

  it("the scheduler's wake-up sends the due hook, signed, and counts it", async () => {
    await stack.app.scheduler.tick();
    const [g] = await stack.app.store.listGaps({ provider: 'infinity', name: 'agents' });
    expect(g!.hookState).toBe('delivered');
    const got = receiver.backfills.get(g!.id);
    expect(got?.deliveries).toBe(1);
    expect(got?.body).toMatchObject({ id: g!.id, provider: 'infinity', name: 'agents', cause: 'expired', seconds: 90, events: ['AGENT/ALL'] });
    expect(receiver.rejected).toEqual([]);
    expect(value(await scrape(), 'hookwarden_gap_hook_deliveries_total{result="success"}')).toBe(1);
  });

  it('a failing receiver is counted as a failure and retried later; nothing else waits for it', async () => {
    receiver.break({ kind: 'status', status: 503 }, '/backfill');
    try {
      await stack.app.gaps!.open({ provider: 'infinity', name: 'queues', subject: 'subscription', cause: 'lost', confidence: 'certain', from: stack.clock.now(), events: [] });
      stack.clock.advance(10);
      await stack.app.gaps!.close('infinity', 'queues', { to: stack.clock.now() });
      await stack.app.scheduler.tick();
      const [g] = await stack.app.store.listGaps({ provider: 'infinity', name: 'queues' });
      expect(g).toMatchObject({ hookState: 'pending', hookAttempts: 1, hookLastStatus: 503 });
      expect(g!.hookNextAttemptAt!.getTime()).toBeGreaterThan(stack.clock.now().getTime());
      expect(value(await scrape(), 'hookwarden_gap_hook_deliveries_total{result="failure"}')).toBe(1);
    } finally {
      receiver.mend('/backfill');
    }
    // Once due again, it goes through.
    stack.clock.advance(600);
    await stack.app.scheduler.tick();
    const [g] = await stack.app.store.listGaps({ provider: 'infinity', name: 'queues' });
    expect(g!.hookState).toBe('delivered');
  });

  it('a reload that switches the hook off for one subscription leaves its next gaps without one', async () => {
    const yaml = infinityYaml(stack.sandbox.url, [{ name: 'agents' }, { name: 'queues', family: ['QUEUE'] }]).replace(
      "    callback:\n      url: https://hooks.example.com/queues\n      probe: false\n",
      "    callback:\n      url: https://hooks.example.com/queues\n      probe: false\n    hooks: { gapClosed: false }\n",
    );
    const next = parseConfig(yaml + hooksYaml(`${receiver.url}/backfill`), 'test.yaml', { env: testEnv });
    expect(next.gapHooks).toEqual({ 'infinity/queues': null });
    const changes = await stack.app.reload(next);
    expect(changes.hooks).toBe(true);
    const closeOne = async (name: string): Promise<GapRow> => {
      await stack.app.gaps!.open({ provider: 'infinity', name, subject: 'subscription', cause: 'inactive', confidence: 'certain', from: stack.clock.now(), events: [] });
      stack.clock.advance(5);
      const [g] = await stack.app.gaps!.close('infinity', name, { to: stack.clock.now() });
      return g!;
    };
    expect((await closeOne('queues')).hookState).toBe('none');
    expect((await closeOne('agents')).hookState).toBe('pending');
  });
});

describe('the gap gauges while Postgres is away', () => {
  it('are served from the last rows read', async () => {
    let up = true;
    const rows = [{ provider: 'dixa', name: 'conversations', cause: 'deliveries-failing', from: new Date(1_700_000_000_000) }];
    const metrics = new Metrics(undefined, { defaultMetrics: false, readOpenGaps: async () => (up ? rows : Promise.reject(new Error('database unreachable'))) });
    const series = 'hookwarden_coverage_gap_open{provider="dixa",subscription="conversations",cause="deliveries-failing"} 1';
    expect(await metrics.registry.metrics()).toContain(series);
    up = false;
    const text = await metrics.registry.metrics();
    expect(text).toContain(series);
    expect(text).toContain('hookwarden_coverage_gap_start_timestamp_seconds{provider="dixa",subscription="conversations",cause="deliveries-failing"} 1700000000');
  });

  it('gapClosed counts a gap and its seconds by provider and cause', async () => {
    const metrics = new Metrics(undefined, { defaultMetrics: false });
    metrics.gapClosed('axp', 'callback-failing', 12.5);
    metrics.gapClosed('axp', 'callback-failing', 7.5);
    const text = await metrics.registry.metrics();
    expect(text).toContain('hookwarden_coverage_gaps_total{provider="axp",cause="callback-failing"} 2');
    expect(text).toContain('hookwarden_coverage_gap_seconds_total{provider="axp",cause="callback-failing"} 20');
  });
});
