import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/cli/run.js';
import { parseConfig } from '../../src/config/load.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { freshDatabase } from '../fixtures/db.js';
import { memoryLogger, testEnv } from '../fixtures/stack.js';
import { until } from '../fixtures/wait.js';

/**
 * One account, two subscriptions. The renewal of one of them hangs for 25 s (longer than the
 * other's whole 9 s lifetime), which keeps the account's pass under way. The other comes due
 * two or three times meanwhile and must be renewed beside that pass, not after it: without
 * that, it waited for the hanging call and expired. Real time, real cron wake-ups.
 */

const yaml = (db: string, url: string) => `
database:
  url: ${db}
server:
  listen: 127.0.0.1:0
defaults:
  reconcileEvery: 60s
  passTimeout: 60s
providers:
  acct:
    kind: avaya-infinity
    baseUrl: ${url}
    clientId: client-a
    clientSecret: \${INFINITY_CLIENT_SECRET}
    timeout: 40s
subscriptions:
  - { name: hangs, provider: acct, family: [AGENT], events: [ALL], callback: { url: "https://hooks.example.com/hangs", probe: false } }
  - { name: other, provider: acct, family: [AGENT], events: [ALL], callback: { url: "https://hooks.example.com/other", probe: false } }
`;

describe('renewals beside a pass still under way', () => {
  let sandbox: InfinitySandbox;
  let daemon: Daemon;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  const { logger, lines } = memoryLogger();

  beforeAll(async () => {
    sandbox = new InfinitySandbox({ subscriptionLifetimeSeconds: 9 });
    await sandbox.listen();
    db = await freshDatabase();
    daemon = await startDaemon(parseConfig(yaml(db.url, sandbox.url), 'beside.yaml', { env: testEnv }), logger);
  });

  afterAll(async () => {
    await daemon?.stop(1000);
    await sandbox?.close();
    await db?.drop();
  });

  it('a renewal that comes due while another subscription’s call hangs is made on time', async () => {
    const byName = (n: string) => sandbox.subscriptions('client-a').find((s) => JSON.stringify(s.transport).includes(`/${n}`));
    await until('both subscriptions to be created', () => byName('hangs') !== undefined && byName('other') !== undefined, 10);
    const hangs = byName('hangs')!.subscriptionId;
    const other = byName('other')!.subscriptionId;
    sandbox.addFault({ method: 'POST', path: `${hangs}:renew`, delayMs: 25_000, count: 1 });
    // The hanging renewal reaches the provider within a lifetime.
    await until('the renewal of `hangs` to hang', () => (sandbox.server.faultTable.fired.get('delay') ?? 0) === 1, 12);
    const start = Date.now();
    let renewedAt = byName('other')!.expiresAt;
    let renewals = 0;
    const expired: string[] = [];
    while (Date.now() - start < 24_000) {
      const o = byName('other')!;
      if (o.subscriptionId !== other) expired.push(`recreated as ${o.subscriptionId}`);
      else if (o.status !== 'ACTIVE' && !expired.some((e) => e.includes(o.expiresAt))) expired.push(`INACTIVE at ${new Date().toISOString()} (expiresAt ${o.expiresAt})`);
      if (o.expiresAt !== renewedAt) {
        renewals++;
        renewedAt = o.expiresAt;
      }
      await sleep(100);
    }
    expect(expired).toEqual([]);
    // A 9 s lifetime renews about every 6 s: three or four times in 24 s.
    expect(renewals).toBeGreaterThanOrEqual(3);
    // They were made beside the pass, whose hanging call was still under way.
    expect(lines.filter((l) => l.includes('"subscription":"other"') && l.includes('its pass is still under way')).length).toBeGreaterThanOrEqual(3);
    expect(byName('hangs')!.subscriptionId).toBe(hangs);
  }, 70_000);
});
