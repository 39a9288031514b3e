import { z } from 'zod';
import { duration, healthPolicy, httpsUrl, name, probeEvent, renewBefore } from './common.js';
import { PROBE_FORMATS } from '../domain/types.js';
import { providerKinds } from '../providers/registry.js';

/** The top level of the config file; each provider kind adds its own account and subscription schemas. */

const kinds = Object.keys(providerKinds) as [string, ...string[]];

const accountSchema = z.discriminatedUnion(
  'kind',
  Object.values(providerKinds).map((k) => k.accountSchema) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

/** At the top level an account is only checked for its kind; its own schema runs next, so every error is reported at once. */
const accountHead = z.looseObject({
  kind: z.enum(kinds, { message: `kind must be one of ${kinds.join(', ')}` }),
});

export const topSchema = z.strictObject({
  database: z.strictObject({ url: z.string().min(1).optional() }).optional(),
  dataDir: z.string().min(1).default('./.hookwarden'),
  server: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'listen must be host:port, e.g. 127.0.0.1:9464' })
        .default('127.0.0.1:9464'),
    })
    .default({ listen: '127.0.0.1:9464' }),
  defaults: z
    .strictObject({
      reconcileEvery: duration('reconcileEvery').default(60),
      renewBefore: renewBefore.default({ percent: 33 }),
      concurrency: z.number().int().min(1).max(64).default(8),
      probe: z
        .strictObject({ every: duration('probe.every').default(60), timeout: duration('probe.timeout').default(5) })
        .default({ every: 60, timeout: 5 }),
      /** How often providers that report their own deliveries (Dixa) are asked. */
      deliveryPoll: z.strictObject({ every: duration('deliveryPoll.every').default(300) }).default({ every: 300 }),
    })
    .default({ reconcileEvery: 60, renewBefore: { percent: 33 }, concurrency: 8, probe: { every: 60, timeout: 5 }, deliveryPoll: { every: 300 } }),
  providers: z.record(name, accountHead),
  /** How long the action history is kept (pruned hourly). */
  history: z.strictObject({ keep: duration('history.keep').default(30 * 86400) }).default({ keep: 30 * 86400 }),
  /** Callback URLs of platforms without a subscription API: probed and projected, never remediated. */
  watch: z
    .array(
      z.strictObject({
        name,
        url: httpsUrl('url'),
        method: z.enum(['POST', 'PUT']).default('POST'),
        format: z.enum(PROBE_FORMATS, { message: `format is one of ${PROBE_FORMATS.join(', ')}` }),
        every: duration('every').optional(),
        timeout: duration('timeout').optional(),
        event: probeEvent.default('unknown'),
        headers: z.record(z.string(), z.string()).default({}),
        policy: healthPolicy,
      }),
    )
    .default([]),
  subscriptions: z
    .array(
      z.looseObject({
        name,
        provider: z.string({ message: 'provider must name an entry of providers' }),
      }),
    )
    .default([]),
});


/** The JSON Schema of the whole file, for editors. */
export function configJsonSchema(): unknown {
  const subscription = z.union(Object.values(providerKinds).map((k) => k.subscriptionSchema) as unknown as [z.ZodObject, ...z.ZodObject[]]);
  const full = topSchema.extend({ providers: z.record(name, accountSchema), subscriptions: z.array(subscription).optional() });
  return {
    $id: 'https://hookwarden.dev/schema/config.json',
    title: 'hookwarden configuration',
    ...(z.toJSONSchema(full, { io: 'input', unrepresentable: 'any' }) as object),
  };
}
