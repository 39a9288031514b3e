import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, Prisma } from '../generated/prisma/client.js';
import { randomUUID } from 'node:crypto';
import type { OpenIntent, RecordedSubscription, RecordedTarget, SubscriptionState } from '../domain/types.js';
import type { DeliveryRecord, HistoryEntry, LeaseRow, NewSubscription, Store, SubscriptionPatch, TargetKey, TargetPatch } from './types.js';

type Row = Awaited<ReturnType<PrismaClient['subscription']['findFirstOrThrow']>>;

export class PrismaStore implements Store {
  readonly #prisma: PrismaClient;
  readonly #pool: pg.Pool;

  /**
   * `onError` hears of connections the database dropped (a restart, a failover): they are
   * ordinary events, never a reason to end the process. Queries fail fast while the database
   * is away (connect and query timeouts), so a pass aborts instead of hanging.
   */
  readonly #url: string;
  /** The connection whose session announces this process as a lease holder. */
  #presence: pg.Client | undefined;

  constructor(databaseUrl: string, opts: { onError?: (err: Error) => void; max?: number } = {}) {
    this.#url = databaseUrl;
    const onError = opts.onError ?? (() => {});
    this.#pool = new pg.Pool({
      connectionString: databaseUrl,
      max: opts.max ?? 10,
      connectionTimeoutMillis: 5000,
      query_timeout: 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
    });
    // An idle client that loses its connection emits 'error' on the pool; a checked-out one
    // on itself: both are heard, neither can surface as an unhandled 'error' event.
    this.#pool.on('error', onError);
    this.#pool.on('connect', (client) => client.on('error', onError));
    this.#prisma = new PrismaClient({ adapter: new PrismaPg(this.#pool, { onPoolError: onError, onConnectionError: onError }) });
  }

  async listSubscriptions(provider?: string): Promise<RecordedSubscription[]> {
    const rows = await this.#prisma.subscription.findMany({
      where: provider ? { provider } : {},
      orderBy: [{ provider: 'asc' }, { name: 'asc' }],
    });
    return rows.map(toRecorded);
  }

  async insertSubscription(row: NewSubscription): Promise<RecordedSubscription | null> {
    try {
      return toRecorded(await this.#prisma.subscription.create({ data: { ...row, version: 0 } }));
    } catch (err) {
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return null;
      throw err;
    }
  }

  async updateSubscription(id: string, version: number, patch: SubscriptionPatch): Promise<RecordedSubscription | null> {
    const res = await this.#prisma.subscription.updateMany({
      where: { id, version },
      data: { ...patch, version: { increment: 1 }, updatedAt: new Date() },
    });
    if (res.count === 0) return null;
    const row = await this.#prisma.subscription.findUnique({ where: { id } });
    return row ? toRecorded(row) : null;
  }

  async appendHistory(e: HistoryEntry): Promise<void> {
    await this.#prisma.history.create({ data: { ...e } });
  }

  async history(filter: { provider?: string; name?: string; limit?: number } = {}): Promise<HistoryEntry[]> {
    const rows = await this.#prisma.history.findMany({
      where: { ...(filter.provider ? { provider: filter.provider } : {}), ...(filter.name ? { name: filter.name } : {}) },
      orderBy: { id: 'desc' },
      take: filter.limit ?? 100,
    });
    return rows.map(({ id: _id, ...e }) => ({ ...e, phase: e.phase as HistoryEntry['phase'] }));
  }

  async pruneHistory(before: Date): Promise<number> {
    return (await this.#prisma.history.deleteMany({ where: { at: { lt: before } } })).count;
  }

  async markDue(provider: string, now: Date): Promise<void> {
    await this.#prisma.subscription.updateMany({ where: { provider, nextCheckAt: { gt: now }, state: { not: 'deleted' } }, data: { nextCheckAt: now } });
  }

  async dueProviders(now: Date): Promise<string[]> {
    const rows = await this.#prisma.subscription.groupBy({
      by: ['provider'],
      where: { nextCheckAt: { lte: now }, state: { not: 'deleted' } },
      _min: { nextCheckAt: true },
      orderBy: { _min: { nextCheckAt: 'asc' } },
    });
    return rows.map((r) => r.provider);
  }

  async ping(): Promise<void> {
    // Not through the pool: a saturated pool must not look like an unreachable database,
    // and an unreachable one must answer within seconds.
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 3000, query_timeout: 3000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => {});
    }
  }

  async acquireLease(account: string, holder: string, ttlSeconds: number): Promise<bigint | undefined> {
    const rows = await this.#prisma.$queryRaw<{ token: bigint }[]>`
      INSERT INTO account_lease (account, holder, token, "expiresAt", "acquiredAt", "renewedAt")
      VALUES (${account}, ${holder}, 1, now() + make_interval(secs => ${ttlSeconds}), now(), now())
      ON CONFLICT (account) DO UPDATE
        SET holder = EXCLUDED.holder, token = account_lease.token + 1, "expiresAt" = EXCLUDED."expiresAt", "renewedAt" = now(),
            "acquiredAt" = CASE WHEN account_lease.holder = EXCLUDED.holder THEN account_lease."acquiredAt" ELSE now() END
        WHERE account_lease."expiresAt" <= now() OR account_lease.holder = EXCLUDED.holder
      RETURNING token`;
    return rows[0]?.token;
  }

  async announce(holder: string): Promise<boolean> {
    if (this.#presence) return true;
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 3000, query_timeout: 5000, keepAlive: true });
    // Losing this connection (a database restart) only ends the announcement; the next heartbeat makes it again.
    client.on('error', () => {
      if (this.#presence === client) this.#presence = undefined;
    });
    client.on('end', () => {
      if (this.#presence === client) this.#presence = undefined;
    });
    try {
      await client.connect();
      await client.query("SELECT pg_advisory_lock(hashtext('hookwarden:holder'), hashtext($1))", [holder]);
      this.#presence = client;
      return true;
    } catch {
      await client.end().catch(() => {});
      return false;
    }
  }

  async holderAbsent(holder: string): Promise<boolean> {
    // A transaction-scoped try-lock: taken only if no session holds the holder's lock; released at commit.
    const [row] = await this.#prisma.$transaction([this.#prisma.$queryRaw<{ free: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext('hookwarden:holder'), hashtext(${holder})) AS free`]);
    return Boolean(row?.[0]?.free);
  }

  async takeOverLease(account: string, holder: string, ttlSeconds: number, from: { holder: string; token: bigint }): Promise<bigint | undefined> {
    const rows = await this.#prisma.$queryRaw<{ token: bigint }[]>`
      UPDATE account_lease SET holder = ${holder}, token = token + 1, "expiresAt" = now() + make_interval(secs => ${ttlSeconds}), "acquiredAt" = now(), "renewedAt" = now()
      WHERE account = ${account} AND holder = ${from.holder} AND token = ${from.token}
      RETURNING token`;
    return rows[0]?.token;
  }

  async extendLeases(holder: string, ttlSeconds: number): Promise<string[]> {
    const rows = await this.#prisma.$queryRaw<{ account: string }[]>`
      UPDATE account_lease SET "expiresAt" = now() + make_interval(secs => ${ttlSeconds}), "renewedAt" = now()
      WHERE holder = ${holder} AND "expiresAt" > now()
      RETURNING account`;
    return rows.map((r) => r.account);
  }

  async renewLease(account: string, holder: string, token: bigint, ttlSeconds: number): Promise<boolean> {
    const n = await this.#prisma.$executeRaw`
      UPDATE account_lease SET "expiresAt" = now() + make_interval(secs => ${ttlSeconds}), "renewedAt" = now()
      WHERE account = ${account} AND holder = ${holder} AND token = ${token} AND "expiresAt" > now()`;
    return n === 1;
  }

  async releaseLease(account: string, holder: string, token: bigint): Promise<void> {
    await this.#prisma.$executeRaw`UPDATE account_lease SET "expiresAt" = now() WHERE account = ${account} AND holder = ${holder} AND token = ${token} AND "expiresAt" > now()`;
  }

  async listLeases(): Promise<LeaseRow[]> {
    return this.#prisma.accountLease.findMany({ orderBy: { account: 'asc' } });
  }

  async openIntents(provider: string): Promise<Map<string, OpenIntent>> {
    // The latest create or recreate of each name, when it has only its intent row.
    // Served by the (provider, action, name, id) and actionId indexes: only creates and
    // recreates are read, never renewals. The earliest unresolved intent of each name counts,
    // even when a later call succeeded: a call cut short may still have landed. A call that
    // failed without a clear refusal (a timeout, a dropped connection, a 5xx, an unreadable
    // answer) is unresolved too: the provider may have made the subscription all the same.
    const rows = await this.#prisma.$queryRaw<{ name: string; first: Date; last: Date }[]>`
      SELECT name, min(at) AS first, max(at) AS last FROM history h
      WHERE provider = ${provider} AND action IN ('create', 'recreate') AND phase = 'intent' AND at > now() - interval '1 day'
        AND NOT EXISTS (
          SELECT 1 FROM history o WHERE o."actionId" = h."actionId" AND o.phase <> 'intent'
            AND (o.phase <> 'failed' OR o."errorCode" IS NULL OR o."errorCode" NOT IN ('PROVIDER_TIMEOUT', 'PROVIDER_NETWORK', 'PROVIDER_SERVER_ERROR', 'PROVIDER_BAD_RESPONSE', 'ERROR')))
      GROUP BY name`;
    return new Map(rows.map((r) => [r.name, { first: r.first, last: r.last }]));
  }

  async syncTargets(targets: TargetKey[], now: Date): Promise<RecordedTarget[]> {
    const existing = await this.#prisma.callbackTarget.findMany();
    const key = (t: { provider: string; url: string }) => `${t.provider}\u0000${t.url}`;
    const wanted = new Map(targets.map((t) => [key(t), t]));
    const gone = existing.filter((e) => !wanted.has(key(e))).map((e) => e.id);
    if (gone.length) await this.#prisma.callbackTarget.deleteMany({ where: { id: { in: gone } } });
    for (const t of targets) {
      const e = existing.find((x) => key(x) === key(t));
      if (!e) {
        // Concurrent replicas may insert the same target: the unique key keeps one.
        await this.#prisma.callbackTarget.createMany({ data: [{ id: randomUUID(), ...t, nextProbeAt: now }], skipDuplicates: true });
      } else if (e.name !== t.name || e.format !== t.format) {
        await this.#prisma.callbackTarget.update({ where: { id: e.id }, data: { name: t.name, format: t.format, version: { increment: 1 } } });
      }
    }
    return this.listTargets();
  }

  async listTargets(): Promise<RecordedTarget[]> {
    return this.#prisma.callbackTarget.findMany({ orderBy: [{ provider: 'asc' }, { name: 'asc' }] });
  }

  async findTarget(provider: string, url: string): Promise<RecordedTarget | undefined> {
    return (await this.#prisma.callbackTarget.findUnique({ where: { provider_url: { provider, url } } })) ?? undefined;
  }

  async updateTarget(id: string, version: number, patch: TargetPatch): Promise<RecordedTarget | null> {
    const res = await this.#prisma.callbackTarget.updateMany({ where: { id, version }, data: { ...patch, version: { increment: 1 }, updatedAt: new Date() } });
    if (res.count === 0) return null;
    return this.#prisma.callbackTarget.findUnique({ where: { id } });
  }

  async listDeliveries(provider?: string): Promise<DeliveryRecord[]> {
    const rows = await this.#prisma.deliveryStatus.findMany({ where: provider ? { provider } : {}, orderBy: [{ provider: 'asc' }, { name: 'asc' }, { event: 'asc' }] });
    return rows.map(({ id: _id, ...r }) => ({ ...r, kind: r.kind as DeliveryRecord['kind'] }));
  }

  async saveDelivery(d: DeliveryRecord): Promise<void> {
    await this.#prisma.deliveryStatus.upsert({
      where: { subscriptionId_event: { subscriptionId: d.subscriptionId, event: d.event } },
      create: { id: randomUUID(), ...d },
      update: d,
    });
  }

  async close(): Promise<void> {
    await this.#presence?.end().catch(() => {});
    this.#presence = undefined;
    await this.#prisma.$disconnect().catch(() => {});
    await this.#pool.end().catch(() => {});
  }
}

function toRecorded(r: Row): RecordedSubscription {
  return {
    id: r.id,
    provider: r.provider,
    name: r.name,
    kind: r.kind,
    remoteId: r.remoteId,
    previousRemoteId: r.previousRemoteId,
    status: r.status,
    state: r.state as SubscriptionState,
    owned: r.owned,
    desiredHash: r.desiredHash,
    expiresAt: r.expiresAt,
    lifetimeSeconds: r.lifetimeSeconds,
    lastRenewedAt: r.lastRenewedAt,
    lastObservedAt: r.lastObservedAt,
    nextCheckAt: r.nextCheckAt,
    failureCount: r.failureCount,
    lastError: r.lastError,
    lastErrorCode: r.lastErrorCode,
    presumedDisabledAt: r.presumedDisabledAt,
    version: r.version,
  };
}
