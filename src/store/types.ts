import type { OpenIntent, RecordedSubscription, RecordedTarget } from '../domain/types.js';

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

/** What Postgres remembers. The Prisma implementation is the only place that imports @prisma/client. */
export interface Store extends LeaseStore {
  /** A round trip to the database on a connection of its own, with a short timeout; throws when it is unreachable. */
  ping(): Promise<void>;
  listSubscriptions(provider?: string): Promise<RecordedSubscription[]>;
  /** null when a row for (provider, name) already exists (another replica was first). */
  insertSubscription(row: NewSubscription): Promise<RecordedSubscription | null>;
  /** Conditional on the row version: null when someone else wrote it first. */
  updateSubscription(id: string, version: number, patch: SubscriptionPatch): Promise<RecordedSubscription | null>;
  appendHistory(entry: HistoryEntry): Promise<void>;
  history(filter?: { provider?: string; name?: string; limit?: number }): Promise<HistoryEntry[]>;
  /** Retention: deletes history rows older than `before`; returns how many. */
  pruneHistory(before: Date): Promise<number>;
  /**
   * Makes every live subscription of the account due now, without moving row versions: the
   * replica that holds the account (maybe another one) looks at it on its next wake-up.
   */
  markDue(provider: string, now: Date): Promise<void>;
  /** Provider accounts with a subscription whose nextCheckAt has come, most overdue first. */
  dueProviders(now: Date): Promise<string[]>;
  /** Names of the account with a create or recreate journalled as intended and no outcome recorded (in the last day), and the earliest such intent. */
  openIntents(provider: string): Promise<Map<string, OpenIntent>>;
  /** Makes the recorded targets match the config: new ones are inserted (due at once), others forgotten. */
  syncTargets(targets: TargetKey[], now: Date): Promise<RecordedTarget[]>;
  listTargets(): Promise<RecordedTarget[]>;
  findTarget(provider: string, url: string): Promise<RecordedTarget | undefined>;
  /** Conditional on the row version, like updateSubscription. */
  updateTarget(id: string, version: number, patch: TargetPatch): Promise<RecordedTarget | null>;
  listDeliveries(provider?: string): Promise<DeliveryRecord[]>;
  /** Inserts or replaces the record of (subscriptionId, event). */
  saveDelivery(d: DeliveryRecord): Promise<void>;
  close(): Promise<void>;
}
