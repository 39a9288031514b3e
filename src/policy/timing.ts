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

/**
 * The first renewal after hookwarden made a subscription comes at a point of its first
 * renewal cycle set by its name: between a quarter of the way and the usual renewal time.
 * Subscriptions made together (a first start, a mass recreation) then renew spread over the
 * cycle instead of all in the same minute, and every later renewal keeps that phase (each
 * lands renewBefore ahead of its expiry). The cost is one early renewal per subscription made.
 *
 * `from` moves the start of that span later: after a renewal that came late (policy/next.ts
 * respreads) the next one is spread between half a lifetime after it and the usual time, so
 * that no renewal follows another of the same subscription within half a lifetime.
 */
export function firstRenewalAt(madeAt: Date, expiresAt: Date, lifetimeSeconds: number, rb: RenewBefore, key: string, from: Date | null = null): Date {
  const usual = renewAt(expiresAt, lifetimeSeconds, rb, key);
  const cycle = usual.getTime() - madeAt.getTime();
  if (cycle <= 0) return usual;
  const start = Math.max(madeAt.getTime() + cycle * 0.25, from?.getTime() ?? Number.NEGATIVE_INFINITY);
  if (start >= usual.getTime()) return usual;
  const at = start + (usual.getTime() - start) * phase(key);
  return new Date(Math.min(usual.getTime(), Math.ceil(at / 1000) * 1000));
}

/** How a subscription's next renewal is spread, if it is (see firstRenewalAt). */
export interface Spread {
  /** The create, or the late renewal, the spread cycle starts from. */
  madeAt: Date | null;
  /** No earlier than this (after a late renewal); null after a create. */
  from?: Date | null;
}

/** A row's spread, if its next renewal is spread. */
export function spreadOf(r: { firstRenewalPending: boolean; lastRenewedAt: Date | null; spreadFrom: Date | null }): Spread | undefined {
  return r.firstRenewalPending ? { madeAt: r.lastRenewedAt, from: r.spreadFrom } : undefined;
}

/**
 * A stable fraction in [0, 1) from the name: FNV-1a (apart from the jitter's) with
 * MurmurHash3's finaliser, without which names that differ in one digit bunch together.
 */
function phase(key: string): number {
  let h = 2166136261;
  const k = `phase:${key}`;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 16777619) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/**
 * When a bound subscription is due for renewal: its first renewal spread (see
 * firstRenewalAt), else renewBefore ahead of expiry. The first renewal is spread only while
 * the expiry is still the one its creation was granted: an expiry later than that means it
 * was renewed already (by a replica that died before recording it).
 */
export function dueAt(expiresAt: Date, lifetimeSeconds: number, rb: RenewBefore, key: string, first?: Spread): Date {
  const stillFirst = first?.madeAt && expiresAt.getTime() <= first.madeAt.getTime() + (lifetimeSeconds + 2) * 1000;
  return stillFirst ? firstRenewalAt(first.madeAt!, expiresAt, lifetimeSeconds, rb, key, first.from ?? null) : renewAt(expiresAt, lifetimeSeconds, rb, key);
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
