import type { OpenIntent, RecordedSubscription, RecordedTarget, SubscriptionState } from '../domain/types.js';

export type NewSubscription = Pick<RecordedSubscription, 'id' | 'provider' | 'name' | 'kind' | 'state' | 'nextCheckAt'> &
  Partial<Omit<RecordedSubscription, 'id' | 'provider' | 'name' | 'kind' | 'state' | 'nextCheckAt' | 'version'>>;

export type SubscriptionPatch = Partial<Omit<RecordedSubscription, 'id' | 'provider' | 'name' | 'version'>>;

export type TargetPatch = Partial<Omit<RecordedTarget, 'id' | 'provider' | 'url' | 'version'>>;

export interface TargetKey {
  provider: string;
  name: string;
  url: string;
  format: string;
}

/** The last delivery of one event of one subscription, as the provider reports it. */
export interface DeliveryRecord {
  subscriptionId: string;
  provider: string;
  name: string;
  event: string;
  kind: 'delivered' | 'none';
  deliveredAt: Date | null;
  success: boolean | null;
  responseCode: number | null;
  responseText: string | null;
  lastFailureAt: Date | null;
  lastFailureCode: number | null;
  lastFailureText: string | null;
  logsCheckedFor: Date | null;
  polledAt: Date;
}

export type HistoryPhase = 'intent' | 'succeeded' | 'failed' | 'skipped';

export interface HistoryEntry {
  at: Date;
  actionId: string;
  provider: string;
  name: string;
  action: string;
  reason: string;
  message: string;
  phase: HistoryPhase;
  remoteId?: string | null;
  previousRemoteId?: string | null;
  errorCode?: string | null;
  error?: string | null;
}

/** A replica's hold on a provider account (see lease.ts). */
export interface LeaseRow {
  account: string;
  holder: string;
  token: bigint;
  expiresAt: Date;
  acquiredAt: Date;
  renewedAt: Date;
}

/** Leases, timed by Postgres' clock. */
export interface LeaseStore {
  /** Takes the account when it is free or expired (or already this holder's): the new fencing token, else undefined. */
  acquireLease(account: string, holder: string, ttlSeconds: number): Promise<bigint | undefined>;
  /** Extends the lease only while this holder still has it with this token and it has not expired. */
  renewLease(account: string, holder: string, token: bigint, ttlSeconds: number): Promise<boolean>;
  /**
   * Announces this holder as alive for as long as this process keeps its database session (a
   * session advisory lock on a connection of its own). Called again, it re-establishes the
   * announcement if the connection was lost. Resolves true while it is in place.
   */
  announce(holder: string): Promise<boolean>;
  /** True when no live session announces this holder: its process died (or lost its database connection). */
  holderAbsent(holder: string): Promise<boolean>;
  /** Takes the account from a holder found absent, if that holder still has it with that token: the new token, else undefined. */
  takeOverLease(account: string, holder: string, ttlSeconds: number, from: { holder: string; token: bigint }): Promise<bigint | undefined>;
  /** Extends every unexpired lease of this holder (the heartbeat); returns the accounts still held. */
  extendLeases(holder: string, ttlSeconds: number): Promise<string[]>;
  /** Lets the account go at once (another replica may take it on its next wake-up). */
  releaseLease(account: string, holder: string, token: bigint): Promise<void>;
  listLeases(): Promise<LeaseRow[]>;
}

/** Why events may not have reached a callback (see CoverageGap in prisma/schema.prisma). */
export const GAP_CAUSES = [
  'expired', 'inactive', 'disabled', 'presumed-disabled', 'lost', 'deleted-by-provider', 'recreating', 'callback-failing', 'deliveries-failing',
] as const;
export type GapCause = (typeof GAP_CAUSES)[number];
/** certain: the provider said so; presumed: hookwarden projects it; possible: only the callback side failed. */
export type GapConfidence = 'certain' | 'presumed' | 'possible';
/** A declared subscription, or a watch-only callback target. */
export type GapSubject = 'subscription' | 'target';
/** The backfill hook of a gap: none (no hook), pending (to send or retry), delivered, failed (given up). */
export type HookState = 'none' | 'pending' | 'delivered' | 'failed';

/** One recorded coverage gap: a window in which a subscription's events may not have reached its callback. */
export interface GapRow {
  /** Stable: the idempotency key of the backfill hook. */
  id: string;
  provider: string;
  name: string;
  subject: GapSubject;
  remoteId: string | null;
  previousRemoteId: string | null;
  cause: GapCause;
  confidence: GapConfidence;
  from: Date;
  /** null while the gap is open. */
  to: Date | null;
  events: string[];
  openedAt: Date;
  closedAt: Date | null;
  updatedAt: Date;
  hookState: HookState;
  hookAttempts: number;
  hookNextAttemptAt: Date | null;
  hookLastAttemptAt: Date | null;
  hookLastStatus: number | null;
  hookLastError: string | null;
  hookDeliveredAt: Date | null;
}

export interface NewGap {
  provider: string;
  name: string;
  subject: GapSubject;
  cause: GapCause;
  confidence: GapConfidence;
  from: Date;
  remoteId?: string | null;
  previousRemoteId?: string | null;
  events: string[];
  /** When hookwarden notices it (openedAt); the time of the call when omitted. */
  now?: Date;
}

export interface CloseGaps {
  /** The causes that ended; every open cause of the subscription when omitted. */
  causes?: GapCause[];
  /** The end of the window; never before its start (clamped to `from`). */
  to: Date;
  /** The remote id the subscription has now (after a recreation the old one becomes previousRemoteId). */
  remoteId?: string;
  /** A backfill hook is configured for this subscription: queue it (pending, due at once). */
  hook: boolean;
  /** When hookwarden closes it (closedAt, and when the hook is first due); `to` when omitted. */
  now?: Date;
}

