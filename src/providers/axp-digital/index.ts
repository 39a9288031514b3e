import { z } from 'zod';
import { normalUrl } from '../../config/common.js';
import type { DesiredSubscription, ObservedSubscription } from '../../domain/types.js';
import { ProviderError } from '../../lib/errors.js';
import { canonicalJson, sha256 } from '../../lib/hash.js';
import { BearerApi } from '../avaya-common/api.js';
import { axpTokens } from '../axp-common/account.js';
import type { ProviderKind } from '../types.js';
import { digitalAccountSchema, digitalSubscriptionSchema, type DigitalAccount, type DigitalSubscriptionConfig } from './config.js';

export const DIGITAL_API_PATH = '/api/digital/webhook/v1';

/**
 * AXP Digital Notification subscription (components.schemas.Subscription). The API shows no
 * health, status or enabled field; should one appear, it is read as a bonus (DISABLED),
 * never relied on.
 */
const wireDigital = z.looseObject({
  subscriptionId: z.string().min(1),
  channelProviderId: z.string(),
  callbackUrl: z.string(),
  eventTypes: z.array(z.string()),
  status: z.string().optional(),
  state: z.string().optional(),
  enabled: z.boolean().optional(),
  disabled: z.boolean().optional(),
});
type WireDigital = z.output<typeof wireDigital>;

const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();

function identity(channelProviderId: string, url: string, events: readonly string[]) {
  return {
    fingerprint: sha256(canonicalJson({ channelProviderId, url, events: sorted(events) })).slice(0, 32),
    matchKey: `${channelProviderId} ${url}`,
  };
}

function toDesired(account: string, sub: DigitalSubscriptionConfig): DesiredSubscription {
  const url = normalUrl(sub.callback.url);
  const spec = { channelProviderId: sub.channelProviderId, callbackUrl: url, eventTypes: sorted(sub.events) };
  return {
    provider: account,
    kind: 'axp-digital',
    name: sub.name,
    spec,
    ...identity(sub.channelProviderId, url, sub.events),
    renewBefore: { percent: 33 },
    callback: { url, method: 'POST', format: 'axp-digital', headers: {}, probe: sub.callback.probe },
    hash: sha256(canonicalJson(spec)),
  };
}

function fromWire(w: WireDigital): ObservedSubscription {
  const url = normalUrl(w.callbackUrl);
  const bonusDisabled = w.enabled === false || w.disabled === true || /^(DISABLED|INACTIVE|UNHEALTHY)$/i.test(w.status ?? w.state ?? '');
  return {
    remoteId: w.subscriptionId,
    status: bonusDisabled ? 'DISABLED' : 'ACTIVE',
    spec: { channelProviderId: w.channelProviderId, callbackUrl: url, eventTypes: sorted(w.eventTypes) },
    ...identity(w.channelProviderId, url, w.eventTypes),
  };
}

function firstOfEach(xs: ObservedSubscription[]): ObservedSubscription[] {
  const seen = new Set<string>();
  return xs.filter((x) => !seen.has(x.remoteId) && seen.add(x.remoteId));
}

const body = (d: DesiredSubscription) => ({ channelProviderId: d.spec.channelProviderId, callbackUrl: d.spec.callbackUrl, eventTypes: d.spec.eventTypes });

export const axpDigital: ProviderKind<DigitalAccount, DigitalSubscriptionConfig> = {
  kind: 'axp-digital',
  accountSchema: digitalAccountSchema,
  subscriptionSchema: digitalSubscriptionSchema,
  secretKeys: ['clientSecret', 'appKey'],
  toDesired: (account, _acc, sub) => toDesired(account, sub),
  create(account, acc, deps) {
    const label = `axp-digital ${account}`;
    const base = acc.baseUrl.replace(/\/+$/, '');
    const observe = deps.metrics?.providerRequestObserver(account);
    const api = new BearerApi({
      dispatcher: deps.dispatcher,
      apiUrl: (acc.apiUrl ?? base + DIGITAL_API_PATH).replace(/\/+$/, '') + `/accounts/${acc.accountId}`,
      tokens: axpTokens(acc, deps, label, observe),
      timeoutMs: acc.timeout * 1000,
      headers: { appkey: acc.appKey },
      label,
      observe,
    });
    const path = (id?: string) => (id ? `/subscriptions/${encodeURIComponent(id)}` : '/subscriptions');
    return {
      kind: 'axp-digital',
      account,
      capabilities: { renew: false, update: true, disablesUnhealthyCallbacks: true },
      // The list is a bare array, without paging; channelProviderId is an optional filter, left off to see everything.
      // A subscription listed twice is kept once (the first occurrence).
      list: async (signal) => firstOfEach(api.expect(await api.call('list', 'GET', path(), undefined, signal), [200], 'GET', path(), z.array(wireDigital)).map(fromWire)),
      get: async (id, signal) => {
        const res = await api.call('get', 'GET', path(id), undefined, signal);
        if (res.status === 404) return undefined;
        return fromWire(api.expect(res, [200], 'GET', path(id), wireDigital));
      },
      create: async (d, signal) => fromWire(api.expect(await api.call('create', 'POST', path(), body(d), signal), [201, 200], 'POST', path(), wireDigital)),
      // PUT replaces the whole subscription (callbackUrl and eventTypes).
      update: async (id, d, signal) => fromWire(api.expect(await api.call('update', 'PUT', path(id), body(d), signal), [200], 'PUT', path(id), wireDigital)),
      renew: async () => {
        throw new ProviderError('PROVIDER_BAD_REQUEST', `${label}: AXP Digital subscriptions do not expire and have no renew`, 'terminal');
      },
      delete: (id, signal) => api.delete(path(id), signal),
    };
  },
};
