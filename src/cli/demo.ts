import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { AxpSandbox } from '../sandbox/axp.js';
import { DixaSandbox } from '../sandbox/dixa.js';
import { InfinitySandbox } from '../sandbox/infinity.js';
import { CallbackReceiver } from '../sandbox/receiver.js';
import type { PageControls } from '../server/page.js';
import { cliLogger } from './common.js';
import { err } from './output.js';
import { startDaemon, stopOnSignal } from './run.js';

/** What the demo's receiver checks the backfill hooks' signatures with (DEMO_BACKFILL_SECRET overrides it). */
const DEMO_BACKFILL_SECRET = 'demo-backfill-signing-secret';

/** The demo's AXP policy, scaled so the countdown runs in minutes: unhealthy after 3 errors, disabled 60 s later, deleted 5 min after that. */
const DEMO_POLICY = { unhealthyAfter: 3, disableAfterSeconds: 60, deleteAfterSeconds: 300 };

/**
 * The README's first command: the Infinity and AXP sandboxes, a local callback receiver
 * you can break and mend, an embedded Postgres and the daemon, with a config of short
 * lifetimes and a scaled AXP callback policy, so renewals, the countdown and the
 * recreation happen while you watch. Everything listens on 127.0.0.1.
 */
export async function runDemo(o: { listen: string; dataDir: string; lifetime: string }): Promise<void> {
  const logger = cliLogger();
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lifetime = Math.max(10, Number(o.lifetime) || 30);

  const infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: lifetime, clients: { 'demo-client': 'demo-secret' } });
  const infinityUrl = await infinity.listen(0);
  const axp = new AxpSandbox({ subscriptionLifetimeSeconds: lifetime * 4, policy: { ...DEMO_POLICY, timeoutMs: 5000 }, deliverEveryMs: 5000 });
  const axpUrl = await axp.listen(0);
  const dixa = new DixaSandbox({ deliverEveryMs: 10_000 });
  const dixaUrl = await dixa.listen(0);
  process.env.DEMO_BACKFILL_SECRET ??= DEMO_BACKFILL_SECRET;
  // The receiver is also the consumer of the backfill hook: signed gaps on POST /backfill, kept once by id.
  const receiver = new CallbackReceiver().acceptBackfill({ path: '/backfill', secret: process.env.DEMO_BACKFILL_SECRET }).expect('/hooks/dixa', 'dixa').expect('/hooks/digital', 'axp-digital').expect('/hooks/mycontactcenter', 'mycontactcenter').expect('/hooks/agents', 'infinity').expect('/hooks/interactions', 'infinity').expect('/hooks/queues', 'infinity');
  const hooks = await receiver.listen(0);
  const file = join(dataDir, 'demo.yaml');
  writeFileSync(file, demoYaml({ infinityUrl, axpUrl, dixaUrl, hooks, listen: o.listen }));
  process.env.DEMO_CLIENT_SECRET = 'demo-secret';
  process.env.DEMO_HOOK_TOKEN ??= 'demo-hook-token';
  const config = loadConfigFile(file);
  const daemon = await startDaemon(config, logger, { server: { extra: breakAndMend(receiver, logger), controls: CONTROLS } });
  const stopBackfillLog = logBackfills(receiver, logger);
  err(
    [
      '',
      'hookwarden demo is running (Ctrl-C stops it)',
      `  status page   ${daemon.url}/status`,
      `  metrics       ${daemon.url}/metrics`,
      `  sandboxes     ${infinityUrl}/_sandbox/state   (Avaya Infinity, lifetimes of ${lifetime} s)`,
      `                ${axpUrl}/_sandbox/state   (AXP: delivers every 5 s; disables after 60 s unhealthy, deletes 5 min later)`,
      `                ${dixaUrl}/_sandbox/state   (Dixa: delivers every 10 s; 10 requests/s, burst 4)`,
      `  break         curl -X POST ${daemon.url}/demo/callback/break   (or the button on the status page)`,
      `  mend          curl -X POST ${daemon.url}/demo/callback/mend`,
      `  backfill      curl ${hooks}/backfill   (the coverage gaps the backfill hook delivered, signed and kept once by id)`,
      `  gaps          npx hookwarden gaps -c ${file}`,
      `  config        ${file}`,
      `  try           npx hookwarden status -c ${file}   (in another terminal)`,
      '',
    ].join('\n') + '\n',
  );
  await stopOnSignal(logger, async () => {
    stopBackfillLog();
    await daemon.stop();
    await infinity.close();
    await axp.close();
    await dixa.close();
    await receiver.close();
    logger.info({ received: receiver.count({ probe: false }), probes: receiver.count({ probe: true }) }, 'demo stopped');
  });
}

/** The break and mend buttons: the demo passes them to the status page; `run` has none. */
const CONTROLS: PageControls = {
  buttons: [
    { label: 'Break the AXP callback (503)', path: '/demo/callback/break' },
    { label: 'Mend it', path: '/demo/callback/mend' },
  ],
  note: 'Demo: AXP disables subscriptions 60 s after their callback turns unhealthy and deletes them 5 min later; hookwarden recreates them once it answers again. The window in between is recorded as a coverage gap, and once it closes the backfill hook tells the demo receiver which events to fetch again.',
};

