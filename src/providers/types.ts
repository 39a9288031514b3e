import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import type { DeliveryLogEntry, DeliveryStatus, DesiredSubscription, ObservedSubscription, RenewBefore } from '../domain/types.js';
import type { Metrics } from '../lib/metrics.js';
import type { ProviderCapabilities } from '../policy/plan.js';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';

/**
 * Every provider sits behind this interface (cert-manager's issuers): the reconciler knows
 * nothing else of it. Calls throw ProviderError; delete of an id that is already gone succeeds.
 */
export interface Provider {
  readonly kind: string;
  readonly account: string;
  readonly capabilities: ProviderCapabilities;
  /** Every subscription of the account (all pages). */
  list(signal?: AbortSignal): Promise<ObservedSubscription[]>;
  get(remoteId: string, signal?: AbortSignal): Promise<ObservedSubscription | undefined>;
  create(d: DesiredSubscription, signal?: AbortSignal): Promise<ObservedSubscription>;
  update(remoteId: string, d: DesiredSubscription, signal?: AbortSignal): Promise<ObservedSubscription>;
  renew(remoteId: string, d: DesiredSubscription, signal?: AbortSignal): Promise<ObservedSubscription>;
  delete(remoteId: string, signal?: AbortSignal): Promise<void>;
  /** Providers that report their own deliveries (Dixa): the latest delivery per subscribed event. */
  deliveryStatus?(remoteId: string, signal?: AbortSignal): Promise<DeliveryStatus[]>;
  /** …and the recent delivery log of one event, newest first, payloads left out. */
  deliveryLogs?(remoteId: string, event: string, signal?: AbortSignal): Promise<DeliveryLogEntry[]>;
  /** A secret the provider generated for the subscription (Dixa's signing key), for `hookwarden show-secret` only. */
  secret?(remoteId: string, signal?: AbortSignal): Promise<string | undefined>;
}

export interface ProviderDeps {
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
}

export interface SubscriptionDefaults {
  renewBefore: RenewBefore;
}

/** What a provider kind registers: its config schemas, how config becomes Desired, and a factory. */
export interface ProviderKind<Account extends { kind: string } = any, Sub = any> {
  kind: string;
  accountSchema: z.ZodType<Account>;
  subscriptionSchema: z.ZodType<Sub>;
  toDesired(account: string, acc: Account, sub: Sub, defaults: SubscriptionDefaults): DesiredSubscription;
  create(account: string, acc: Account, deps: ProviderDeps): Provider;
  /** Config keys holding secrets (redacted from logs and status). */
  secretKeys: string[];
}
