import type { RecordedSubscription } from '../domain/types.js';
import type { HistoryEntry, Store } from '../store/types.js';

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

export async function statusDocument(store: Store, opts: { history?: number } = {}) {
  const subs = await store.listSubscriptions();
  const history = opts.history ? await store.history({ limit: opts.history }) : [];
  return {
    subscriptions: subs.map(statusRow),
    ...(opts.history ? { history: history.map(historyRow) } : {}),
  };
}

export function historyRow(h: HistoryEntry) {
  return { ...h, at: h.at.toISOString() };
}
