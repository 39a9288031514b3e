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
