import { gapDocument, type GapDocument } from '../hooks/gap-hook.js';
import type { RecordedSubscription, RecordedTarget } from '../domain/types.js';
import { displayUrl, scrubber } from '../lib/scrub.js';
import { gapSeconds, mergeWindows } from '../policy/gaps.js';
import { healthOf } from '../policy/health.js';
import type { DeliveryRecord, GapRow, HistoryEntry, Store } from '../store/types.js';

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
const STATUS_IDS = new Set(['remoteId', 'previousRemoteId', 'actionId', 'id', 'gapIds']);

/** The backfill hook of one gap, as recorded. */
export interface GapHookStatus {
  /** none (no hook configured when it closed, or still open), pending (to send or retry), delivered, failed (given up). */
  state: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
}

/** One recorded coverage gap, as `hookwarden gaps --json` and /status.json show it: the hook's document plus its delivery. */
export type GapJson = Omit<GapDocument, 'causes'> & { hook: GapHookStatus };

/** Overlapping or touching gaps of one subscription, merged. */
export interface GapWindowJson {
  provider: string;
  name: string;
  from: string;
  to: string | null;
  seconds: number;
  causes: string[];
  confidence: string;
  events: string[];
  gapIds: string[];
}

/** Gaps, and their merged windows, newest first. */
export interface GapsDocument {
  gaps: GapJson[];
  windows: GapWindowJson[];
}

/** The gaps section of the status document: those open, and those that ended since `since`. */
export interface GapsStatus extends GapsDocument {
  since: string;
  /** How many are open now. */
  open: number;
}

/** How far back /status and `hookwarden status` look for closed gaps. */
export const STATUS_GAP_DAYS = 7;
/** At most this many gaps are read for the status document. */
const STATUS_GAP_ROWS = 1000;

export function gapJson(g: GapRow, now: Date): GapJson {
  return {
    ...gapDocument(g, { now }),
    seconds: roundSeconds(gapSeconds(g, now)),
    hook: {
      state: g.hookState,
      attempts: g.hookAttempts,
      nextAttemptAt: g.hookState === 'pending' ? iso(g.hookNextAttemptAt) : null,
      lastAttemptAt: iso(g.hookLastAttemptAt),
      lastStatus: g.hookLastStatus,
      lastError: g.hookLastError,
      deliveredAt: iso(g.hookDeliveredAt),
    },
  };
}

/** Rows and merged windows, both newest first (by start). */
export function gapsDocument(rows: readonly GapRow[], now: Date): GapsDocument {
  const newestFirst = <T extends { from: Date; provider: string; name: string }>(a: T, b: T) =>
    b.from.getTime() - a.from.getTime() || a.provider.localeCompare(b.provider) || a.name.localeCompare(b.name);
  return {
    gaps: [...rows].sort((a, b) => newestFirst(a, b) || a.cause.localeCompare(b.cause)).map((g) => gapJson(g, now)),
    windows: mergeWindows(rows)
      .sort(newestFirst)
      .map((w) => ({
        provider: w.provider,
        name: w.name,
        from: w.from.toISOString(),
        to: iso(w.to),
        seconds: roundSeconds(gapSeconds(w, now)),
        causes: w.causes,
        confidence: w.confidence,
        events: w.events,
        gapIds: w.gapIds,
      })),
  };
}

/** Milliseconds kept, nothing finer (durations are computed from Date values). */
const roundSeconds = (s: number) => Math.round(s * 1000) / 1000;

/** The gaps open now and those that ended in the last STATUS_GAP_DAYS days. */
export async function gapsStatus(store: Pick<Store, 'listGaps'>, now: Date): Promise<GapsStatus> {
  const since = new Date(now.getTime() - STATUS_GAP_DAYS * 86400_000);
  const rows = await store.listGaps({ since, limit: STATUS_GAP_ROWS });
  return { since: since.toISOString(), open: rows.filter((g) => g.to === null).length, ...gapsDocument(rows, now) };
}

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
  /** Coverage gaps: those open, and those that ended in the last 7 days, with their hooks' state and merged windows. */
  gaps?: GapsStatus;
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
  const gaps = await gapsStatus(store, now);
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
    gaps,
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
