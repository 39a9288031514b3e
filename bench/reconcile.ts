/**
 * How long reconcile passes take over many Infinity subscriptions, over real HTTP (the
 * sandbox) and a real Postgres. Prints numbers; asserts nothing.
 *
 *   npx tsx bench/reconcile.ts [count]        (DATABASE_URL, or an embedded Postgres)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { parseConfig } from '../src/config/load.js';
import { ManualClock } from '../src/lib/clock.js';
import { silentLogger } from '../src/lib/logger.js';
import { createApp } from '../src/main.js';
import { plan } from '../src/policy/plan.js';
import { InfinitySandbox } from '../src/sandbox/infinity.js';
import { startEmbeddedPostgres } from '../src/store/embedded.js';

const count = Number(process.argv[2] ?? 1000);
const clock = new ManualClock(Date.UTC(2026, 0, 1));
const sandbox = new InfinitySandbox({ clock, subscriptionLifetimeSeconds: 900 });
await sandbox.listen();

let serverUrl = process.env.DATABASE_URL?.replace(/\/[^/]*$/, '');
let stop = async () => {};
let dir: string | undefined;
if (!serverUrl) {
  dir = mkdtempSync(join(tmpdir(), 'hookwarden-bench-'));
  const db = await startEmbeddedPostgres(dir, silentLogger, 'postgres');
  serverUrl = db.serverUrl;
  stop = db.stop;
}
const dbName = `hw_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
await admin.connect();
await admin.query(`CREATE DATABASE ${dbName}`);

const subs = Array.from({ length: count }, (_, i) => `  - name: s${i}\n    provider: infinity\n    family: [AGENT]\n    events: [E${i}]\n    callback: { url: "https://hooks.example.com/s${i}", probe: false }`).join('\n');
const yaml = `providers:\n  infinity:\n    kind: avaya-infinity\n    baseUrl: ${sandbox.url}\n    clientId: bench\n    clientSecret: bench\nsubscriptions:\n${subs}\n`;
const config = parseConfig(yaml, 'bench.yaml', { env: {} });
const app = await createApp(config, `${serverUrl}/${dbName}`, { logger: silentLogger, clock });

const time = async (label: string, fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  const s = (performance.now() - t) / 1000;
  console.log(`${label.padEnd(44)} ${s.toFixed(2)} s  (${(count / s).toFixed(0)} subscriptions/s)`);
};
await time(`first pass: ${count} creates`, () => app.reconciler.pass('infinity'));
await time(`steady pass: ${count} in sync`, () => app.reconciler.pass('infinity'));
clock.advance(700); // every renewal due
await time(`renewal pass: ${count} renews`, () => app.reconciler.pass('infinity'));

// plan() alone, on what the last pass saw.
const observed = await app.providers.get('infinity')!.list();
const recorded = await app.store.listSubscriptions('infinity');
const t = performance.now();
const runs = 20;
for (let i = 0; i < runs; i++) plan({ provider: 'infinity', desired: config.desired, observed, recorded, now: clock.now(), caps: { renew: true, update: true }, reconcileEverySeconds: 60, allowMassDelete: false, deleteOrphans: false });
console.log(`${`plan() over ${count} subscriptions`.padEnd(44)} ${((performance.now() - t) / runs).toFixed(1)} ms`);

await app.close();
await sandbox.close();
await admin.query(`DROP DATABASE ${dbName} WITH (FORCE)`);
await admin.end();
await stop();
if (dir) rmSync(dir, { recursive: true, force: true });
