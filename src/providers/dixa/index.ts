import PQueue from 'p-queue';
import { z } from 'zod';
import type { Dispatcher } from 'undici';
import { sha256 } from '../../lib/hash.js';
import { createDispatcher, errorFromResponse, expectJson, requestJson, type JsonResponse, type ProviderOperation } from '../../lib/http.js';
import type { ProviderKind } from '../types.js';
import { dixaAccountSchema, dixaSubscriptionSchema, type DixaAccount, type DixaSubscriptionConfig } from './config.js';
import { scrubber } from '../../lib/scrub.js';
import { fromWire, toBody, toDeliveryStatus, toDesired, toLogEntry, wireDeliveryLog, wireDeliveryStatus, wireWebhook } from './mapping.js';

/**
 * One limiter per API token, whatever the number of accounts using it: Dixa counts requests
 * per token. p-queue in strict (sliding-window) mode starts at most one request in any
 * window of a little over 1/rate seconds, so the burst allowance only absorbs network
 * jitter and a pass over hundreds of subscriptions never sees a 429. (Its default
 * fixed windows let two requests through back to back at a window's edge.)
 */
const limiters = new Map<string, PQueue>();
export function limiterFor(token: string, perSecond: number): PQueue {
  const key = sha256(token);
  let q = limiters.get(key);
  if (!q) limiters.set(key, (q = new PQueue({ intervalCap: 1, interval: Math.ceil(1000 / (perSecond * 0.9)), strict: true })));
  return q;
}

const data = <T extends z.ZodType>(s: T) => z.object({ data: s });

export const dixa: ProviderKind<DixaAccount, DixaSubscriptionConfig> = {
  kind: 'dixa',
  accountSchema: dixaAccountSchema,
  subscriptionSchema: dixaSubscriptionSchema,
  secretKeys: ['apiToken', 'callback.authorization.password', 'callback.authorization.value'],
  toDesired: (account, _acc, sub) => toDesired(account, sub),
  create(account, acc, deps) {
    const label = `dixa ${account}`;
    const queue = limiterFor(acc.apiToken, acc.rateLimit.perSecond);
    // Dixa's own dispatcher: a 429 (nothing was done) is retried for every method after
    // Retry-After; other failures go back to the reconciler. Every attempt is counted.
    const dispatcher: Dispatcher = createDispatcher({
      methods: ['GET', 'POST', 'PATCH', 'PUT', 'DELETE'],
      statusCodes: [429],
      errorCodes: [],
      maxRetries: 3,
    });
    const observe = deps.metrics?.providerRequestObserver(account);
    const base = `${acc.baseUrl.replace(/\/+$/, '')}/${acc.apiVersion}/webhooks`;
    const shape = (path: string) => path.replace(/\/[0-9a-fA-F-]{36}(?=\/|$)/, '/{id}').replace(/\/logs\/[^/]+$/, '/logs/{event}');
    const call = (op: ProviderOperation, method: Dispatcher.HttpMethod, path: string, json?: unknown, signal?: AbortSignal): Promise<JsonResponse> =>
      queue.add(
        () =>
          requestJson(dispatcher, {
            method,
            url: base + path,
            // The API token goes in the Authorization header as it is (Dixa's documented example).
            headers: { authorization: acc.apiToken },
            ...(json !== undefined ? { json } : {}),
            ...(signal ? { signal } : {}),
            timeoutMs: acc.timeout * 1000,
            operation: `${label}: ${method} /${acc.apiVersion}/webhooks${shape(path)}`,
            op,
            ...(observe ? { observe } : {}),
          }),
        signal ? { signal } : {},
      );
    const expect = <S extends z.ZodType>(res: JsonResponse, ok: number[], method: string, path: string, schema: S): z.output<S> =>
      expectJson(`${label}: ${method} /${acc.apiVersion}/webhooks${shape(path)}`, res, ok, schema);
    const one = async (id: string, signal?: AbortSignal) => {
      const path = `/${encodeURIComponent(id)}`;
      const res = await call('get', 'GET', path, undefined, signal);
      return res.status === 404 ? undefined : expect(res, [200], 'GET', path, data(wireWebhook)).data;
    };
    return {
      kind: 'dixa',
      account,
      capabilities: { renew: false, update: true, reenable: true, paced: true },
      // One unpaged array; a webhook listed twice is kept once (the first occurrence).
      list: async (signal) => {
        const seen = new Set<string>();
        return expect(await call('list', 'GET', '', undefined, signal), [200], 'GET', '', data(z.array(wireWebhook))).data.filter((w) => !seen.has(w.id) && seen.add(w.id)).map(fromWire);
      },
      get: async (id, signal) => {
        const w = await one(id, signal);
        return w && fromWire(w);
      },
      create: async (d, signal) => fromWire(expect(await call('create', 'POST', '', toBody(d), signal), [201, 200], 'POST', '', data(wireWebhook)).data),
      update: async (id, d, signal) => {
        const path = `/${encodeURIComponent(id)}`;
        return fromWire(expect(await call('update', 'PATCH', path, toBody(d), signal), [200], 'PATCH', path, data(wireWebhook)).data);
      },
      // Re-enabling is Dixa's "renew": PATCH {enabled: true}.
      renew: async (id, _d, signal) => {
        const path = `/${encodeURIComponent(id)}`;
        return fromWire(expect(await call('reenable', 'PATCH', path, { enabled: true }, signal), [200], 'PATCH', path, data(wireWebhook)).data);
      },
      delete: async (id, signal) => {
        const path = `/${encodeURIComponent(id)}`;
        const res = await call('delete', 'DELETE', path, undefined, signal);
        if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw errorFromResponse(`${label}: DELETE /${acc.apiVersion}/webhooks/{id}`, res);
      },
      deliveryStatus: async (id, signal) => {
        const path = `/${encodeURIComponent(id)}/delivery-status`;
        return expect(await call('deliveries', 'GET', path, undefined, signal), [200], 'GET', path, data(z.array(wireDeliveryStatus))).data.map(toDeliveryStatus);
      },
      deliveryLogs: async (id, event, signal) => {
        const path = `/${encodeURIComponent(id)}/delivery-status/logs/${encodeURIComponent(event)}`;
        const entries = expect(await call('delivery-logs', 'GET', path, undefined, signal), [200], 'GET', path, data(z.array(wireDeliveryLog))).data.map(toLogEntry);
        return entries.sort((a, b) => b.at.getTime() - a.at.getTime());
      },
      secret: async (id, signal) => {
        const key = (await one(id, signal))?.secretKey;
        scrubber.add(key, { slot: `dixa secretKey ${id}` });
        return key;
      },
    };
  },
};