/**
 * One log line per coverage gap the demo receiver gets through the backfill hook, as a
 * consumer would start its backfill: which events of which subscription, between when and when.
 */
function logBackfills(receiver: CallbackReceiver, logger: { info: (o: object, m: string) => void }): () => void {
  const seen = new Map<string, number>();
  const timer = setInterval(() => {
    for (const g of receiver.backfills.values()) {
      if (seen.get(g.id) === g.deliveries) continue;
      const again = seen.has(g.id);
      seen.set(g.id, g.deliveries);
      const b = (g.body ?? {}) as { provider?: string; name?: string; cause?: string; from?: string; to?: string; seconds?: number; events?: string[] };
      logger.info(
        { receiver: 'backfill', gap: g.id, provider: b.provider, subscription: b.name, cause: b.cause, from: b.from, to: b.to, seconds: b.seconds, events: b.events, deliveries: g.deliveries },
        again
          ? `demo receiver: backfill hook for ${b.name} delivered again (${g.deliveries} times); already handled, nothing fetched twice`
          : `demo receiver: backfill hook received (signature verified): would fetch ${b.events?.join(', ') || 'the events'} of ${b.provider}/${b.name} from ${b.from} to ${b.to} (${b.cause})`,
      );
    }
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** POST /demo/callback/break and /demo/callback/mend: the AXP Digital callback fails with 503, or answers again. */
function breakAndMend(receiver: CallbackReceiver, logger: { info: (o: object, m: string) => void }) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const m = /^\/demo\/callback\/(break|mend)$/.exec(req.url ?? '');
    if (!m || req.method !== 'POST') return false;
    if (m[1] === 'break') receiver.break({ kind: 'status', status: 503 }, '/hooks/digital');
    else receiver.mend('/hooks/digital');
    logger.info({ callback: 'chat-events' }, m[1] === 'break' ? 'demo: the AXP callback now answers 503' : 'demo: the AXP callback answers 200 again');
    const browser = (req.headers.accept ?? '').includes('text/html');
    res.writeHead(browser ? 303 : 200, browser ? { location: '/status' } : { 'content-type': 'text/plain' });
    res.end(browser ? undefined : `callback ${m[1] === 'break' ? 'broken' : 'mended'}\n`);
    return true;
  };
}

function demoYaml(p: { infinityUrl: string; axpUrl: string; dixaUrl: string; hooks: string; listen: string }): string {
  return `# Written by "hookwarden demo": Avaya Infinity, AXP Digital, Dixa and watch-only targets against local sandboxes.
dataDir: .
server:
  listen: ${p.listen}
defaults:
  reconcileEvery: 15s
  renewBefore: 33%
  probe: { every: 5s, timeout: 5s }
  deliveryPoll: { every: 15s }
  gapAlertAfter: 2m
hooks:
  gapClosed:                        # the backfill hook: the demo receiver verifies the signature
    url: ${p.hooks}/backfill
    signingSecret: \${DEMO_BACKFILL_SECRET:-${DEMO_BACKFILL_SECRET}}
providers:
  dixa:
    kind: dixa
    baseUrl: ${p.dixaUrl}
    apiToken: \${DEMO_DIXA_TOKEN:-demo-dixa-token}
  axp:
    kind: axp-digital
    baseUrl: ${p.axpUrl}
    accountId: DEMOAC
    appKey: \${DEMO_APP_KEY:-demo-app-key}
    clientId: demo-client
    clientSecret: \${DEMO_CLIENT_SECRET:-demo-secret}
    policy: { unhealthyAfter: ${DEMO_POLICY.unhealthyAfter}, disableAfter: ${DEMO_POLICY.disableAfterSeconds}s, deleteAfter: ${DEMO_POLICY.deleteAfterSeconds}s }
  infinity:
    kind: avaya-infinity
    baseUrl: ${p.infinityUrl}
    clientId: demo-client
    clientSecret: \${DEMO_CLIENT_SECRET:-demo-secret}
watch:
  - name: mycontactcenter-agents
    url: ${p.hooks}/hooks/mycontactcenter/agents
    format: mycontactcenter
subscriptions:
  - name: conversations
    provider: dixa
    events: [ConversationCreated, ConversationClosed]
    callback:
      url: ${p.hooks}/hooks/dixa/conversations
      authorization:
        type: token
        value: \${DEMO_DIXA_HOOK_TOKEN:-demo-dixa-hook-token}
      headers: { X-Team: support }
  - name: chat-events
    provider: axp
    channelProviderId: DemoChatConnector
    events: [MESSAGES, ENGAGEMENT_CREATED]
    callback:
      url: ${p.hooks}/hooks/digital/chat
  - name: agent-events
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback:
      url: ${p.hooks}/hooks/agents
      authToken: \${DEMO_HOOK_TOKEN:-demo-hook-token}
      authTokenHeader: X-Hook-Token
  - name: interaction-events
    provider: infinity
    family: [INTERACTION]
    events: [Interaction.Created, Interaction.Completed]
    callback:
      url: ${p.hooks}/hooks/interactions
  - name: queue-events
    provider: infinity
    family: [QUEUE]
    events: [ALL]
    renewBefore: 10s
    callback:
      url: ${p.hooks}/hooks/queues
      method: PUT
`;
}
