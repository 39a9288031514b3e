/**
 * Event-loop stalls of this process: a timer due every 50 ms that fires more than 250 ms late
 * means the loop was held (a long synchronous task, a garbage collection) for that long. The
 * bench process serves the sandboxes: a stall of its own delays the requests it stamps, so a
 * burst in a per-second count can be told from a burst of the daemon. instrument.mjs keeps the
 * same record inside the daemon.
 */
export interface Stall {
  /** When the loop stopped (ms since the epoch). */
  at: number;
  ms: number;
}

export function recordStalls(tickMs = 50, thresholdMs = 250): { stalls: Stall[]; stop(): void } {
  const stalls: Stall[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last - tickMs;
    if (late > thresholdMs) stalls.push({ at: Date.now() - (now - last), ms: Math.round(now - last) });
    last = now;
  }, tickMs);
  timer.unref();
  return { stalls, stop: () => clearInterval(timer) };
}

/** The stalls within [from, to): how many, their total and the longest, in seconds. */
export function stallsIn(stalls: Stall[], from: number, to: number): { count: number; totalSeconds: number; maxSeconds: number } {
  const s = stalls.filter((x) => x.at >= from && x.at < to);
  return { count: s.length, totalSeconds: Math.round(s.reduce((n, x) => n + x.ms, 0) / 100) / 10, maxSeconds: Math.round(Math.max(0, ...s.map((x) => x.ms)) / 100) / 10 };
}
