import type { ProviderKind } from '../types.js';
import { AvayaSubscriptionClient } from '../avaya-common/client.js';
import { TokenSource } from '../avaya-common/oauth.js';
import { infinityAccountSchema, infinitySubscriptionSchema, type InfinityAccount, type InfinitySubscriptionConfig } from './config.js';
import { fromWire, toCreateBody, toDesired } from './mapping.js';

export const INFINITY_TOKEN_PATH = '/auth/realms/avaya/protocol/openid-connect/token';
export const INFINITY_API_PATH = '/api/events/v1';

/** Avaya Infinity Notifications: expiring subscriptions kept alive with :renew, drift fixed with PATCH. */
export const avayaInfinity: ProviderKind<InfinityAccount, InfinitySubscriptionConfig> = {
  kind: 'avaya-infinity',
  accountSchema: infinityAccountSchema,
  subscriptionSchema: infinitySubscriptionSchema,
  secretKeys: ['clientSecret', 'callback.authToken'],
  toDesired: (account, _acc, sub, defaults) => toDesired(account, sub, defaults),
  create(account, acc, deps) {
    const base = acc.baseUrl.replace(/\/+$/, '');
    const label = `avaya-infinity ${account}`;
    const observe = deps.metrics?.providerRequestObserver(account);
    const tokens = new TokenSource({
      dispatcher: deps.dispatcher,
      clock: deps.clock,
      tokenUrl: acc.tokenUrl ?? base + INFINITY_TOKEN_PATH,
      form: { grant_type: 'client_credentials', client_id: acc.clientId, client_secret: acc.clientSecret, scope: acc.scope },
      timeoutMs: acc.timeout * 1000,
      operation: label,
      observe,
    });
    const client = new AvayaSubscriptionClient({
      dispatcher: deps.dispatcher,
      apiUrl: (acc.apiUrl ?? base + INFINITY_API_PATH).replace(/\/+$/, ''),
      tokens,
      timeoutMs: acc.timeout * 1000,
      pageSize: acc.pageSize,
      label,
      observe,
    });
    return {
      kind: 'avaya-infinity',
      account,
      capabilities: { renew: true, update: true },
      list: async (signal) => (await client.listAll(signal)).map(fromWire),
      get: async (id, signal) => {
        const w = await client.get(id, signal);
        return w && fromWire(w);
      },
      create: async (d, signal) => fromWire(await client.create(toCreateBody(d), signal)),
      update: async (id, d, signal) => fromWire(await client.patch(id, toCreateBody(d), signal)),
      renew: async (id, _d, signal) => fromWire(await client.renew(id, undefined, signal)),
      delete: (id, signal) => client.remove(id, signal),
    };
  },
};
