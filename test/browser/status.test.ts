import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { AxpSandbox } from '../../src/sandbox/axp.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { CallbackReceiver } from '../../src/sandbox/receiver.js';
import type { StatusDocument } from '../../src/server/status.js';
import { targetSpecs } from '../../src/watchdog/targets.js';
import { waitFor } from '../fixtures/cli.js';
import { freshDatabase } from '../fixtures/db.js';
import { AXP_ENV } from '../fixtures/health-stack.js';
import { testEnv } from '../fixtures/stack.js';

/**
 * The status page as a person sees it: Debian's Chromium, driven by playwright-core, opens
 * /status of a real daemon (real Postgres, the bundled sandboxes, a real callback receiver,
 * all on loopback, real time) with three subscriptions — one healthy, one about to expire,
 * one whose AXP Digital callback fails (so its disable and delete are projected) — and
 * reads what is shown. A screenshot is saved to test-output/status.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`[browser] status page test skipped: ${CHROMIUM} is missing (install Debian's chromium package to run it)`);

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCREENSHOT = join(ROOT, 'test-output', 'status.png');
/** The AXP callback policy, scaled: unhealthy after 3 failed probes, disabled 10 min later, deleted an hour after that. */
const POLICY = '{ unhealthyAfter: 3, disableAfter: 10m, deleteAfter: 1h }';

function yaml(p: { db: string; infinity: string; axp: string; hooks: string }): string {
  const axp = (kind: string) => `    kind: ${kind}
    baseUrl: ${p.axp}
    accountId: ABCDEF
    appKey: \${AXP_APP_KEY}
    clientId: hookwarden
    clientSecret: \${AXP_CLIENT_SECRET}
    policy: ${POLICY}`;
  return `database:
  url: ${p.db}
server:
  listen: 127.0.0.1:0
defaults:
  reconcileEvery: 5s
  probe: { every: 1s, timeout: 1s }
providers:
  infinity:
    kind: avaya-infinity
    baseUrl: ${p.infinity}
    clientId: client-a
    clientSecret: \${INFINITY_CLIENT_SECRET}
  digital:
${axp('axp-digital')}
  notify:
${axp('axp-notification')}
subscriptions:
  - name: agent-events
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback: { url: ${p.hooks}/hooks/infinity/agents }
  - name: engagements
    provider: notify
    family: AGENT_ENGAGEMENT
    events: [ALL]
    renewBefore: 10s
    callback: { url: ${p.hooks}/hooks/axp-notification/engagements }
  - name: chat-events
    provider: digital
    channelProviderId: ChatConnector01
    events: [MESSAGES]
    callback: { url: ${p.hooks}/hooks/axp-digital/chat }
`;
}

