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
  /** Where it delivers; absent for providers whose callbacks hookwarden cannot probe. */
  callback?: CallbackSpec;
  /** sha256 of the spec with secrets hashed: a config change re-enables rejected subscriptions. */
  hash: string;
}

/** DISABLED is only ever seen when a provider volunteers it (AXP Digital shows no such field). */
export type ObservedStatus = 'ACTIVE' | 'INACTIVE' | 'PENDING' | 'DISABLED';

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
  | 'disabled' // presumed disabled by the provider (callback unhealthy past the cutoff)
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
  /** Set when its callback stayed unhealthy past the provider's disable cutoff: recreate once it recovers. */
  presumedDisabledAt: Date | null;
  /** Made by hookwarden and not renewed since: its first renewal is spread over the cycle (policy/timing.ts firstRenewalAt). */
  firstRenewalPending: boolean;
  /**
   * With firstRenewalPending, after a renewal that came late (policy/next.ts respreads): the
   * spread renewal comes no earlier than this, half a lifetime after the late one. Null
   * after a create: its spread starts a quarter of the way into the cycle.
   */
  spreadFrom: Date | null;
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
  OutcomeUnknown: 'outcome-unknown',
  BackingOff: 'backing-off',
  Rejected: 'rejected-until-config-changes',
  RemovedFromConfig: 'removed-from-config',
  MassDeleteRefused: 'mass-delete-refused',
  Duplicate: 'duplicate',
  Orphan: 'orphan',
  PresumedDisabled: 'presumed-disabled',
  DisabledAtProvider: 'disabled-at-provider',
  CallbackUnhealthy: 'callback-unhealthy',
} as const;
export type ReasonCode = (typeof Reason)[keyof typeof Reason];

interface ActionBase {
  provider: string;
  name: string;
  reason: ReasonCode;
  message: string;
  /** The remote subscription acted on (renew, update, adopt, delete, recreate). */
  remoteId?: string;
  /** For update/recreate on drift: the names of the fields that differ (never their values). */
  changes?: string[];
}

/**
 * What plan() asks for, each kind carrying what execution needs: the executor switches on
 * `action` only and never on the reason, which is a label for people, metrics and alerts.
 */
export type Action =
  /** Nothing to call. `record`: write the observation (in sync, pending), or that the provider has presumably disabled it. */
  | (ActionBase & { action: 'none'; record?: 'observation' | 'presumed-disabled' })
  | (ActionBase & { action: 'create' })
  | (ActionBase & { action: 'adopt' | 'renew' | 'reactivate' | 'update'; remoteId: string })
  /**
   * Delete (when `deleteFirst`) and create again. `confirmGone`: the listing no longer shows
   * the old id; ask for it by id first, and bind it again if the provider still has it.
   */
  | (ActionBase & { action: 'recreate'; deleteFirst: boolean; confirmGone: boolean })
  /** `rowless`: a duplicate, orphan or replaced subscription with no row of its own; otherwise the row is marked deleted. */
  | (ActionBase & { action: 'delete'; rowless: boolean });

/** Creates and recreates of one name whose outcome is unknown (cut short, or failed without a clear refusal): the first and the latest. */
export interface OpenIntent {
  first: Date;
  last: Date;
}

export interface Orphan {
  provider: string;
  remoteId: string;
  matchKey: string;
  deleted: boolean;
}

/** The payload formats a callback probe can speak: the provider that delivers to the URL. */
export const PROBE_FORMATS = ['infinity', 'axp-digital', 'axp-notification', 'dixa', 'mycontactcenter'] as const;
export type ProbeFormat = (typeof PROBE_FORMATS)[number];

/** `unknown`: an event type the provider does not define (the default); `sample`: a realistic event of a defined type. */
export type ProbeEvent = 'unknown' | 'sample';

/** Where a subscription delivers, and how to probe it. Headers may hold secrets (never logged or stored). */
export interface CallbackSpec {
  url: string;
  method: 'POST' | 'PUT';
  format: ProbeFormat;
  headers: Record<string, string>;
  probe: { enabled: boolean; event: ProbeEvent };
}

/** When a provider disables and deletes subscriptions whose callback keeps failing (AXP's published policy by default). */
export interface HealthPolicy {
  /** Consecutive failures that make a callback unhealthy. */
  unhealthyAfter: number;
  disableAfterSeconds: number;
  deleteAfterSeconds: number;
}

export const AXP_POLICY: HealthPolicy = { unhealthyAfter: 3, disableAfterSeconds: 8 * 3600, deleteAfterSeconds: 7 * 86400 };

/** One callback URL to watch: shared by every subscription of an account that delivers there, or declared watch-only. */
export interface TargetSpec {
  /** Provider account, or "watch" for watch-only targets. */
  provider: string;
  /** Label for metrics and status: the watch entry's name, or the first subscription using the URL. */
  name: string;
  url: string;
  method: 'POST' | 'PUT';
  format: ProbeFormat;
  headers: Record<string, string>;
  event: ProbeEvent;
  everySeconds: number;
  timeoutSeconds: number;
  policy: HealthPolicy;
  /** Subscriptions (names) delivering to it; empty for watch-only targets. */
  subscriptions: string[];
}

export type FailureClass = 'timeout' | 'connection-refused' | 'connection-reset' | 'dns' | 'tls' | 'network' | 'unavailable' | 'http-error';

export interface ProbeResult {
  at: Date;
  ok: boolean;
  status?: number;
  failureClass?: FailureClass;
  reason: string;
  latencyMs: number;
}

export interface RecordedTarget {
  id: string;
  provider: string;
  name: string;
  url: string;
  format: string;
  consecutiveFailures: number;
  /** First failure of the current streak. */
  failingSince: Date | null;
  /** Set once the streak reaches unhealthyAfter; equals failingSince (the earliest the provider may count from). */
  unhealthySince: Date | null;
  disableAt: Date | null;
  deleteAt: Date | null;
  lastSuccessAt: Date | null;
  lastFailureAt: Date | null;
  lastFailureClass: string | null;
  lastFailureReason: string | null;
  lastLatencyMs: number | null;
  lastProbeAt: Date | null;
  nextProbeAt: Date;
  /** The last passive signal (a provider's own account of delivery, INACTIVE, vanished). */
  lastSignal: string | null;
  lastSignalAt: Date | null;
  version: number;
}

export type TargetHealth = 'unknown' | 'healthy' | 'failing' | 'unhealthy' | 'presumed-disabled' | 'presumed-deleted';

/** A provider's own account of its last delivery of one event type (Dixa's delivery-status). */
export interface DeliveryStatus {
  event: string;
  /** `none`: the provider has no recent delivery to report. */
  kind: 'delivered' | 'none';
  at?: Date;
  success?: boolean;
  responseCode?: number;
  responseText?: string;
}

/** One entry of a provider's delivery log, without the payload (it holds customer data). */
export interface DeliveryLogEntry {
  at: Date;
  success: boolean;
  responseCode: number;
  responseText: string;
}
