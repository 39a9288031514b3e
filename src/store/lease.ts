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
export class AccountLease {
  constructor(
    private readonly store: LeaseStore,
    readonly account: string,
    readonly holder: string,
    readonly token: bigint,
    private readonly ttlSeconds: number,
  ) {}

  /** Throws FencedError unless this replica still holds the account; extends the lease. */
  async assert(): Promise<void> {
    let held: boolean;
    try {
      held = await this.store.renewLease(this.account, this.holder, this.token, this.ttlSeconds);
    } catch (err) {
      throw new FencedError(`cannot confirm the lease on ${this.account}: ${(err as Error).message}`, { cause: err });
    }
    if (!held) throw new FencedError(`the lease on ${this.account} was lost (expired, or taken over by another replica)`);
  }

  release(): Promise<void> {
    return this.store.releaseLease(this.account, this.holder, this.token);
  }
}
