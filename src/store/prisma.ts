import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, Prisma } from '../generated/prisma/client.js';
import { randomUUID } from 'node:crypto';
import * as hot from './hot.js';
import type { OpenIntent, RecordedSubscription, RecordedTarget } from '../domain/types.js';
import type {
  CloseGaps, DeliveryRecord, DueAccount, GapCause, GapConfidence, GapFilter, GapRow, GapSubject, HistoryEntry, HookAttempt, HookState, LeaseRow, NewGap, NewSubscription, Store,
  SubscriptionGauge, SubscriptionPatch, TargetKey, TargetPatch,
} from './types.js';

type Row = Awaited<ReturnType<PrismaClient['subscription']['findFirstOrThrow']>>;
type GapModel = Awaited<ReturnType<PrismaClient['coverageGap']['findFirstOrThrow']>>;

/** Rows per query when every account's subscriptions are read (see listSubscriptions). */
const LIST_PAGE_ROWS = 1000;
const BY_NAME = [{ provider: 'asc' as const }, { name: 'asc' as const }];

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
    if (provider) return hot.accountSubscriptions(this.#pool, provider);
    // Every account's rows (the status page): read a page at a time. The client decodes a
    // result in one go; 10,000 rows held the event loop for about 100 ms.
    return this.#everyRow((page) => this.#prisma.subscription.findMany(page), toRecorded);
  }

  subscriptionGauges(): Promise<SubscriptionGauge[]> {
    return hot.subscriptionGauges(this.#pool, LIST_PAGE_ROWS);
  }

  /** Every subscription row, LIST_PAGE_ROWS a query (keyset on provider, name). */
  async #everyRow<R extends { provider: string; name: string }, T>(
    read: (page: { where: Prisma.SubscriptionWhereInput; orderBy: typeof BY_NAME; take: number }) => Promise<R[]>,
    map: (row: R) => T,
  ): Promise<T[]> {
    const out: T[] = [];
    let after: { provider: string; name: string } | undefined;
    for (;;) {
      const rows = await read({
        where: after ? { OR: [{ provider: { gt: after.provider } }, { provider: after.provider, name: { gt: after.name } }] } : {},
        orderBy: BY_NAME,
        take: LIST_PAGE_ROWS,
      });
      for (const r of rows) out.push(map(r));
      if (rows.length < LIST_PAGE_ROWS) return out;
      after = rows[rows.length - 1]!;
    }
  }

  // The hot path's statements go through pg directly (see hot.ts).
  insertSubscription(row: NewSubscription): Promise<RecordedSubscription | null> {
    return hot.insertSubscription(this.#pool, row);
  }

  updateSubscription(id: string, version: number, patch: SubscriptionPatch): Promise<RecordedSubscription | null> {
    return hot.updateSubscription(this.#pool, id, version, patch);
  }

  appendHistory(e: HistoryEntry): Promise<void> {
    return hot.appendHistory(this.#pool, e);
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
    const history = (await this.#prisma.history.deleteMany({ where: { at: { lt: before } } })).count;
    return history + (await this.pruneGaps(before));
  }

  async openGap(g: NewGap): Promise<GapRow> {
    const now = g.now ?? new Date();
    const remoteId = g.remoteId ?? null;
    const previousRemoteId = g.previousRemoteId ?? null;
    // One statement, so that replicas opening the same gap at once keep one row (the partial
    // unique index on open gaps). An open gap is written again only when this call tells it
    // something new: an earlier start, a remote id it lacked, a stronger confidence. Otherwise
    // nothing is returned here and the open row is read below.
    for (let i = 0; i < 3; i++) {
      const inserted = await this.#prisma.$queryRaw<GapModel[]>`
        INSERT INTO coverage_gap (id, provider, name, subject, "remoteId", "previousRemoteId", cause, confidence, "from", events, "openedAt", "updatedAt")
        VALUES (${randomUUID()}::uuid, ${g.provider}, ${g.name}, ${g.subject}, ${remoteId}::text, ${previousRemoteId}::text, ${g.cause}, ${g.confidence}, ${g.from}, ${g.events}::text[], ${now}, ${now})
        ON CONFLICT (provider, name, cause) WHERE "to" IS NULL DO UPDATE SET
          "from" = LEAST(coverage_gap."from", EXCLUDED."from"),
          "remoteId" = COALESCE(coverage_gap."remoteId", EXCLUDED."remoteId"),
          "previousRemoteId" = COALESCE(coverage_gap."previousRemoteId", EXCLUDED."previousRemoteId"),
          confidence = CASE WHEN array_position(${CONFIDENCE_RANK}::text[], EXCLUDED.confidence) > array_position(${CONFIDENCE_RANK}::text[], coverage_gap.confidence)
                            THEN EXCLUDED.confidence ELSE coverage_gap.confidence END,
          "updatedAt" = EXCLUDED."updatedAt"
        WHERE EXCLUDED."from" < coverage_gap."from"
           OR (coverage_gap."remoteId" IS NULL AND EXCLUDED."remoteId" IS NOT NULL)
           OR (coverage_gap."previousRemoteId" IS NULL AND EXCLUDED."previousRemoteId" IS NOT NULL)
           OR array_position(${CONFIDENCE_RANK}::text[], EXCLUDED.confidence) > array_position(${CONFIDENCE_RANK}::text[], coverage_gap.confidence)
        RETURNING *`;
      if (inserted[0]) return toGap(inserted[0]);
      const open = await this.#prisma.coverageGap.findFirst({ where: { provider: g.provider, name: g.name, cause: g.cause, to: null } });
      if (open) return toGap(open);
      // Closed between the two statements by another replica: open a new one.
    }
    throw new Error(`could not open the ${g.cause} gap of ${g.provider}/${g.name}: it kept closing concurrently`);
  }

  async closeGaps(provider: string, name: string, opts: CloseGaps): Promise<GapRow[]> {
    const now = opts.now ?? opts.to;
    const remoteId = opts.remoteId ?? null;
    const causes = opts.causes ?? null;
    // Conditional on the gap being open, so that each closed gap is returned to one caller only
    // (its hook is queued once). Every SET expression reads the row as it was: after a
    // recreation the old remote id becomes the previous one.
    const rows = await this.#prisma.$queryRaw<GapModel[]>`
      UPDATE coverage_gap SET
        "to" = GREATEST("from", ${opts.to}),
        "closedAt" = ${now},
        "updatedAt" = ${now},
        "previousRemoteId" = CASE WHEN ${remoteId}::text IS NOT NULL AND "remoteId" IS NOT NULL AND "remoteId" <> ${remoteId}::text THEN "remoteId" ELSE "previousRemoteId" END,
        "remoteId" = COALESCE(${remoteId}::text, "remoteId"),
        "hookState" = CASE WHEN ${opts.hook} THEN 'pending' ELSE "hookState" END,
        "hookNextAttemptAt" = CASE WHEN ${opts.hook} THEN ${now} ELSE "hookNextAttemptAt" END
      WHERE provider = ${provider} AND name = ${name} AND "to" IS NULL
        AND (${causes}::text[] IS NULL OR cause = ANY(${causes}::text[]))
      RETURNING *`;
    return rows.map(toGap).sort((a, b) => a.from.getTime() - b.from.getTime() || a.cause.localeCompare(b.cause));
  }

  async listGaps(opts: GapFilter = {}): Promise<GapRow[]> {
    const rows = await this.#prisma.coverageGap.findMany({
      where: {
        ...(opts.provider !== undefined ? { provider: opts.provider } : {}),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.open === true ? { to: null } : opts.open === false ? { to: { not: null } } : {}),
        ...(opts.since ? { OR: [{ to: null }, { to: { gte: opts.since } }] } : {}),
      },
      orderBy: [{ from: 'desc' }, { id: 'asc' }],
      ...(opts.limit !== undefined ? { take: opts.limit } : {}),
    });
    return rows.map(toGap);
  }

  async openGaps(): Promise<GapRow[]> {
    const rows = await this.#prisma.coverageGap.findMany({ where: { to: null }, orderBy: [{ provider: 'asc' }, { name: 'asc' }, { from: 'asc' }, { cause: 'asc' }] });
    return rows.map(toGap);
  }

  async dueHooks(now: Date, limit: number, claimSeconds = 60): Promise<GapRow[]> {
    if (limit <= 0) return [];
    const until = new Date(now.getTime() + claimSeconds * 1000);
    // SKIP LOCKED: replicas claiming at once take different rows.
    const rows = await this.#prisma.$queryRaw<GapModel[]>`
      UPDATE coverage_gap g SET "hookNextAttemptAt" = ${until}
      FROM (
        SELECT id FROM coverage_gap
        WHERE "hookState" = 'pending' AND "hookNextAttemptAt" <= ${now}
        ORDER BY "hookNextAttemptAt", id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) due
      WHERE g.id = due.id
      RETURNING g.*`;
    return rows.map(toGap).sort((a, b) => (a.closedAt?.getTime() ?? 0) - (b.closedAt?.getTime() ?? 0) || a.id.localeCompare(b.id));
  }

  async recordHookAttempt(id: string, r: HookAttempt): Promise<GapRow | undefined> {
    const common = { hookAttempts: { increment: 1 }, hookLastAttemptAt: r.at, hookLastStatus: r.status ?? null, updatedAt: r.at };
    const res = r.ok
      ? await this.#prisma.coverageGap.updateMany({
          where: { id },
          data: { ...common, hookState: 'delivered', hookLastError: null, hookDeliveredAt: r.at, hookNextAttemptAt: null },
        })
      : // A late failure (a duplicate send whose claim had expired) never undoes a delivery.
        await this.#prisma.coverageGap.updateMany({
          where: { id, hookState: { not: 'delivered' } },
          data: {
            ...common,
            hookLastError: r.error ?? 'failed',
            hookState: r.nextAttemptAt ? 'pending' : 'failed',
            hookNextAttemptAt: r.nextAttemptAt ?? null,
          },
        });
    if (res.count === 0) return undefined;
    const row = await this.#prisma.coverageGap.findUnique({ where: { id } });
    return row ? toGap(row) : undefined;
  }

  async requeueHook(id: string, now: Date): Promise<GapRow | undefined> {
    const res = await this.#prisma.coverageGap.updateMany({
      where: { id, to: { not: null } },
      data: { hookState: 'pending', hookNextAttemptAt: now, hookAttempts: 0, updatedAt: now },
    });
    if (res.count === 0) return undefined;
    const row = await this.#prisma.coverageGap.findUnique({ where: { id } });
    return row ? toGap(row) : undefined;
  }

  async pruneGaps(before: Date): Promise<number> {
    // A hook still being delivered keeps its gap, however old.
    return (await this.#prisma.coverageGap.deleteMany({ where: { closedAt: { lt: before }, to: { not: null }, hookState: { not: 'pending' } } })).count;
  }

  async markDue(provider: string, now: Date): Promise<void> {
    await this.#prisma.subscription.updateMany({ where: { provider, nextCheckAt: { gt: now }, state: { not: 'deleted' } }, data: { nextCheckAt: now } });
  }

  async dueProviders(now: Date): Promise<DueAccount[]> {
    const rows = await this.#prisma.subscription.groupBy({
      by: ['provider'],
      where: { nextCheckAt: { lte: now }, state: { not: 'deleted' } },
      _min: { nextCheckAt: true },
      orderBy: { _min: { nextCheckAt: 'asc' } },
    });
    return rows.map((r) => ({ provider: r.provider, since: r._min.nextCheckAt ?? now }));
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

  renewLease(account: string, holder: string, token: bigint, ttlSeconds: number): Promise<boolean> {
    return hot.renewLease(this.#pool, account, holder, token, ttlSeconds);
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
    // The first of several with the same key wins (as the unique key would keep it).
    const wanted = new Map<string, TargetKey>();
    for (const t of targets) if (!wanted.has(key(t))) wanted.set(key(t), t);
    const have = new Map(existing.map((e) => [key(e), e]));
    const gone = existing.filter((e) => !wanted.has(key(e))).map((e) => e.id);
    if (gone.length) await this.#prisma.callbackTarget.deleteMany({ where: { id: { in: gone } } });
    // New targets in one statement; concurrent replicas may insert the same one: the unique key keeps one.
    const missing = [...wanted.values()].filter((t) => !have.has(key(t)));
    if (missing.length) await this.#prisma.callbackTarget.createMany({ data: missing.map((t) => ({ id: randomUUID(), ...t, nextProbeAt: now })), skipDuplicates: true });
    for (const t of wanted.values()) {
      const e = have.get(key(t));
      if (e && (e.name !== t.name || e.format !== t.format)) {
        await this.#prisma.callbackTarget.update({ where: { id: e.id }, data: { name: t.name, format: t.format, version: { increment: 1 } } });
      }
    }
    return this.listTargets();
  }

  async listTargets(provider?: string): Promise<RecordedTarget[]> {
    return this.#prisma.callbackTarget.findMany({ ...(provider ? { where: { provider } } : {}), orderBy: [{ provider: 'asc' }, { name: 'asc' }] });
  }

  async findTarget(provider: string, url: string): Promise<RecordedTarget | undefined> {
    return (await this.#prisma.callbackTarget.findUnique({ where: { provider_url: { provider, url } } })) ?? undefined;
  }

  async updateTarget(id: string, version: number, patch: TargetPatch): Promise<RecordedTarget | null> {
    const [row] = await this.#prisma.callbackTarget.updateManyAndReturn({ where: { id, version }, data: { ...patch, version: { increment: 1 }, updatedAt: new Date() } });
    return row ?? null;
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

/** Confidence from weakest to strongest. */
const CONFIDENCE_RANK: GapConfidence[] = ['possible', 'presumed', 'certain'];

function toGap(r: GapModel): GapRow {
  return {
    id: r.id,
    provider: r.provider,
    name: r.name,
    subject: r.subject as GapSubject,
    remoteId: r.remoteId,
    previousRemoteId: r.previousRemoteId,
    cause: r.cause as GapCause,
    confidence: r.confidence as GapConfidence,
    from: r.from,
    to: r.to,
    events: r.events ?? [],
    openedAt: r.openedAt,
    closedAt: r.closedAt,
    updatedAt: r.updatedAt,
    hookState: r.hookState as HookState,
    hookAttempts: r.hookAttempts,
    hookNextAttemptAt: r.hookNextAttemptAt,
    hookLastAttemptAt: r.hookLastAttemptAt,
    hookLastStatus: r.hookLastStatus,
    hookLastError: r.hookLastError,
    hookDeliveredAt: r.hookDeliveredAt,
  };
}

const toRecorded = (r: Row): RecordedSubscription => hot.recorded(r);
