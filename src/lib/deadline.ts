import { setMaxListeners } from 'node:events';

/**
 * A signal that aborts when `parent` does or after `ms`, and lets go of both when disposed.
 * `AbortSignal.any([parent, AbortSignal.timeout(ms)])` keeps each derived signal, and
 * whatever listens to it, reachable from a long-lived parent until its timer fires: at
 * thousands of passes and requests a minute that held hundreds of MB. Dispose as soon as
 * the operation has ended (a finally block).
 */
export interface Deadline {
  readonly signal: AbortSignal;
  /** Whether the time ran out (not the parent's abort). */
  readonly timedOut: boolean;
  dispose(): void;
}

export function deadline(ms: number, parent?: AbortSignal): Deadline {
  const c = new AbortController();
  // A pass's signal is listened to by each of its requests, rate-limiter waits and retry
  // sleeps under way (up to defaults.actionConcurrency of each), every listener removed when
  // its operation ends: Node's warning at 11 ("possible memory leak") would be a false alarm.
  setMaxListeners(0, c.signal);
  let timedOut = false;
  const onAbort = () => c.abort(parent?.reason);
  let timer: NodeJS.Timeout | undefined;
  if (parent?.aborted) c.abort(parent.reason);
  else {
    parent?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => {
      timedOut = true;
      c.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
    }, Math.max(0, Math.min(2 ** 31 - 1, Math.round(ms))));
    timer.unref();
  }
  return {
    signal: c.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      if (timer) clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    },
  };
}
