import type { HealthPolicy, ProbeResult, RecordedTarget, TargetHealth } from '../domain/types.js';

/**
 * Callback health, as the provider will judge it. A callback is unhealthy once
 * `unhealthyAfter` consecutive deliveries fail; hookwarden counts the unhealthy time from
 * the first failure of that streak (the earliest the provider may count from), so the
 * projected cutoffs are never later than the provider's own:
 *   disableAt = unhealthySince + disableAfter, deleteAt = disableAt + deleteAfter.
 */

export type TargetPatch = Partial<Omit<RecordedTarget, 'id' | 'provider' | 'url' | 'version'>>;

export function projections(unhealthySince: Date, policy: HealthPolicy): { disableAt: Date; deleteAt: Date } {
  const disableAt = new Date(unhealthySince.getTime() + policy.disableAfterSeconds * 1000);
  return { disableAt, deleteAt: new Date(disableAt.getTime() + policy.deleteAfterSeconds * 1000) };
}

/** What one probe (or one passive delivery signal) changes on the target. */
export function applyProbe(t: Pick<RecordedTarget, 'consecutiveFailures' | 'failingSince' | 'unhealthySince'>, r: ProbeResult, policy: HealthPolicy): TargetPatch {
  const base: TargetPatch = { lastProbeAt: r.at, lastLatencyMs: Math.round(r.latencyMs) };
  if (r.ok) {
    // One 200 within the timeout ends the streak: the provider counts the URL healthy again.
    return { ...base, consecutiveFailures: 0, failingSince: null, unhealthySince: null, disableAt: null, deleteAt: null, lastSuccessAt: r.at };
  }
  const failures = t.consecutiveFailures + 1;
  const failingSince = t.failingSince ?? r.at;
  const unhealthySince = t.unhealthySince ?? (failures >= policy.unhealthyAfter ? failingSince : null);
  return {
    ...base,
    consecutiveFailures: failures,
    failingSince,
    unhealthySince,
    ...(unhealthySince ? projections(unhealthySince, policy) : { disableAt: null, deleteAt: null }),
    lastFailureAt: r.at,
    lastFailureClass: r.failureClass ?? 'http-error',
    lastFailureReason: r.reason,
  };
}

/** Re-project with the current policy (the config may have changed since the row was written). */
export function reproject(t: RecordedTarget, policy: HealthPolicy): TargetPatch | undefined {
  if (!t.unhealthySince) return undefined;
  const p = projections(t.unhealthySince, policy);
  if (p.disableAt.getTime() === t.disableAt?.getTime() && p.deleteAt.getTime() === t.deleteAt?.getTime()) return undefined;
  return p;
}

export function healthOf(t: Pick<RecordedTarget, 'consecutiveFailures' | 'unhealthySince' | 'disableAt' | 'deleteAt' | 'lastProbeAt' | 'lastSuccessAt'> | undefined, now: Date): TargetHealth {
  if (!t || (!t.lastProbeAt && !t.lastSuccessAt)) return 'unknown';
  if (t.consecutiveFailures === 0) return 'healthy';
  if (!t.unhealthySince) return 'failing';
  if (t.deleteAt && now >= t.deleteAt) return 'presumed-deleted';
  if (t.disableAt && now >= t.disableAt) return 'presumed-disabled';
  return 'unhealthy';
}
