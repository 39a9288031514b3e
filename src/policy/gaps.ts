import { backoffSeconds } from './timing.js';

/**
 * Coverage gaps: windows in which a subscription's events may not have reached its callback.
 * Pure: rows and `now` in, windows, durations and retry times out.
 */

/** From weakest to strongest. */
export const CONFIDENCES = ['possible', 'presumed', 'certain'] as const;
export type Confidence = (typeof CONFIDENCES)[number];

/** What these functions need of a recorded gap (the store's GapRow has it). */
export interface GapLike {
  id: string;
  provider: string;
  name: string;
  cause: string;
  confidence: Confidence;
  from: Date;
  /** null while open. */
  to: Date | null;
  events?: readonly string[];
}

/** Overlapping gaps of one subscription seen as one window. */
export interface GapWindow {
  provider: string;
  name: string;
  from: Date;
  /** null while any of its gaps is open. */
  to: Date | null;
  /** The causes of its gaps, in order of first appearance, each once. */
  causes: string[];
  /** The strongest confidence among its gaps. */
  confidence: Confidence;
  /** The declared events of its gaps, each once. */
  events: string[];
  /** Its gaps, by start. */
  gapIds: string[];
}

export function strongerConfidence(a: Confidence, b: Confidence): Confidence {
  return CONFIDENCES.indexOf(a) >= CONFIDENCES.indexOf(b) ? a : b;
}

/**
 * Merges the gaps of each (provider, name) whose windows overlap or touch (one ends when the
 * next starts) into one window. An open gap runs on: it absorbs every gap that starts after
 * it, and its window stays open. Windows come out by provider, name, then start.
 */
export function mergeWindows(gaps: readonly GapLike[]): GapWindow[] {
  const sorted = [...gaps].sort(
    (a, b) =>
      cmp(a.provider, b.provider) ||
      cmp(a.name, b.name) ||
      a.from.getTime() - b.from.getTime() ||
      // At the same start the open or longer one first, so that it absorbs the other.
      end(b) - end(a) ||
      cmp(a.cause, b.cause),
  );
  const out: GapWindow[] = [];
  let cur: GapWindow | undefined;
  for (const g of sorted) {
    const sameSubject = cur !== undefined && cur.provider === g.provider && cur.name === g.name;
    // Touching counts: a gap that starts the instant another ends leaves no covered moment between them.
    if (cur && sameSubject && (cur.to === null || g.from.getTime() <= cur.to.getTime())) {
      if (cur.to !== null) cur.to = g.to === null ? null : g.to > cur.to ? g.to : cur.to;
      if (!cur.causes.includes(g.cause)) cur.causes.push(g.cause);
      cur.confidence = strongerConfidence(cur.confidence, g.confidence);
      for (const e of g.events ?? []) if (!cur.events.includes(e)) cur.events.push(e);
      cur.gapIds.push(g.id);
      continue;
    }
    cur = { provider: g.provider, name: g.name, from: g.from, to: g.to, causes: [g.cause], confidence: g.confidence, events: [...new Set(g.events ?? [])], gapIds: [g.id] };
    out.push(cur);
  }
  return out;
}

/** How long a gap (or a merged window) lasted, in seconds (to `now` while open); never negative. */
export function gapSeconds(g: { from: Date; to: Date | null }, now: Date): number {
  const endMs = (g.to ?? now).getTime();
  return Math.max(0, endMs - g.from.getTime()) / 1000;
}

/** Backfill hook retries: 5 s base, doubling, at most 10 minutes apart. */
export const HOOK_BACKOFF = { baseSeconds: 5, capSeconds: 600 } as const;

/**
 * When to try a backfill hook again after `attempts` failed attempts: exponential backoff with
 * full jitter (a uniform delay up to min(10 min, 5 s × 2^(attempts−1))), with the shared
 * half-second floor. `rand01` is uniform in [0, 1), injected so this stays pure. No expiry
 * bounds it: a hook that stays down is tried every 10 minutes at most, forever.
 */
export function hookRetryAt(attempts: number, now: Date, rand01: number): Date {
  const delay = backoffSeconds(Math.max(1, attempts), rand01, undefined, HOOK_BACKOFF);
  return new Date(now.getTime() + Math.round(delay * 1000));
}

function end(g: { to: Date | null }): number {
  return g.to === null ? Number.POSITIVE_INFINITY : g.to.getTime();
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The events a subscription declares, as the consumer asked for them: AXP Digital's and
 * Dixa's event names, or Infinity's and AXP Notification's `family/event` pairs.
 */
export function declaredEvents(spec: Readonly<Record<string, unknown>>): string[] {
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);
  const events = [...list(spec.events), ...list(spec.eventTypes)];
  const families = list(spec.family);
  if (!families.length) return [...new Set(events)].sort();
  return families.flatMap((f) => (events.length ? events.map((e) => `${f}/${e}`) : [f])).sort();
}

