import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient, Prisma } from '../generated/prisma/client.js';
import { randomUUID } from 'node:crypto';
import type { RecordedSubscription, RecordedTarget, SubscriptionState } from '../domain/types.js';
import type { DeliveryRecord, HistoryEntry, NewSubscription, Store, SubscriptionPatch, TargetKey, TargetPatch } from './types.js';

type Row = Awaited<ReturnType<PrismaClient['subscription']['findFirstOrThrow']>>;

export class PrismaStore implements Store {
  readonly #prisma: PrismaClient;
  readonly #leasePool: pg.Pool;

  constructor(databaseUrl: string) {
    this.#prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: 10 }) });
    // Session advisory locks need the same connection for lock and unlock: a pool of
    // dedicated clients, each held for the whole pass it guards.
    this.#leasePool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
    this.#leasePool.on('error', () => {});
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

  async dueProviders(now: Date): Promise<string[]> {
    const rows = await this.#prisma.subscription.groupBy({
      by: ['provider'],
      where: { nextCheckAt: { lte: now }, state: { not: 'deleted' } },
      _min: { nextCheckAt: true },
      orderBy: { _min: { nextCheckAt: 'asc' } },
    });
    return rows.map((r) => r.provider);
  }

  async withAccountLease<T>(account: string, fn: () => Promise<T>): Promise<{ ran: true; value: T } | { ran: false }> {
    const client = await this.#leasePool.connect();
    let locked = false;
    try {
      const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtext('hookwarden:account'), hashtext($1)) AS ok", [account]);
      locked = Boolean(r.rows[0]?.ok);
      if (!locked) return { ran: false };
      return { ran: true, value: await fn() };
    } finally {
      if (locked) await client.query("SELECT pg_advisory_unlock(hashtext('hookwarden:account'), hashtext($1))", [account]).catch(() => {});
      client.release();
    }
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
    await Promise.allSettled([this.#prisma.$disconnect(), this.#leasePool.end()]);
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
