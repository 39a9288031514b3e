import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { InfinitySandbox } from '../sandbox/infinity.js';
import { cliLogger } from './common.js';
import { startDaemon, stopOnSignal } from './run.js';

/**
 * The README's first command: the Infinity sandbox, a local callback receiver, an embedded
 * Postgres and the daemon, with a config of short lifetimes so renewals happen while you
 * watch. Everything listens on 127.0.0.1.
 */
export async function runDemo(o: { listen: string; dataDir: string; lifetime: string }): Promise<void> {
  const logger = cliLogger();
  const dataDir = resolve(o.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const lifetime = Math.max(10, Number(o.lifetime) || 30);

  const infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: lifetime, clients: { 'demo-client': 'demo-secret' } });
  const infinityUrl = await infinity.listen(0);
  let received = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  const file = join(dataDir, 'demo.yaml');
  writeFileSync(file, demoYaml({ infinityUrl, hooks, listen: o.listen }));
  process.env.DEMO_CLIENT_SECRET = 'demo-secret';
  process.env.DEMO_HOOK_TOKEN ??= 'demo-hook-token';
  const config = loadConfigFile(file);
  const daemon = await startDaemon(config, logger);
  process.stderr.write(
    [
      '',
      'hookwarden demo is running (Ctrl-C stops it)',
      `  status page   ${daemon.url}/status`,
      `  metrics       ${daemon.url}/metrics`,
      `  sandbox       ${infinityUrl}/_sandbox/state   (Avaya Infinity, lifetimes of ${lifetime} s)`,
      `  config        ${file}`,
      `  try           npx hookwarden status -c ${file}   (in another terminal)`,
      '',
    ].join('\n') + '\n',
  );
  await stopOnSignal(logger, async () => {
    await daemon.stop();
    await infinity.close();
    receiver.closeAllConnections();
    receiver.close();
    logger.info({ received }, 'demo stopped');
  });
}

function demoYaml(p: { infinityUrl: string; hooks: string; listen: string }): string {
  return `# Written by "hookwarden demo": three Avaya Infinity subscriptions against the local sandbox.
dataDir: .
server:
  listen: ${p.listen}
defaults:
  reconcileEvery: 15s
  renewBefore: 33%
providers:
  infinity:
    kind: avaya-infinity
    baseUrl: ${p.infinityUrl}
    clientId: demo-client
    clientSecret: \${DEMO_CLIENT_SECRET:-demo-secret}
subscriptions:
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
