import type { Clock } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';
import { gapSeconds } from '../policy/gaps.js';
import type { GapCause, GapConfidence, GapRow, GapSubject, Store } from '../store/types.js';

export interface GapRecorderDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Whether a backfill hook is configured for this subscription or target (its gaps, once closed, are sent). */
  hookFor: (provider: string, name: string) => boolean;
}

export interface GapOpening {
  provider: string;
  name: string;
  subject: GapSubject;
  cause: string;
  confidence: GapConfidence;
  from: Date;
  remoteId?: string | null;
  events: string[];
}

/**
 * Writes the coverage-gap ledger for the reconciler, the prober and the delivery poller.
 * Opening is idempotent (one open gap per subscription and cause; an earlier start wins), so
 * every pass may say again what it sees. The ledger serves the consumer, not the renewals:
 * a failure to write it is logged and never stops a pass (the next pass says it again, and
 * the sweep closes what a lost write left open).
 */
export class GapRecorder {
  constructor(private deps: GapRecorderDeps) {}

  /** A reloaded config: which subscriptions have a hook. */
  setHookFor(hookFor: GapRecorderDeps['hookFor']): void {
    this.deps = { ...this.deps, hookFor };
  }

  async open(g: GapOpening): Promise<GapRow | undefined> {
    try {
      const now = this.deps.clock.now();
      const row = await this.deps.store.openGap({ ...g, cause: g.cause as GapCause, now });
      // Opened by this call (an open gap already there keeps its own opening time).
      if (row.openedAt.getTime() === now.getTime()) {
        this.deps.logger.warn(
          { provider: g.provider, [g.subject === 'target' ? 'target' : 'subscription']: g.name, cause: g.cause, confidence: g.confidence, from: row.from.toISOString(), gap: row.id },
          `coverage gap opened for ${g.name}: ${g.cause} since ${row.from.toISOString()}`,
        );
      }
      return row;
    } catch (err) {
      this.deps.logger.error({ provider: g.provider, subscription: g.name, cause: g.cause, err: errorMessage(err) }, 'recording a coverage gap failed; the next pass records it again');
      return undefined;
    }
  }

  /** Closes the open gaps of a subscription (those causes, or all): events flow again from `to`. */
  async close(provider: string, name: string, o: { causes?: readonly string[]; to: Date; remoteId?: string | null }): Promise<GapRow[]> {
    let closed: GapRow[];
    try {
      closed = await this.deps.store.closeGaps(provider, name, {
        ...(o.causes ? { causes: o.causes as GapCause[] } : {}),
        to: o.to,
        ...(o.remoteId ? { remoteId: o.remoteId } : {}),
        hook: this.deps.hookFor(provider, name),
        now: this.deps.clock.now(),
      });
    } catch (err) {
      this.deps.logger.error({ provider, subscription: name, err: errorMessage(err) }, 'closing a coverage gap failed; the next pass closes it');
      return [];
    }
    for (const g of closed) {
      const seconds = gapSeconds(g, g.to ?? o.to);
      this.deps.metrics.gapClosed(g.provider, g.cause, seconds);
      this.deps.logger.info(
        { provider, [g.subject === 'target' ? 'target' : 'subscription']: name, cause: g.cause, confidence: g.confidence, from: g.from.toISOString(), to: g.to?.toISOString(), seconds, gap: g.id },
        `coverage gap closed for ${name}: ${g.cause} from ${g.from.toISOString()} to ${g.to?.toISOString()} (${Math.round(seconds)} s)`,
      );
    }
    return closed;
  }

  /** Open gaps of one account (for the sweep). */
  async openOf(provider: string): Promise<GapRow[]> {
    try {
      return (await this.deps.store.openGaps()).filter((g) => g.provider === provider);
    } catch (err) {
      this.deps.logger.error({ provider, err: errorMessage(err) }, 'reading open coverage gaps failed');
      return [];
    }
  }
}
