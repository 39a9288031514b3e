import { z } from 'zod';
import { callbackProbe, headerName, headerValue, httpsUrl, name, normalUrl, renewBefore } from '../../config/common.js';
import type { DesiredSubscription, ObservedSubscription, Spec } from '../../domain/types.js';
import { canonicalJson, sha256 } from '../../lib/hash.js';
import { AvayaSubscriptionClient } from '../avaya-common/client.js';
import type { CreateSubscriptionBody, WireSubscription } from '../avaya-common/wire.js';
import { axpAccountFields, axpTokens } from '../axp-common/account.js';
import type { ProviderKind } from '../types.js';

export const NOTIFICATION_API_PATH = '/api/notification/v1';

export const notificationAccountSchema = z.strictObject({ kind: z.literal('axp-notification'), ...axpAccountFields, pageSize: z.number().int().min(1).max(25).default(25) });
export type NotificationAccount = z.output<typeof notificationAccountSchema>;

/** AXP Notification, WEBHOOK transport only (WEBSOCKET subscriptions need a live socket, not a daemon). */
export const notificationSubscriptionSchema = z.strictObject({
  name,
  provider: z.string(),
  family: z.enum(['AGENT_ENGAGEMENT', 'ANALYTICS'], { message: 'family is AGENT_ENGAGEMENT or ANALYTICS' }),
  events: z
    .array(z.string().min(1, { message: 'event names must not be empty' }).max(256, { message: 'event names are at most 256 characters' }))
    .min(1, { message: 'events needs 1 to 25 values' })
    .max(25, { message: 'events takes at most 25 values' }),
  /** Family-specific settings, e.g. ANALYTICS needs measureProducerId. */
  extensions: z
    .record(z.string(), z.string().max(256, { message: 'extension values are at most 256 characters' }))
    .refine((e) => Object.keys(e).length <= 50, { message: 'extensions takes at most 50 entries' })
    .optional(),
  callback: z
    .strictObject({
      url: httpsUrl('callback.url'),
      authToken: z.string().min(1).max(256, { message: 'authToken is at most 256 characters' }).pipe(headerValue('authToken')).optional(),
      authTokenHeader: headerName('authTokenHeader').optional(),
      probe: callbackProbe,
    })
    .refine((c) => c.authTokenHeader === undefined || c.authToken !== undefined, { message: 'authTokenHeader needs authToken (they work as a pair)' }),
  renewBefore: renewBefore.optional(),
});
export type NotificationSubscriptionConfig = z.output<typeof notificationSubscriptionSchema>;

const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();

function spec(family: string, events: readonly string[], endpoint: string, token: { authToken?: string | undefined; authTokenHeader?: string | undefined } | undefined, extensions: Record<string, string> | undefined): Spec {
  const transport: Spec = { type: 'WEBHOOK', endpoint: normalUrl(endpoint) };
  if (token) {
    transport.authToken = token.authToken || undefined;
    transport.authTokenHeader = token.authTokenHeader || 'auth-token';
  }
  return { family, events: sorted(events), transport, ...(extensions ? { extensions } : {}) };
}

function identity(family: string, events: readonly string[], endpoint: string) {
  const url = normalUrl(endpoint);
  return { fingerprint: sha256(canonicalJson({ family, events: sorted(events), url })).slice(0, 32), matchKey: url };
}

function toDesired(account: string, sub: NotificationSubscriptionConfig, defaults: { renewBefore: DesiredSubscription['renewBefore'] }): DesiredSubscription {
  const cb = sub.callback;
  const s = spec(sub.family, sub.events, cb.url, cb.authToken ? cb : undefined, sub.extensions);
  const hashable = { ...s, transport: { ...(s.transport as Spec), authToken: cb.authToken ? sha256(cb.authToken) : undefined } };
  return {
    provider: account,
    kind: 'axp-notification',
    name: sub.name,
    spec: s,
    ...identity(sub.family, sub.events, cb.url),
    renewBefore: sub.renewBefore ?? defaults.renewBefore,
    callback: { url: normalUrl(cb.url), method: 'POST', format: 'axp-notification', headers: cb.authToken ? { [cb.authTokenHeader ?? 'auth-token']: cb.authToken } : {}, probe: cb.probe },
    hash: sha256(canonicalJson(hashable)),
  };
}

function fromWire(w: WireSubscription): ObservedSubscription {
  const family = w.family[0] ?? '';
  const endpoint = w.transport.endpoint ?? '';
  return {
    remoteId: w.subscriptionId,
    status: w.status,
    spec: spec(family, w.events, endpoint, w.transport, w.extensions),
    ...identity(family, w.events, endpoint),
    ...(w.createdAt ? { createdAt: new Date(w.createdAt) } : {}),
    ...(w.expiresAt ? { expiresAt: new Date(w.expiresAt) } : {}),
    ...(w.expiresIn !== undefined ? { expiresIn: w.expiresIn } : {}),
  };
}

function toBody(d: DesiredSubscription): CreateSubscriptionBody {
  const t = d.spec.transport as { endpoint: string; authToken?: string; authTokenHeader?: string };
  return {
    family: d.spec.family as string,
    events: [...(d.spec.events as string[])],
    transport: { type: 'WEBHOOK', endpoint: t.endpoint, ...(t.authToken ? { authToken: t.authToken, authTokenHeader: t.authTokenHeader ?? 'auth-token' } : {}) },
    ...(d.spec.extensions ? { extensions: d.spec.extensions as Record<string, string> } : {}),
  };
}

/** AXP Notification: expiring subscriptions renewed like Infinity's; no PATCH, so drift means delete and create. */
export const axpNotification: ProviderKind<NotificationAccount, NotificationSubscriptionConfig> = {
  kind: 'axp-notification',
  accountSchema: notificationAccountSchema,
  subscriptionSchema: notificationSubscriptionSchema,
  secretKeys: ['clientSecret', 'appKey', 'callback.authToken'],
  toDesired: (account, _acc, sub, defaults) => toDesired(account, sub, defaults),
  create(account, acc, deps) {
    const label = `axp-notification ${account}`;
    const base = acc.baseUrl.replace(/\/+$/, '');
    const observe = deps.metrics?.providerRequestObserver(account);
    const client = new AvayaSubscriptionClient({
      dispatcher: deps.dispatcher,
      apiUrl: (acc.apiUrl ?? base + NOTIFICATION_API_PATH).replace(/\/+$/, '') + `/accounts/${acc.accountId}`,
      tokens: axpTokens(acc, deps, label, observe),
      timeoutMs: acc.timeout * 1000,
      headers: { appkey: acc.appKey },
      pageSize: acc.pageSize,
      label,
      observe,
    });
    return {
      kind: 'axp-notification',
      account,
      capabilities: { renew: true, update: false, disablesUnhealthyCallbacks: true },
      list: async (signal) => (await client.listAll(signal)).map(fromWire),
      get: async (id, signal) => {
        const w = await client.get(id, signal);
        return w && fromWire(w);
      },
      create: async (d, signal) => fromWire(await client.create(toBody(d), signal)),
      update: async () => {
        throw new Error('AXP Notification has no update; the plan deletes and creates instead');
      },
      renew: async (id, _d, signal) => fromWire(await client.renew(id, undefined, signal)),
      delete: (id, signal) => client.remove(id, signal),
    };
  },
};