/** What one planned action says about a subscription's coverage. */
export interface ActionGaps {
  /** Gaps this action's situation opens (at the best-known start), whatever its outcome. */
  open: { cause: string; confidence: Confidence; from: Date }[];
  /** Causes closed when the action succeeds (its end is when events can flow again). */
  closeOnSuccess: string[];
}

export interface ActionGapInput {
  action: 'create' | 'adopt' | 'renew' | 'update' | 'reactivate' | 'recreate' | 'delete' | 'none';
  reason: string;
  /** `none` actions: what they record (presumed-disabled opens a gap). */
  record?: string;
  /** The recorded row before the action. */
  row?: { remoteId: string | null; expiresAt: Date | null; lastObservedAt: Date | null; status: string | null; presumedDisabledAt: Date | null };
  /** As listed this pass. */
  observed?: { status: string; expiresAt?: Date };
  /** Its callback target's projections. */
  target?: { disableAt: Date | null; deleteAt: Date | null };
  now: Date;
}

/** Every cause a subscription's own state can give; a recreate or create ends them all. */
export const SUBSCRIPTION_CAUSES = ['expired', 'inactive', 'disabled', 'presumed-disabled', 'lost', 'deleted-by-provider', 'recreating'];

const earliest = (...ds: (Date | null | undefined)[]): Date | undefined => {
  const ts = ds.filter((d): d is Date => d instanceof Date).map((d) => d.getTime());
  return ts.length ? new Date(Math.min(...ts)) : undefined;
};

/**
 * Which gaps a planned action opens and closes (pure). A gap opens at the best-known start,
 * not when it was noticed: an expiry at the expiry, a presumed disable at the projected
 * disable time, a lost subscription when it was last seen. What ends it is the action's
 * success: a renewal or re-enable, a recreate, a create.
 */
export function actionGaps(i: ActionGapInput): ActionGaps {
  const { now, row, observed, target } = i;
  const open: ActionGaps['open'] = [];
  const lastSeen = row?.lastObservedAt ?? now;
  const expiry = earliest(observed?.expiresAt, row?.expiresAt);
  const expired = expiry !== undefined && expiry.getTime() <= now.getTime();
  const lost = (): ActionGaps['open'][number] => {
    const deleted = target?.deleteAt && target.deleteAt.getTime() <= now.getTime();
    return deleted ? { cause: 'deleted-by-provider', confidence: 'presumed', from: earliest(target?.deleteAt, lastSeen)! } : { cause: 'lost', confidence: 'certain', from: lastSeen };
  };
  const disabled = (): ActionGaps['open'][number] => ({ cause: 'disabled', confidence: 'certain', from: row && row.status !== 'DISABLED' ? lastSeen : now });
  const presumedDisabled = (): ActionGaps['open'][number] => ({ cause: 'presumed-disabled', confidence: 'presumed', from: earliest(target?.disableAt, row?.presumedDisabledAt) ?? now });
  switch (i.reason) {
    case 'callback-unhealthy':
      // Waiting for the callback before acting: the gap is the one of the situation waited on.
      if (row?.presumedDisabledAt) open.push(presumedDisabled());
      else if (observed?.status === 'DISABLED') open.push(disabled());
      else if (!observed && row?.remoteId) open.push(lost());
      break;
    case 'expired':
      open.push({ cause: 'expired', confidence: 'certain', from: expiry && expired ? expiry : now });
      break;
    case 'inactive':
      if (expired) open.push({ cause: 'expired', confidence: 'certain', from: expiry });
      // Deactivated before its expiry: since it was last seen active, as far as anyone knows.
      else open.push({ cause: 'inactive', confidence: 'certain', from: row && row.status !== 'INACTIVE' ? lastSeen : now });
      break;
    case 'disabled-at-provider':
      open.push(disabled());
      break;
    case 'presumed-disabled':
      if (i.action === 'none' && i.record !== 'presumed-disabled') break;
      open.push(presumedDisabled());
      break;
    case 'lost-at-provider':
      open.push(lost());
      break;
    case 'drift-needs-recreate':
      // Deleted, then created again: nothing is subscribed in between.
      if (i.action === 'recreate') open.push({ cause: 'recreating', confidence: 'certain', from: now });
      break;
  }
  let closeOnSuccess: string[] = [];
  if (i.action === 'renew' || i.action === 'reactivate') closeOnSuccess = ['expired', 'inactive', 'disabled'];
  else if (i.action === 'recreate' || i.action === 'create' || i.action === 'adopt') closeOnSuccess = SUBSCRIPTION_CAUSES;
  return { open, closeOnSuccess };
}
