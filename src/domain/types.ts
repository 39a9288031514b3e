/**
 * The three kinds of state (desired, observed, recorded) and the actions plan() returns.
 * This module imports nothing: policy, reconcile, providers and store all speak it.
 */

/** How early to renew: a share of the lifetime the provider granted, or a fixed duration. */
export type RenewBefore = { percent: number } | { seconds: number };

/** Normalised, comparable description of a subscription; provider mappings produce it. */
export type Spec = Record<string, unknown>;

export interface DesiredSubscription {
  /** Provider account name from the config (labels, logs, status). */
  provider: string;
  kind: string;
  name: string;
  /** What the subscription should be, in the provider's terms (secrets included, never logged). */
  spec: Spec;
  /** Exact identity used to adopt an existing subscription (no secrets). */
  fingerprint: string;
  /** Looser identity (the callback URL) for adopting a subscription that drifted. */
  matchKey: string;
  renewBefore: RenewBefore;
  /** sha256 of the spec with secrets hashed: a config change re-enables rejected subscriptions. */
  hash: string;
}

export type ObservedStatus = 'ACTIVE' | 'INACTIVE' | 'PENDING';

export interface ObservedSubscription {
  remoteId: string;
  status: ObservedStatus;
  spec: Spec;
  fingerprint: string;
  matchKey: string;
  createdAt?: Date;
  expiresAt?: Date;
  /** Seconds left when the provider answered; right after a create or renew, the granted lifetime. */
  expiresIn?: number;
}

/** hookwarden's own one-word summary of a subscription, shown in status and metrics. */
export type SubscriptionState =
  | 'pending' // declared, not yet created
  | 'active' // bound and ACTIVE at the provider
  | 'inactive' // bound, INACTIVE at the provider
  | 'failing' // the last action failed; backing off
  | 'rejected' // the provider rejected the spec; waits for a config change
  | 'deleted'; // removed from the config and deleted at the provider

export interface RecordedSubscription {
  id: string;
  provider: string;
  name: string;
  kind: string;
  remoteId: string | null;
  previousRemoteId: string | null;
  status: string | null;
  state: SubscriptionState;
  owned: boolean;
  desiredHash: string | null;
  expiresAt: Date | null;
  lifetimeSeconds: number | null;
  lastRenewedAt: Date | null;
  lastObservedAt: Date | null;
  nextCheckAt: Date;
  failureCount: number;
  lastError: string | null;
  lastErrorCode: string | null;
  version: number;
}

export type ActionKind = 'create' | 'adopt' | 'renew' | 'update' | 'reactivate' | 'recreate' | 'delete' | 'none';

/** Stable reason codes: alert on them, grep for them, never reword them. */
export const Reason = {
  Missing: 'missing',
  FoundExisting: 'found-existing',
  LostAtProvider: 'lost-at-provider',
  Drift: 'drift',
  DriftNeedsRecreate: 'drift-needs-recreate',
  Inactive: 'inactive',
  RenewalDue: 'renewal-due',
  Expired: 'expired',
  LifetimeUnknown: 'lifetime-unknown',
  InSync: 'in-sync',
  Pending: 'pending-at-provider',
  BackingOff: 'backing-off',
  Rejected: 'rejected-until-config-changes',
  RemovedFromConfig: 'removed-from-config',
  MassDeleteRefused: 'mass-delete-refused',
  Duplicate: 'duplicate',
  Orphan: 'orphan',
  ProviderUnavailable: 'provider-unavailable',
} as const;
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

export interface Action {
  provider: string;
  name: string;
  action: ActionKind;
  reason: ReasonCode;
  message: string;
  /** The remote subscription acted on (renew, update, adopt, delete, recreate). */
  remoteId?: string;
  /** For update/recreate on drift: the names of the fields that differ (never their values). */
  changes?: string[];
}

export interface Orphan {
  provider: string;
  remoteId: string;
  matchKey: string;
  deleted: boolean;
}
