import { AsyncLocalStorage } from 'node:async_hooks';
import type { Dispatcher } from 'undici';

/**
 * The window in which a provider write may still leave this process. A lease proven in
 * Postgres says who held the account at that moment; a process paused right after the proof
 * (SIGSTOP, a frozen VM, a long GC) would otherwise send its write when it resumes, after
 * another replica took the account over. The window closes when the lease, as last proven,
 * may have expired; the dispatcher checks it immediately before each attempt leaves, retries
 * included, and refuses to send once it has closed.
 */
export interface SendWindow {
  /** Whether a request may still be sent now. */
  open(): boolean;
  /** The error a refused request fails with (nothing was sent). */
  refuse(): Error;
}

const current = new AsyncLocalStorage<SendWindow>();
const WINDOW = Symbol('hookwarden.sendWindow');
const NOT_SENT = Symbol('hookwarden.notSent');

/** Runs `fn` with its provider requests bound to `window`. */
export function withinSendWindow<R>(window: SendWindow, fn: () => Promise<R>): Promise<R> {
  return current.run(window, fn);
}

/** True for the error of a request refused before it left: it certainly changed nothing. */
export function notSent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as Record<symbol, unknown>)[NOT_SENT] === true;
}

/**
 * Outermost interceptor: binds the request to the window of the call that made it. The
 * request is dispatched synchronously from its caller, so the async context is the caller's;
 * retries later run from socket callbacks, whose context is not, hence the options carry it.
 */
export function captureSendWindow(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const window = current.getStore();
    return dispatch(window ? ({ ...options, [WINDOW]: window } as typeof options) : options, handler);
  };
}

/** Innermost interceptor: refuses an attempt whose window has closed. */
export function checkSendWindow(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const window = (options as unknown as Record<symbol, unknown>)[WINDOW] as SendWindow | undefined;
    if (window && !window.open()) {
      const err = window.refuse();
      (err as unknown as Record<symbol, unknown>)[NOT_SENT] = true;
      throw err;
    }
    return dispatch(options, handler);
  };
}
