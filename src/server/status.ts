import type { RecordedSubscription, RecordedTarget } from '../domain/types.js';
import { displayUrl, scrubber } from '../lib/scrub.js';
import { healthOf } from '../policy/health.js';
import type { DeliveryRecord, HistoryEntry, Store } from '../store/types.js';

/** The status document shared by `hookwarden status --json` and GET /status?format=json. */
export interface StatusRow {
  provider: string;
  name: string;
  kind: string;
  remoteId: string | null;
  previousRemoteId: string | null;
  state: string;
  status: string | null;
  expiresAt: string | null;
  nextCheckAt: string;
  lastRenewedAt: string | null;
  failureCount: number;
  lastError: string | null;
  lastErrorCode: string | null;
}

export function statusRow(r: RecordedSubscription): StatusRow {
  return {
    provider: r.provider,
    name: r.name,
    kind: r.kind,
    remoteId: r.remoteId,
    previousRemoteId: r.previousRemoteId,
    state: r.state,
    status: r.status,
    expiresAt: r.expiresAt?.toISOString() ?? null,
    nextCheckAt: r.nextCheckAt.toISOString(),
    lastRenewedAt: r.lastRenewedAt?.toISOString() ?? null,
    failureCount: r.failureCount,
    lastError: r.lastError,
    lastErrorCode: r.lastErrorCode,
  };
}

export interface TargetRow {
  provider: string;
  name: string;
  /** Scheme, host and path; no userinfo, and a query string shown as "?…" (it may carry a secret). */
  url: string;
  format: string;
  health: string;
  consecutiveFailures: number;
  unhealthySince: string | null;
  disableAt: string | null;
  deleteAt: string | null;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastFailureClass: string | null;
  lastFailureReason: string | null;
  lastLatencyMs: number | null;
  lastProbeAt: string | null;
  nextProbeAt: string;
  lastSignal: string | null;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function targetRow(t: RecordedTarget, now: Date): TargetRow {
  return {
    provider: t.provider,
    name: t.name,
    url: displayUrl(t.url),
    format: t.format,
    health: healthOf(t, now),
    consecutiveFailures: t.consecutiveFailures,
    unhealthySince: iso(t.unhealthySince),
    disableAt: iso(t.disableAt),
    deleteAt: iso(t.deleteAt),
    lastSuccessAt: iso(t.lastSuccessAt),
    lastFailureAt: iso(t.lastFailureAt),
    lastFailureClass: t.lastFailureClass,
    lastFailureReason: t.lastFailureReason,
    lastLatencyMs: t.lastLatencyMs,
    lastProbeAt: iso(t.lastProbeAt),
    nextProbeAt: t.nextProbeAt.toISOString(),
    lastSignal: t.lastSignal,
  };
}

/** Identifiers left as they are in the status document; every other string is scrubbed. */
const STATUS_IDS = new Set(['remoteId', 'previousRemoteId', 'actionId']);

/**
 * What Postgres records, as people and scripts see it. Every string passes through the
 * scrubber (rows written before it existed may hold a secret a provider echoed back).
 */
export async function statusDocument(store: Store, now: Date, opts: { history?: number } = {}) {
  const subs = await store.listSubscriptions();
  const targets = await store.listTargets();
  const deliveries = await store.listDeliveries();
  const history = opts.history ? await store.history({ limit: opts.history }) : [];
  const leases = await store.listLeases();
  return scrubber.scrubValue(
    {
      subscriptions: subs.map(statusRow),
      // Which replica holds which account (it alone writes to that provider account), until when.
      leases: leases.map((l) => ({ provider: l.account, holder: l.holder, held: l.expiresAt > now, expiresAt: l.expiresAt.toISOString(), since: l.acquiredAt.toISOString() })),
      targets: targets.map((t) => targetRow(t, now)),
      deliveries: deliveries.map(deliveryRow),
      ...(opts.history ? { history: history.map(historyRow) } : {}),
    },
    STATUS_IDS,
  );
}

export function historyRow(h: HistoryEntry) {
  return { ...h, at: h.at.toISOString() };
}

export function deliveryRow(d: DeliveryRecord) {
  return {
    provider: d.provider,
    name: d.name,
    event: d.event,
    kind: d.kind,
    deliveredAt: iso(d.deliveredAt),
    success: d.success,
    responseCode: d.responseCode,
    responseText: d.responseText,
    lastFailureAt: iso(d.lastFailureAt),
    lastFailureCode: d.lastFailureCode,
    lastFailureText: d.lastFailureText,
    polledAt: d.polledAt.toISOString(),
  };
}
