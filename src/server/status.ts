import type { RecordedSubscription, RecordedTarget } from '../domain/types.js';
import { displayUrl, scrubber } from '../lib/scrub.js';
import { healthOf } from '../policy/health.js';
import type { DeliveryRecord, HistoryEntry, Store } from '../store/types.js';

/** A subscription as `hookwarden status --json` and GET /status.json (or /status?format=json) show it. */
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

/** Which subscriptions deliver to which callback target (the config knows; Postgres does not). */
export interface CallbackLink {
  /** Provider account. */
  provider: string;
  /** The target's name (the first subscription using the URL). */
  name: string;
  /** Names of the subscriptions of that account delivering to it. */
  subscriptions: readonly string[];
}

/** A subscription's callback as the provider will judge it, with the cutoffs projected for it. */
export interface SubscriptionCallback {
  target: string;
  health: string;
  consecutiveFailures: number;
  unhealthySince: string | null;
  /** When the provider is projected to disable the subscription (AXP), and to delete it. */
  disableAt: string | null;
  deleteAt: string | null;
}

export interface LeaseStatus {
  provider: string;
  holder: string;
  held: boolean;
  expiresAt: string;
  since: string;
}

export type HistoryRow = Omit<HistoryEntry, 'at'> & { at: string };
export type DeliveryRow = ReturnType<typeof deliveryRow>;

export interface StatusDocument {
  /** The server's clock when the document was read: pages count down from it. */
  generatedAt: string;
  /**
   * `callback`: its target's health and cutoffs; null when its callback is not probed (probe:
   * false). Absent when the caller did not say which subscription uses which target.
   */
  subscriptions: (StatusRow & { callback?: SubscriptionCallback | null })[];
  leases: LeaseStatus[];
  targets: TargetRow[];
  deliveries: DeliveryRow[];
  history?: HistoryRow[];
}

/**
 * What Postgres records, as people and scripts see it. Every string passes through the
 * scrubber (rows written before it existed may hold a secret a provider echoed back).
 * With `callbacks`, each subscription carries its callback's health and projected cutoffs.
 */
export async function statusDocument(store: Store, now: Date, opts: { history?: number; callbacks?: readonly CallbackLink[] } = {}): Promise<StatusDocument> {
  const subs = await store.listSubscriptions();
  const targets = await store.listTargets();
  const deliveries = await store.listDeliveries();
  const history = opts.history ? await store.history({ limit: opts.history }) : [];
  const leases = await store.listLeases();
  const targetRows = targets.map((t) => targetRow(t, now));
  const callbackOf = opts.callbacks ? subscriptionCallbacks(targetRows, opts.callbacks) : undefined;
  const doc: StatusDocument = {
    generatedAt: now.toISOString(),
    subscriptions: subs.map((r) => (callbackOf ? { ...statusRow(r), callback: callbackOf(r.provider, r.name) } : statusRow(r))),
    // Which replica holds which account (it alone writes to that provider account), until when.
    leases: leases.map((l) => ({ provider: l.account, holder: l.holder, held: l.expiresAt > now, expiresAt: l.expiresAt.toISOString(), since: l.acquiredAt.toISOString() })),
    targets: targetRows,
    deliveries: deliveries.map(deliveryRow),
    ...(opts.history ? { history: history.map(historyRow) } : {}),
  };
  return scrubber.scrubValue(doc, STATUS_IDS);
}

/** (account, subscription) -> its callback target's row, through the config's links. */
function subscriptionCallbacks(targets: TargetRow[], links: readonly CallbackLink[]): (provider: string, name: string) => SubscriptionCallback | null {
  const byTarget = new Map(targets.map((t) => [`${t.provider}\u0000${t.name}`, t]));
  const bySub = new Map<string, TargetRow>();
  for (const l of links) {
    const t = byTarget.get(`${l.provider}\u0000${l.name}`);
    if (t) for (const s of l.subscriptions) bySub.set(`${l.provider}\u0000${s}`, t);
  }
  return (provider, name) => {
    const t = bySub.get(`${provider}\u0000${name}`);
    return t ? { target: t.name, health: t.health, consecutiveFailures: t.consecutiveFailures, unhealthySince: t.unhealthySince, disableAt: t.disableAt, deleteAt: t.deleteAt } : null;
  };
}

export function historyRow(h: HistoryEntry): HistoryRow {
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
