import { performance } from 'node:perf_hooks';
import type { SendWindow } from '../lib/send-window.js';
import type { LeaseStore } from './types.js';

/**
 * The lease is gone (another replica took the account over, or it expired while this
 * process was paused), or it could not be checked (the database is unreachable). Either
 * way the pass stops before its next provider write.
 */
export class FencedError extends Error {
  override readonly name = 'FencedError';
  readonly code = 'FENCED';
}

/**
 * One replica's hold on one provider account, proven before each provider write.
 * `assert()` extends the lease in Postgres only if this holder still has this token and the
 * lease has not expired by Postgres' clock: a replica stopped with SIGSTOP past its lease
 * (its heartbeat stopped with it), or cut off from the database, cannot write when it
 * resumes. What no lease can close is the moment between the check and the request leaving
 * the process; the check is made immediately before each call to keep it to that.
 */
export class AccountLease implements SendWindow {
  /** Until when (monotonic ms) a request may leave: the last proof's start + TTL, less a margin. */
  #sendableUntil: number;

  /**
   * @param provenAt monotonic time (ms) at which the query that took the lease was sent: the
   *   lease runs from a moment after it, by Postgres' clock.
   * @param monotonic a clock that keeps counting while the process is stopped (CLOCK_MONOTONIC).
   */
  constructor(
    private readonly store: LeaseStore,
    readonly account: string,
    readonly holder: string,
    readonly token: bigint,
    private readonly ttlSeconds: number,
    provenAt: number,
    private readonly monotonic: () => number = () => performance.now(),
  ) {
    this.#sendableUntil = this.#until(provenAt);
  }

  /** Throws FencedError unless this replica still holds the account; extends the lease. */
  async assert(): Promise<void> {
    const sentAt = this.monotonic();
    let held: boolean;
    try {
      held = await this.store.renewLease(this.account, this.holder, this.token, this.ttlSeconds);
    } catch (err) {
      throw new FencedError(`cannot confirm the lease on ${this.account}: ${(err as Error).message}`, { cause: err });
    }
    if (!held) {
      this.lost();
      throw new FencedError(`the lease on ${this.account} was lost (expired, or taken over by another replica)`);
    }
    this.proven(sentAt);
  }

  /** The lease was extended by a query sent at `sentAt` (monotonic ms): the heartbeat, a write's proof. */
  proven(sentAt: number): void {
    this.#sendableUntil = Math.max(this.#sendableUntil, this.#until(sentAt));
  }

  /** The lease is known gone: nothing more may be sent under it. */
  lost(): void {
    this.#sendableUntil = Number.NEGATIVE_INFINITY;
  }

  /**
   * A margin of a tenth of the TTL (at most 5 s) is kept for the request's way to the
   * provider, so a write sent in the window lands before another replica can take over.
   */
  #until(sentAt: number): number {
    const ttl = this.ttlSeconds * 1000;
    return sentAt + ttl - Math.min(5000, ttl / 10);
  }

  open(): boolean {
    return this.monotonic() < this.#sendableUntil;
  }

  refuse(): Error {
    return new FencedError(`the lease on ${this.account} may have expired before the request could leave (the process was paused or slowed); nothing was sent`);
  }

  release(): Promise<void> {
    return this.store.releaseLease(this.account, this.holder, this.token);
  }
}
