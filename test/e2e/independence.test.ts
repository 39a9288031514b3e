import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/load.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freshDatabase } from '../fixtures/db.js';
import { memoryLogger, testEnv } from '../fixtures/stack.js';
import { until } from '../fixtures/wait.js';

/**
 * Two provider accounts; one of them hangs (every call runs into its timeout). The other
 * must be renewed on time all the same, the loop must keep waking, and the hanging pass is
 * cut at its deadline. Real time, real cron wake-ups.
 */

const yaml = (db: string, fast: string, slow: string) => `
database:
  url: ${db}
server:
  listen: 127.0.0.1:0
defaults:
  reconcileEvery: 2s
  passTimeout: 5s
providers:
  fast:
    kind: avaya-infinity
    baseUrl: ${fast}
    clientId: client-a
    clientSecret: \${INFINITY_CLIENT_SECRET}
  slow:
    kind: avaya-infinity
    baseUrl: ${slow}
    clientId: client-a
    clientSecret: \${INFINITY_CLIENT_SECRET}
    timeout: 30s
subscriptions:
${['fast', 'slow']
  .flatMap((p) => [1, 2].map((i) => `  - { name: ${p}-${i}, provider: ${p}, family: [AGENT], events: [ALL], callback: { url: "https://hooks.example.com/${p}-${i}", probe: false } }`))
  .join('\n')}
`;

describe('accounts are independent', () => {
  let fast: InfinitySandbox;
  let slow: InfinitySandbox;
  let daemon: Daemon;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const { logger, lines } = memoryLogger();

  beforeAll(async () => {
    fast = new InfinitySandbox({ subscriptionLifetimeSeconds: 9 });
    slow = new InfinitySandbox({ subscriptionLifetimeSeconds: 9 });
    await fast.listen();
    await slow.listen();
    // Every call to the slow account hangs for 20 s.
    slow.addFault({ delayMs: 20_000, count: 1000 });
    db = await freshDatabase();
    daemon = await startDaemon(parseConfig(yaml(db.url, fast.url, slow.url), 'independence.yaml', { env: testEnv }), logger);
  });

  afterAll(async () => {
    await daemon?.stop();
    await fast?.close();
    await slow?.close();
    await db?.drop();
  });

  it('a hanging account delays no other account, and its pass is cut at the deadline', async () => {
    await until('the fast account to be created', () => fast.subscriptions('client-a').filter((s) => s.status === 'ACTIVE').length === 2, 10);
    // 9-second lifetimes renew about every 6 s: over 15 s, at least two renewal rounds, all on time.
    const started = fast.server.count('renew');
    await sleep(15_000);
    expect(fast.server.count('renew') - started).toBeGreaterThanOrEqual(4);
    expect(fast.subscriptions('client-a').every((s) => s.status === 'ACTIVE')).toBe(true);
    // The slow account never answered; its passes were cut at their 5 s deadline.
    expect(slow.subscriptions('client-a')).toHaveLength(0);
    expect(lines.some((l) => l.includes('"provider":"slow"') && l.includes('deadline'))).toBe(true);
    // The loop itself is alive; each account's last completed pass is visible.
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    const last = Number(/^hookwarden_reconcile_last_pass_timestamp_seconds\{provider="fast"\} (\S+)$/m.exec(metrics)?.[1]);
    expect(Date.now() / 1000 - last).toBeLessThan(5);
  }, 60_000);
});