describe.skipIf(!haveChromium)('the status page in Chromium', () => {
  let infinity: InfinitySandbox;
  let axp: AxpSandbox;
  let receiver: CallbackReceiver;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let daemon: Daemon;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: 3600 });
    await infinity.listen();
    // AXP Notification subscriptions live 100 s here: under the page's 2-minute warning from the start.
    axp = new AxpSandbox({ subscriptionLifetimeSeconds: 100 });
    await axp.listen();
    receiver = new CallbackReceiver().expect('/hooks/infinity', 'infinity').expect('/hooks/axp-notification', 'axp-notification').expect('/hooks/axp-digital', 'axp-digital');
    const hooks = await receiver.listen();
    db = await freshDatabase();
    const config = parseConfig(yaml({ db: db.url, infinity: infinity.url, axp: axp.url, hooks }), 'status-page.yaml', { env: { ...testEnv, ...AXP_ENV } });
    daemon = await startDaemon(config, silentLogger, { server: { callbacks: () => targetSpecs(config.desired, config.watch, config.defaults.probe, config.policies) } });
    // The AXP Digital callback breaks once its subscription exists: hookwarden does not create
    // a subscription on a callback already unhealthy (AXP would only disable it), and with
    // probes every second a first pass slower than three probes would never create it.
    await waitFor(
      'the AXP Digital subscription to be created',
      async () => {
        const doc = (await (await fetch(`${daemon.url}/status.json`)).json()) as StatusDocument;
        return doc.subscriptions.some((r) => r.name === 'chat-events' && r.state === 'active') ? true : undefined;
      },
      60_000,
    );
    receiver.break({ kind: 'status', status: 503 }, '/hooks/axp-digital');
    profile = mkdtempSync(join(tmpdir(), 'hookwarden-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
      viewport: { width: 1500, height: 1000 },
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await daemon?.stop();
    await Promise.all([infinity?.close(), axp?.close(), receiver?.close()]);
    await db?.drop();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** The three rows as the JSON tells them, once all three are where the test wants them. */
  async function settled(): Promise<StatusDocument> {
    let last: StatusDocument | undefined;
    return waitFor(
      'one healthy, one expiring and one unhealthy subscription',
      async () => {
        const doc = (last = (await (await fetch(`${daemon.url}/status.json`)).json()) as StatusDocument);
        const s = Object.fromEntries(doc.subscriptions.map((r) => [r.name, r]));
        const ok =
          s['agent-events']?.state === 'active' &&
          s['agent-events'].callback?.health === 'healthy' &&
          s['engagements']?.state === 'active' &&
          s['engagements'].expiresAt !== null &&
          s['chat-events']?.state === 'active' &&
          s['chat-events'].callback?.health === 'unhealthy' &&
          s['chat-events'].callback.disableAt !== null;
        return ok ? doc : undefined;
      },
      // A loaded machine (the suite runs twice, on two Node versions) can take a while.
      90_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last seen: ${JSON.stringify(last?.subscriptions.map((r) => ({ name: r.name, state: r.state, expiresAt: r.expiresAt, callback: r.callback })))}`);
    });
  }

  const row = (page: Page, key: string) => page.locator(`tr[data-subscription="${key}"]`);
  const text = async (page: Page, key: string, cell: string) => (await row(page, key).locator(cell).innerText()).replace(/\s+/g, ' ').trim();

  it('shows each subscription with its state, live countdowns and projected cutoffs', { timeout: 180_000 }, async () => {
    const doc = await settled();
    const page = await context.newPage();
    // Script errors and refused content (the page's Content-Security-Policy) show up here.
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console: ${m.text()}`);
    });
    const response = await page.goto(`${daemon.url}/status`);
    expect(response?.status()).toBe(200);
    expect(await page.locator('meta[http-equiv="refresh" i]').count()).toBe(0);
    // `run` shows no demo buttons.
    expect(await page.locator('form.controls, button').count()).toBe(0);

    // Healthy: active, its callback healthy, an expiry an hour out, nothing projected.
    expect(await text(page, 'infinity/agent-events', 'td:nth-child(3)')).toBe('active');
    expect(await text(page, 'infinity/agent-events', 'td.callback')).toBe('healthy');
    expect(await text(page, 'infinity/agent-events', 'td.expiry')).toMatch(/^in (59m|1h 00m) \d\ds \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await text(page, 'infinity/agent-events', 'td.cutoffs')).toBe('none projected');

    // About to expire: under two minutes, marked as imminent.
    expect(await text(page, 'notify/engagements', 'td:nth-child(3)')).toBe('active');
    expect(await text(page, 'notify/engagements', 'td.expiry')).toMatch(/^in (1m \d\ds|\d+s) \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await row(page, 'notify/engagements').locator('td.expiry time.soon').count()).toBe(1);

    // Unhealthy callback: still active, and the provider's disable and delete are shown as countdowns with their times.
    const chat = doc.subscriptions.find((s) => s.name === 'chat-events')!;
    expect(await text(page, 'digital/chat-events', 'td:nth-child(3)')).toBe('active');
    expect(await text(page, 'digital/chat-events', 'td.callback')).toMatch(/^unhealthy \d+ failed in a row$/);
    const cutoffs = await text(page, 'digital/chat-events', 'td.cutoffs');
    const utc = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
    expect(cutoffs).toMatch(/^disables in \d+m \d\ds \S+ \S+ UTC deletes in 1h \d\dm \d\ds \S+ \S+ UTC$/);
    expect(cutoffs).toContain(utc(chat.callback!.disableAt!));
    expect(cutoffs).toContain(utc(chat.callback!.deleteAt!));
    expect(await text(page, 'digital/chat-events', 'td.expiry')).toBe('does not expire');
    // Its target in the callbacks table, with the failure the probes saw.
    expect((await page.locator('tr[data-target="digital/chat-events"]').innerText()).replace(/\s+/g, ' ')).toMatch(/unhealthy .*unavailable: .*503/);
    // The recent actions, with their reasons.
    expect((await page.locator('table.actions').innerText()).replace(/\s+/g, ' ')).toMatch(/create missing succeeded/);

    // The countdowns move on their own (no reload): two looks about 1.5 s apart.
    const countdowns = [
      row(page, 'infinity/agent-events').locator('td.expiry time'),
      row(page, 'notify/engagements').locator('td.expiry time'),
      row(page, 'digital/chat-events').locator('td.cutoffs time').first(),
    ];
    // A mark on the window: a full reload would lose it. (Expressions run in the page, so they are written as strings.)
    await page.evaluate('window.marker = 1');
    const first = await Promise.all(countdowns.map((c) => c.innerText()));
    await page.waitForTimeout(1500);
    const second = await Promise.all(countdowns.map((c) => c.innerText()));
    for (let i = 0; i < countdowns.length; i++) expect(second[i], `countdown ${i} should have moved`).not.toBe(first[i]);

    // The data is read again from /status.json and the tables are rendered anew in place:
    // the marked table goes, the page (and the mark on its window) stays.
    await page.evaluate(`document.querySelector('#status table').dataset.old = '1'`);
    const refreshed = await page.waitForResponse((r) => r.url().endsWith('/status.json'), { timeout: 20_000 });
    expect(refreshed.status()).toBe(200);
    await page.waitForFunction(`!document.querySelector('#status table[data-old]')`);
    expect(await page.evaluate('window.marker')).toBe(1);
    expect(await row(page, 'digital/chat-events').count()).toBe(1);

    // No secret of the config on the page.
    const html = await page.content();
    for (const secret of [...Object.values(testEnv), ...Object.values(AXP_ENV)]) expect(html).not.toContain(secret);

    expect(problems).toEqual([]);

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await page.close();
  });
});
