import type { RenewBefore } from '../domain/types.js';

/**
 * Renewal timing, computed from whole seconds (cert-manager's renewBefore):
 * renew at expiresAt - renewBefore - jitter.
 */

/** How many seconds before expiry to renew, given the lifetime the provider granted. */
export function renewBeforeSeconds(rb: RenewBefore, lifetimeSeconds: number): number {
  const lifetime = Math.max(1, Math.floor(lifetimeSeconds));
  const wanted = 'percent' in rb ? Math.floor((lifetime * rb.percent) / 100) : Math.floor(rb.seconds);
  // Never renew sooner than 1 s after the grant, nor later than 1 s before expiry.
  return Math.min(Math.max(wanted, 1), Math.max(lifetime - 1, 1));
}

/**
 * A stable per-subscription jitter of up to a tenth of renewBefore (60 s at most), so that
 * subscriptions created together do not all renew in the same second. Derived from the
 * name, so plan() stays a pure function and a restart keeps the same schedule.
 */
export function jitterSeconds(key: string, renewBefore: number): number {
  const span = Math.min(Math.floor(renewBefore / 10), 60);
  if (span <= 0) return 0;
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
  return h % (span + 1);
}

export function renewAt(expiresAt: Date, lifetimeSeconds: number, rb: RenewBefore, key: string): Date {
  const before = renewBeforeSeconds(rb, lifetimeSeconds);
  const expiresSec = Math.floor(expiresAt.getTime() / 1000);
  return new Date((expiresSec - before - jitterSeconds(key, before)) * 1000);
}

export interface BackoffOptions {
  baseSeconds: number;
  capSeconds: number;
}

export const defaultBackoff: BackoffOptions = { baseSeconds: 1, capSeconds: 300 };

/**
 * Exponential backoff with full jitter (AWS architecture blog): a uniform delay in
 * [0, min(cap, base * 2^(failures-1))]. `rand01` is injected so this stays pure.
 * When the subscription expires in `secondsToExpiry`, the delay is capped at half of that,
 * so a retry always lands before expiry.
 */
export function backoffSeconds(
  failures: number,
  rand01: number,
  secondsToExpiry: number | undefined,
  opts: BackoffOptions = defaultBackoff,
): number {
  const exp = Math.min(opts.capSeconds, opts.baseSeconds * 2 ** Math.max(0, failures - 1));
  let delay = rand01 * exp;
  if (secondsToExpiry !== undefined && secondsToExpiry > 0) delay = Math.min(delay, secondsToExpiry / 2);
  // A floor keeps a run of unlucky draws from hammering the provider.
  return Math.max(delay, 0.5);
}