export interface GapFilter {
  /** Gaps still open or that ended at or after this time. */
  since?: Date;
  /** true: only open gaps; false: only closed ones. */
  open?: boolean;
  provider?: string;
  name?: string;
  limit?: number;
}

/** The outcome of one delivery attempt of a backfill hook. */
export interface HookAttempt {
  at: Date;
  ok: boolean;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** Why it failed, without any secret. */
  error?: string;
  /** When to try again; a failure without it gives up (hookState failed). */
  nextAttemptAt?: Date;
}

/** Coverage gaps and the queue of their backfill hooks. */
export interface GapStore {
  /**
   * Records that a window opened. Idempotent: when a gap of the same (provider, name, cause) is
   * open, that one is returned (its `from` moved earlier if this one starts earlier, a missing
   * remote id filled in, its confidence raised if this one is stronger), never a second one,
   * even when replicas open it at once.
   */
  openGap(g: NewGap): Promise<GapRow>;
  /** Closes the matching open gaps of (provider, name) and returns them; each closed gap is returned to one caller only. */
  closeGaps(provider: string, name: string, opts: CloseGaps): Promise<GapRow[]>;
  /** Newest first (by `from`). */
  listGaps(opts?: GapFilter): Promise<GapRow[]>;
  /** Every open gap, by provider, name and start. */
  openGaps(): Promise<GapRow[]>;
  /**
   * Claims up to `limit` backfill hooks that are due (pending, next attempt at or before `now`),
   * oldest first: their next attempt moves `claimSeconds` ahead, so that another replica does
   * not send them at the same time, and a sender that dies leaves them due again after that.
   */
  dueHooks(now: Date, limit: number, claimSeconds?: number): Promise<GapRow[]>;
  /** Records one delivery attempt; a delivered hook stays delivered. */
  recordHookAttempt(id: string, r: HookAttempt): Promise<GapRow | undefined>;
  /** Sends the hook of a closed gap again (`gaps --replay`): pending, due at `now`, attempts counted afresh. Undefined when no closed gap has this id. */
  requeueHook(id: string, now: Date): Promise<GapRow | undefined>;
  /** Retention: deletes gaps closed before `before`, except those whose hook is still pending; returns how many. */
  pruneGaps(before: Date): Promise<number>;
}

/**
 * What /metrics shows of a subscription row: a scrape reads every row, and the last rows read
 * are kept to answer while the database is away, so only what a gauge reads (times in
 * milliseconds since the epoch).
 */
export interface SubscriptionGauge {
  provider: string;
  name: string;
  state: SubscriptionState;
  expiresAt: number | null;
  nextCheckAt: number | null;
  lastRenewedAt: number | null;
  failureCount: number;
}

/** What Postgres remembers. The Prisma implementation is the only place that imports @prisma/client. */
/** An account with due rows, and since when the oldest of them is due. */
export interface DueAccount {
  provider: string;
  since: Date;
}

export interface Store extends LeaseStore, GapStore {
  /** A round trip to the database on a connection of its own, with a short timeout; throws when it is unreachable. */
  ping(): Promise<void>;
  listSubscriptions(provider?: string): Promise<RecordedSubscription[]>;
  /** Every account's subscriptions as /metrics shows them (only the columns its gauges read). */
  subscriptionGauges(): Promise<SubscriptionGauge[]>;
  /** null when a row for (provider, name) already exists (another replica was first). */
  insertSubscription(row: NewSubscription): Promise<RecordedSubscription | null>;
  /** Conditional on the row version: null when someone else wrote it first. */
  updateSubscription(id: string, version: number, patch: SubscriptionPatch): Promise<RecordedSubscription | null>;
  appendHistory(entry: HistoryEntry): Promise<void>;
  history(filter?: { provider?: string; name?: string; limit?: number }): Promise<HistoryEntry[]>;
  /** Retention: deletes history rows older than `before`, and coverage gaps closed before it (pruneGaps); returns how many rows. */
  pruneHistory(before: Date): Promise<number>;
  /**
   * Makes every live subscription of the account due now, without moving row versions: the
   * replica that holds the account (maybe another one) looks at it on its next wake-up.
   */
  markDue(provider: string, now: Date): Promise<void>;
  /**
   * Provider accounts with a subscription whose nextCheckAt has come, most overdue first,
   * each with its oldest due time (the scheduler merges them with accounts made due by time).
   */
  dueProviders(now: Date): Promise<DueAccount[]>;
  /** Names of the account with a create or recreate journalled as intended and no outcome recorded (in the last day), and the earliest such intent. */
  openIntents(provider: string): Promise<Map<string, OpenIntent>>;
  /** Makes the recorded targets match the config: new ones are inserted (due at once), others forgotten. */
  syncTargets(targets: TargetKey[], now: Date): Promise<RecordedTarget[]>;
  /** Callback targets, of one account when given. */
  listTargets(provider?: string): Promise<RecordedTarget[]>;
  findTarget(provider: string, url: string): Promise<RecordedTarget | undefined>;
  /** Conditional on the row version, like updateSubscription. */
  updateTarget(id: string, version: number, patch: TargetPatch): Promise<RecordedTarget | null>;
  listDeliveries(provider?: string): Promise<DeliveryRecord[]>;
  /** Inserts or replaces the record of (subscriptionId, event). */
  saveDelivery(d: DeliveryRecord): Promise<void>;
  close(): Promise<void>;
}
