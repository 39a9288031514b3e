import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/store/migrate.js';
import { PrismaStore } from '../../src/store/prisma.js';
import { ROOT } from '../fixtures/cli.js';
import { freshDatabase, query } from '../fixtures/db.js';

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: PrismaStore;
beforeAll(async () => {
  db = await freshDatabase();
  store = new PrismaStore(db.url);
});
afterAll(async () => {
  await store.close();
  await db.drop();
});

const PG_TYPE: Record<string, string> = { String: 'text', Int: 'integer', BigInt: 'bigint', Boolean: 'boolean', DateTime: 'timestamp without time zone' };
const DB_ATTR: Record<string, string> = { '@db.Uuid': 'uuid', '@db.Timestamptz(3)': 'timestamp with time zone' };

/** Columns as schema.prisma declares them: table -> column -> "type null|not null". */
function declaredColumns(): Map<string, Map<string, string>> {
  const text = readFileSync(join(ROOT, 'prisma', 'schema.prisma'), 'utf8');
  const out = new Map<string, Map<string, string>>();
  for (const m of text.matchAll(/^model \w+ \{([\s\S]*?)^\}/gm)) {
    const body = m[1]!;
    const table = /@@map\("(\w+)"\)/.exec(body)![1]!;
    const cols = new Map<string, string>();
    for (const line of body.split('\n')) {
      const f = /^\s+(\w+)\s+(\w+)(\?)?(.*)$/.exec(line);
      if (!f || line.trim().startsWith('//') || line.trim().startsWith('@@')) continue;
      const attr = Object.keys(DB_ATTR).find((a) => f[4]!.includes(a));
      // A scalar list (String[]) is a Postgres array, a nullable column as Prisma makes it.
      if (f[4]!.startsWith('[]')) cols.set(f[1]!, 'ARRAY null');
      else cols.set(f[1]!, `${attr ? DB_ATTR[attr] : PG_TYPE[f[2]!]} ${f[3] ? 'null' : 'not null'}`);
    }
    out.set(table, cols);
  }
  return out;
}

