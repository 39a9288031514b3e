import { scrubber, type Scrubber } from '../lib/scrub.js';
import type { Store } from './types.js';

/**
 * Fields that identify a row or hold a code: written exactly as given. A secret could
 * only appear there by accident (a short secret inside a random id), and scrubbing an id
 * would lose the subscription it names.
 */
const IDENTITY = new Set([
  'id', 'provider', 'kind', 'remoteId', 'previousRemoteId', 'desiredHash', 'state', 'status',
  'lastErrorCode', 'actionId', 'action', 'reason', 'phase', 'errorCode', 'subscriptionId', 'event',
  'url', 'format', 'lastFailureClass',
]);
/** …and the subscription's name, which is its key at (provider, name). */
const SUBSCRIPTION_IDENTITY = new Set([...IDENTITY, 'name']);
/** A coverage gap is known by (provider, name, cause); its codes and event names are kept too. */
const GAP_IDENTITY = new Set([...SUBSCRIPTION_IDENTITY, 'subject', 'cause', 'causes', 'confidence', 'events']);

/**
 * The store as the rest of the process uses it: every string written (error texts, history
 * messages, delivery responses, target failure reasons and signals, target names, backfill
 * hook errors) goes through the scrubber first, so a secret a provider echoed back never
 * reaches Postgres.
 * Reads and every other method are delegated untouched.
 */
export function scrubStore(store: Store, s: Scrubber = scrubber): Store {
  const writes: Partial<Store> = {
    insertSubscription: (row) => store.insertSubscription(s.scrubValue(row, SUBSCRIPTION_IDENTITY)),
    updateSubscription: (id, version, patch) => store.updateSubscription(id, version, s.scrubValue(patch, SUBSCRIPTION_IDENTITY)),
    appendHistory: (entry) => store.appendHistory(s.scrubValue(entry, SUBSCRIPTION_IDENTITY)),
    // A target is known by (provider, url): only its display name is scrubbed.
    syncTargets: (targets, now) => store.syncTargets(s.scrubValue(targets, IDENTITY), now),
    updateTarget: (id, version, patch) => store.updateTarget(id, version, s.scrubValue(patch, IDENTITY)),
    saveDelivery: (d) => store.saveDelivery(s.scrubValue(d, SUBSCRIPTION_IDENTITY)),
    openGap: (g) => store.openGap(s.scrubValue(g, GAP_IDENTITY)),
    closeGaps: (provider, name, opts) => store.closeGaps(provider, name, s.scrubValue(opts, GAP_IDENTITY)),
    // What a backfill hook answered, or why it could not be reached.
    recordHookAttempt: (id, r) => store.recordHookAttempt(id, s.scrubValue(r, GAP_IDENTITY)),
  };
  return new Proxy(store, {
    get(target, prop) {
      if (Object.hasOwn(writes, prop)) return writes[prop as keyof Store];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
