import { normalUrl as normalUrlOf } from '../../config/common.js';
import type { DesiredSubscription, ObservedSubscription, Spec } from '../../domain/types.js';
import { canonicalJson, sha256 } from '../../lib/hash.js';
import type { SubscriptionDefaults } from '../types.js';
import type { InfinitySubscriptionConfig } from './config.js';
import type { CreateSubscriptionBody, WireSubscription, WireTransport } from '../avaya-common/wire.js';

/**
 * Between hookwarden's Desired/Observed and the Infinity wire format
 * (components.schemas of the Notifications OpenAPI, field for field).
 */
const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();
const normalUrl = (u: string | undefined) => (u ? normalUrlOf(u) : '');

/** The comparable spec. Token fields are compared only when the config sets a token. */
function spec(family: readonly string[], events: readonly string[], t: Partial<WireTransport>, withToken: boolean): Spec {
  const transport: Spec = { type: 'WEBHOOK', method: t.method ?? 'POST', endpoint: normalUrl(t.endpoint) };
  if (withToken) {
    transport.authToken = t.authToken || undefined;
    transport.authTokenHeader = t.authTokenHeader || 'auth-token';
  }
  return { family: sorted(family), events: sorted(events), transport };
}

function identity(family: readonly string[], events: readonly string[], t: Partial<WireTransport>) {
  const endpoint = normalUrl(t.endpoint);
  return {
    fingerprint: sha256(canonicalJson({ endpoint, method: t.method ?? 'POST', family: sorted(family), events: sorted(events) })).slice(0, 32),
    matchKey: endpoint,
  };
}

export function toDesired(account: string, sub: InfinitySubscriptionConfig, defaults: SubscriptionDefaults): DesiredSubscription {
  const t = { type: 'WEBHOOK' as const, ...sub.callback, endpoint: sub.callback.url };
  const s = spec(sub.family, sub.events, t, sub.callback.authToken !== undefined);
  const hashable = { ...s, transport: { ...(s.transport as Spec), authToken: sub.callback.authToken ? sha256(sub.callback.authToken) : undefined } };
  return {
    provider: account,
    kind: 'avaya-infinity',
    name: sub.name,
    spec: s,
    ...identity(sub.family, sub.events, t),
    renewBefore: sub.renewBefore ?? defaults.renewBefore,
    callback: {
      url: normalUrl(sub.callback.url),
      method: sub.callback.method,
      format: 'infinity',
      headers: sub.callback.authToken ? { [sub.callback.authTokenHeader ?? 'auth-token']: sub.callback.authToken } : {},
      probe: sub.callback.probe,
    },
    hash: sha256(canonicalJson(hashable)),
  };
}

export function toCreateBody(d: DesiredSubscription): CreateSubscriptionBody {
  const t = d.spec.transport as WireTransport;
  const transport: WireTransport = { type: 'WEBHOOK', method: t.method ?? 'POST', endpoint: t.endpoint };
  if (t.authToken) {
    transport.authToken = t.authToken;
    transport.authTokenHeader = t.authTokenHeader ?? 'auth-token';
  }
  return { family: [...(d.spec.family as string[])], events: [...(d.spec.events as string[])], transport };
}

export function fromWire(w: WireSubscription): ObservedSubscription {
  const t = w.transport as Partial<WireTransport>;
  return {
    remoteId: w.subscriptionId,
    status: w.status,
    spec: spec(w.family, w.events, t, true),
    ...identity(w.family, w.events, t),
    ...(w.createdAt ? { createdAt: new Date(w.createdAt) } : {}),
    ...(w.expiresAt ? { expiresAt: new Date(w.expiresAt) } : {}),
    ...(w.expiresIn !== undefined ? { expiresIn: w.expiresIn } : {}),
  };
}