describe('Postgres store', () => {
  it('schema.prisma and the committed migrations agree, column for column', async () => {
    const rows = await query<{ table_name: string; column_name: string; data_type: string; is_nullable: string }>(
      db.url,
      `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
    );
    const actual = new Map<string, Map<string, string>>();
    for (const r of rows) {
      if (!actual.has(r.table_name)) actual.set(r.table_name, new Map());
      actual.get(r.table_name)!.set(r.column_name, `${r.data_type} ${r.is_nullable === 'YES' ? 'null' : 'not null'}`);
    }
    const declared = declaredColumns();
    expect([...actual.keys()].sort()).toEqual([...declared.keys()].sort());
    for (const [table, cols] of declared) expect(Object.fromEntries(actual.get(table)!), table).toEqual(Object.fromEntries(cols));
    const indexes = await query<{ indexname: string }>(db.url, `SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`);
    expect(indexes.map((i) => i.indexname)).toEqual(expect.arrayContaining(['subscription_provider_name_key', 'subscription_nextCheckAt_idx', 'history_provider_name_at_idx']));
  });

  it("migrations are recorded in Prisma's table and applying them again changes nothing", async () => {
    expect(await migrate(db.url)).toEqual([]);
    const applied = await query<{ migration_name: string; applied_steps_count: number }>(db.url, 'SELECT migration_name, applied_steps_count FROM "_prisma_migrations"');
    expect(applied.map((a) => a.migration_name).sort()).toEqual(['20261122000000_init', '20261122010000_callback_health', '20261122020000_delivery_status', '20261203000000_account_lease', '20261203010000_history_intents', '20261204000000_coverage_gaps', '20261204010000_first_renewal', '20261205000000_spread_from']);
  });

  it('two replicas migrating at once apply each migration once', async () => {
    const other = await freshDatabase(false);
    const results = await Promise.all([migrate(other.url), migrate(other.url), migrate(other.url)]);
    expect(results.flat().sort()).toEqual(['20261122000000_init', '20261122010000_callback_health', '20261122020000_delivery_status', '20261203000000_account_lease', '20261203010000_history_intents', '20261204000000_coverage_gaps', '20261204010000_first_renewal', '20261205000000_spread_from']);
    await other.drop();
  });

  it('fences writes by row version: the second writer of a version loses', async () => {
    const row = await store.insertSubscription({ id: '00000000-0000-4000-8000-000000000001', provider: 'p', name: 'fenced', kind: 'k', state: 'pending', nextCheckAt: new Date() });
    expect(row!.version).toBe(0);
    const a = await store.updateSubscription(row!.id, 0, { state: 'active' });
    const b = await store.updateSubscription(row!.id, 0, { state: 'failing' });
    expect(a!.version).toBe(1);
    expect(b).toBeNull();
    expect((await store.listSubscriptions('p'))[0]!.state).toBe('active');
    expect(await store.insertSubscription({ id: '00000000-0000-4000-8000-000000000002', provider: 'p', name: 'fenced', kind: 'k', state: 'pending', nextCheckAt: new Date() })).toBeNull();
  });

  it('the hot path writes (sent through pg, not the Prisma client) read back field for field as the Prisma client reads them', async () => {
    const at = new Date('2026-06-01T10:00:00.123Z');
    const inserted = await store.insertSubscription({
      id: '00000000-0000-4000-8000-000000000003', provider: 'hot', name: 'every-field', kind: 'avaya-infinity', state: 'pending', nextCheckAt: at,
      desiredHash: 'h1', owned: true, firstRenewalPending: true, lifetimeSeconds: undefined,
    });
    const full = {
      remoteId: 'r-1', previousRemoteId: 'r-0', status: 'ACTIVE', state: 'active' as const, owned: true, desiredHash: 'h2', expiresAt: new Date(at.getTime() + 900_000),
      lifetimeSeconds: 900, lastRenewedAt: at, lastObservedAt: at, nextCheckAt: new Date(at.getTime() + 600_000), failureCount: 2, lastError: "it's \"quoted\"; DROP TABLE x", lastErrorCode: 'E',
      presumedDisabledAt: at, firstRenewalPending: true, spreadFrom: new Date(at.getTime() + 450_000), kind: 'avaya-infinity',
    };
    const written = await store.updateSubscription(inserted!.id, inserted!.version, full);
    // Read back through the Prisma client (every account's rows; one account's are read through pg too).
    const read = (await store.listSubscriptions()).find((r) => r.provider === 'hot');
    expect(read).toEqual(written);
    expect(await store.listSubscriptions('hot')).toEqual([written]);
    expect(written).toEqual({ id: inserted!.id, provider: 'hot', name: 'every-field', version: 1, ...full });
    expect(inserted).toMatchObject({ version: 0, state: 'pending', owned: true, firstRenewalPending: true, spreadFrom: null, failureCount: 0, remoteId: null, expiresAt: null, nextCheckAt: at });
    // Nulls clear; an undefined field is left alone.
    const cleared = await store.updateSubscription(inserted!.id, 1, { lastError: null, expiresAt: null, spreadFrom: null, remoteId: undefined });
    expect(cleared).toMatchObject({ version: 2, lastError: null, expiresAt: null, spreadFrom: null, remoteId: 'r-1' });
    // A field that is no column is refused before anything is sent.
    await expect(store.updateSubscription(inserted!.id, 2, { nope: 1 } as never)).rejects.toThrow(/no subscription column is called "nope"/);
    expect((await store.listSubscriptions('hot'))[0]!.version).toBe(2);

    const entry = { at, actionId: '00000000-0000-4000-8000-0000000000a1', provider: 'hot', name: 'every-field', action: 'renew', reason: 'due', message: 'renewal due', phase: 'failed' as const, remoteId: 'r-1', previousRemoteId: null, errorCode: 'HTTP_503', error: 'unavailable' };
    await store.appendHistory(entry);
    await store.appendHistory({ ...entry, phase: 'intent', errorCode: undefined, error: undefined });
    expect(await store.history({ provider: 'hot' })).toEqual([{ ...entry, phase: 'intent', errorCode: null, error: null }, entry]);
  });

  it('leases: one holder per account, a growing fencing token, takeover only after expiry or release', async () => {
    const other = new PrismaStore(db.url);
    const a = await store.acquireLease('acct', 'replica-a', 60);
    expect(a).toBe(1n);
    // Held and not expired: the other replica cannot take it.
    expect(await other.acquireLease('acct', 'replica-b', 60)).toBeUndefined();
    // The holder proves it before a write, and that extends the lease.
    expect(await store.renewLease('acct', 'replica-a', a!, 60)).toBe(true);
    // A wrong token or holder proves nothing.
    expect(await store.renewLease('acct', 'replica-a', a! + 1n, 60)).toBe(false);
    expect(await other.renewLease('acct', 'replica-b', a!, 60)).toBe(false);
    // Expired by Postgres' clock (a replica paused past its lease): the other takes over with a new token...
    await query(db.url, `UPDATE account_lease SET "expiresAt" = now() - interval '1 second' WHERE account = 'acct'`);
    const b = await other.acquireLease('acct', 'replica-b', 60);
    expect(b).toBe(2n);
    // ...and the paused one, resumed, can no longer prove it holds the account.
    expect(await store.renewLease('acct', 'replica-a', a!, 60)).toBe(false);
    expect(await store.acquireLease('acct', 'replica-a', 60)).toBeUndefined();
    // Released: free at once.
    await other.releaseLease('acct', 'replica-b', b!);
    expect(await store.acquireLease('acct', 'replica-a', 60)).toBe(3n);
    expect((await store.listLeases()).map((l) => [l.account, l.holder])).toEqual([['acct', 'replica-a']]);
    await other.close();
  });

  it('open intents: creates journalled without an outcome, or failed without a clear refusal, in the last day', async () => {
    const at = new Date();
    const entry = (name: string, actionId: string, phase: 'intent' | 'succeeded' | 'failed', errorCode: string | null = null) =>
      store.appendHistory({ at, actionId, provider: 'intents', name, action: 'create', reason: 'missing', message: 'm', phase, errorCode });
    const id = (n: number) => `00000000-0000-4000-8000-0000000001${String(n).padStart(2, '0')}`;
    await entry('cut-short', id(1), 'intent');
    await entry('timed-out', id(2), 'intent');
    await entry('timed-out', id(2), 'failed', 'PROVIDER_TIMEOUT');
    await entry('refused', id(3), 'intent');
    await entry('refused', id(3), 'failed', 'PROVIDER_BAD_REQUEST');
    await entry('done', id(4), 'intent');
    await entry('done', id(4), 'succeeded');
    // An earlier call cut short still counts after a later one succeeded.
    await entry('retried', id(5), 'intent');
    await entry('retried', id(6), 'intent');
    await entry('retried', id(6), 'succeeded');
    expect([...(await store.openIntents('intents')).keys()].sort()).toEqual(['cut-short', 'retried', 'timed-out']);
  });

  it("every account's subscriptions, read a page at a time: all of them, once each, in order", async () => {
    // Names across page boundaries (1000 rows a page), several accounts sharing names.
    await query(db.url, `INSERT INTO subscription (id, provider, name, kind, state, "nextCheckAt", "updatedAt")
      SELECT gen_random_uuid(), 'paged-' || (i % 3), 'sub-' || lpad(i::text, 5, '0'), 'k', 'active', now(), now() FROM generate_series(1, 2500) i`);
    const all = (await store.listSubscriptions()).filter((r) => r.provider.startsWith('paged-'));
    expect(all).toHaveLength(2500);
    const keys = all.map((r) => `${r.provider}/${r.name}`);
    expect(new Set(keys).size).toBe(2500);
    expect(keys).toEqual([...keys].sort());
    expect((await store.listSubscriptions('paged-1')).map((r) => r.name)).toEqual(all.filter((r) => r.provider === 'paged-1').map((r) => r.name));
    // What /metrics reads: the same rows, with only what its gauges show, times in milliseconds.
    const gauges = (await store.subscriptionGauges()).filter((r) => r.provider.startsWith('paged-'));
    expect(gauges.map((r) => `${r.provider}/${r.name}`)).toEqual(keys);
    const byKey = new Map(all.map((r) => [`${r.provider}/${r.name}`, r]));
    for (const g of gauges) {
      const r = byKey.get(`${g.provider}/${g.name}`)!;
      expect(g).toEqual({ provider: r.provider, name: r.name, state: r.state, expiresAt: r.expiresAt?.getTime() ?? null, nextCheckAt: r.nextCheckAt?.getTime() ?? null, lastRenewedAt: r.lastRenewedAt?.getTime() ?? null, failureCount: r.failureCount });
    }
  });

  it('lists due accounts, most overdue first', async () => {
    const now = new Date('2026-06-01T00:00:00Z');
    await store.insertSubscription({ id: '00000000-0000-4000-8000-000000000010', provider: 'later', name: 'x', kind: 'k', state: 'active', nextCheckAt: new Date(now.getTime() - 1000) });
    await store.insertSubscription({ id: '00000000-0000-4000-8000-000000000011', provider: 'earlier', name: 'x', kind: 'k', state: 'active', nextCheckAt: new Date(now.getTime() - 60_000) });
    await store.insertSubscription({ id: '00000000-0000-4000-8000-000000000012', provider: 'future', name: 'x', kind: 'k', state: 'active', nextCheckAt: new Date(now.getTime() + 60_000) });
    const due = await store.dueProviders(now);
    const names = due.map((d) => d.provider);
    expect(names.indexOf('earlier')).toBeLessThan(names.indexOf('later'));
    expect(names).not.toContain('future');
    // Each with its oldest due time: the scheduler merges them with made-due accounts by it.
    expect(due.find((d) => d.provider === 'earlier')?.since).toEqual(new Date(now.getTime() - 60_000));
  });
});
