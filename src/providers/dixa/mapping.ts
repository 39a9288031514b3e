import { z } from 'zod';
import { normalUrl } from '../../config/common.js';
import type { DeliveryLogEntry, DeliveryStatus, DesiredSubscription, ObservedSubscription, Spec } from '../../domain/types.js';
import { canonicalJson, sha256 } from '../../lib/hash.js';
import { scrubber } from '../../lib/scrub.js';
import type { DixaSubscriptionConfig } from './config.js';

/** Dixa names the subscriptions hookwarden owns "hookwarden:<name>", so adoption is exact. */
export const remoteName = (name: string) => `hookwarden:${name}`;

/** WebhookSubscription (the `data` of every answer). secretKey is read only on request, never mapped. */
export const wireWebhook = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  url: z.string(),
  headers: z.record(z.string(), z.string()).optional(),
  secretKey: z.string().optional(),
  enabled: z.boolean(),
  subscribedEvents: z.array(z.string()).optional(),
  filters: z.record(z.string(), z.unknown()).optional(),
  createdAt: z.string().optional(),
  updatedAt: z.string().optional(),
});
export type WireWebhook = z.output<typeof wireWebhook>;

/** A timestamp that makes a valid Date; the receiver's text is kept short (it is stored and shown). */
const wireDetail = z.object({
  deliveryTimestamp: z.string().refine((s) => Number.isFinite(Date.parse(s)), { message: 'deliveryTimestamp is not a date' }),
  success: z.boolean(),
  responseCode: z.number().int(),
  responseText: z.string().transform((t) => (t.length > 1000 ? `${t.slice(0, 1000)}…` : t)),
});
export const wireDeliveryStatus = z.object({
  event: z.string(),
  deliveryStatus: z.union([z.object({ _type: z.literal('NoRecentDelivery') }), wireDetail.extend({ _type: z.literal('DeliveryDetail').optional() })]),
});
// The log example carries no _type inside deliveryDetail; payload is the delivered JSON (never kept).
export const wireDeliveryLog = z.object({ deliveryDetail: wireDetail.extend({ _type: z.string().optional() }), payload: z.string().optional() });

export function toDeliveryStatus(w: z.output<typeof wireDeliveryStatus>): DeliveryStatus {
  const d = w.deliveryStatus;
  if (d._type === 'NoRecentDelivery') return { event: w.event, kind: 'none' };
  return { event: w.event, kind: 'delivered', at: new Date(d.deliveryTimestamp), success: d.success, responseCode: d.responseCode, responseText: d.responseText };
}

export function toLogEntry(w: z.output<typeof wireDeliveryLog>): DeliveryLogEntry {
  const d = w.deliveryDetail;
  return { at: new Date(d.deliveryTimestamp), success: d.success, responseCode: d.responseCode, responseText: d.responseText };
}

type Auth = DixaSubscriptionConfig['callback']['authorization'];

/** The request's `authorization`, tagged as in Dixa's examples. */
export function wireAuthorization(a: Auth): Record<string, string> {
  if (a.type === 'basic') return { _type: 'BasicAuth', username: a.username, password: a.password };
  if (a.type === 'token') return { _type: 'TokenAuth', value: a.value };
  return { _type: 'NoAuth' };
}

/** The outgoing headers Dixa computes from `authorization` and `customHeaders` (its response's `headers`). */
export function computedHeaders(a: Auth, custom: Record<string, string>): Record<string, string> {
  const h: Record<string, string> = { ...custom };
  if (a.type === 'basic') h.Authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
  if (a.type === 'token') h.Authorization = `Bearer ${a.value}`;
  return h;
}

function wireFilters(f: DixaSubscriptionConfig['filters']): Record<string, unknown> | undefined {
  if (!f) return undefined;
  return Object.fromEntries(
    Object.entries(f).map(([entity, c]) => [
      entity,
      { _type: 'CombinedFilters', strategy: c.strategy, conditions: c.conditions.map((x) => ({ _type: x.type, field: x.field, values: [...x.values] })) },
    ]),
  );
}

const sorted = (xs: readonly string[]) => [...new Set(xs)].sort();
const lowerKeys = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

export function toDesired(account: string, sub: DixaSubscriptionConfig): DesiredSubscription {
  const cb = sub.callback;
  const url = normalUrl(cb.url);
  const filters = wireFilters(sub.filters);
  const headers = lowerKeys(computedHeaders(cb.authorization, cb.headers));
  const spec: Spec = { name: remoteName(sub.name), url, events: sorted(sub.events), enabled: sub.enabled, headers, ...(filters ? { filters } : {}) };
  // What is sent, kept apart from the comparable spec: authorization and customHeaders are not echoed back.
  const request = { authorization: wireAuthorization(cb.authorization), customHeaders: cb.headers, ...(filters ? { filters } : {}) };
  const hashable = { ...spec, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, sha256(v)])) };
  return {
    provider: account,
    kind: 'dixa',
    name: sub.name,
    spec: { ...spec, request },
    fingerprint: remoteName(sub.name),
    matchKey: `name:${remoteName(sub.name)}`,
    renewBefore: { percent: 33 },
    callback: { url, method: 'POST', format: 'dixa', headers: computedHeaders(cb.authorization, cb.headers), probe: cb.probe },
    hash: sha256(canonicalJson(hashable)),
  };
}

export function fromWire(w: WireWebhook): ObservedSubscription {
  // The signing key Dixa issued is a secret: scrubbed from anything written from now on.
  scrubber.add(w.secretKey, { slot: `dixa secretKey ${w.id}` });
  return {
    remoteId: w.id,
    status: w.enabled ? 'ACTIVE' : 'DISABLED',
    spec: {
      name: w.name,
      url: normalUrl(w.url),
      events: sorted(w.subscribedEvents ?? []),
      enabled: w.enabled,
      // The v1 reference does not list `headers`: when absent it cannot drift.
      headers: w.headers ? lowerKeys(w.headers) : null,
      filters: w.filters ?? null,
      request: null,
    },
    fingerprint: w.name,
    matchKey: `name:${w.name}`,
  };
}

/** The create body (CreateWebhookSubscriptionInput); PATCH sends the same fields. */
export function toBody(d: DesiredSubscription): Record<string, unknown> {
  const req = d.spec.request as { authorization: unknown; customHeaders: unknown; filters?: unknown };
  return { name: d.spec.name, url: d.spec.url, events: d.spec.events, enabled: d.spec.enabled, authorization: req.authorization, customHeaders: req.customHeaders, ...(req.filters ? { filters: req.filters } : {}) };
}
