import { z } from 'zod';
import { DAY, HOUR, duration, headerMap, healthPolicy, httpsUrl, name, probeEvent, renewBefore } from './common.js';
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

/**
 * A Bearer token (RFC 6750 b64token): long enough to guess at no useful rate, and made of
 * characters that pass through any HTTP client unchanged. The value is never echoed.
 */
export const SERVER_TOKEN_MIN = 16;
const serverToken = z
  .string({ message: 'server.token must be a string' })
  .min(SERVER_TOKEN_MIN, { message: `server.token must be at least ${SERVER_TOKEN_MIN} characters (generate one: openssl rand -hex 32)` })
  .max(4096, { message: 'server.token must be at most 4096 characters' })
  .regex(/^[A-Za-z0-9\-._~+/]+=*$/, { message: 'server.token may hold only letters, digits and - . _ ~ + / (then = padding), as a Bearer token does' });

export const topSchema = z.strictObject({
  /** A Postgres connection URL; unlike the provider URLs it may carry a user and password. */
  database: z
    .strictObject({
      url: z
        .string({ message: 'database.url must be a postgresql:// URL' })
        .min(1, { message: 'database.url must not be empty (omit the database block for an embedded Postgres)' })
        .refine((u) => /^postgres(ql)?:\/\//.test(u) && URL.canParse(u), { message: 'database.url must be a postgresql:// URL' })
        .optional(),
    })
    .optional(),
  dataDir: z.string().min(1).default('./.hookwarden'),
  server: z
    .strictObject({
      listen: z
        .string()
        .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'listen must be host:port, e.g. 127.0.0.1:9464' })
        .refine((l) => Number(l.slice(l.lastIndexOf(':') + 1)) <= 65535, { message: 'listen port must be at most 65535' })
        .default('127.0.0.1:9464'),
      /** /healthz fails when the loop has not completed a wake-up for this long. */
      livenessTimeout: duration('server.livenessTimeout', { min: 10, max: DAY }).default(300),
      /**
       * The Bearer token /status, /status.json and /metrics require; mandatory when listen is
       * not a loopback address (checked in load.ts, where the listen address is known).
       */
      token: serverToken.optional(),
    })
    .default({ listen: '127.0.0.1:9464', livenessTimeout: 300 }),
  defaults: z
    .strictObject({
      reconcileEvery: duration('reconcileEvery', { min: 1, max: DAY }).default(60),
      renewBefore: renewBefore.default({ percent: 33 }),
      concurrency: z.number().int().min(1).max(64).default(8),
      /** Subscriptions of one account acted on at once within a pass. */
      actionConcurrency: z.number().int().min(1).max(64).default(8),
      probe: z
        .strictObject({ every: duration('probe.every', { min: 1, max: DAY }).default(60), timeout: duration('probe.timeout', { min: 1, max: 60 }).default(5) })
        .default({ every: 60, timeout: 5 }),
      /** How often providers that report their own deliveries (Dixa) are asked. */
      deliveryPoll: z.strictObject({ every: duration('deliveryPoll.every', { min: 1, max: DAY }).default(300) }).default({ every: 300 }),
      /** How long a replica's hold on a provider account lasts without being renewed. */
      leaseTtl: duration('leaseTtl', { min: 5, max: HOUR }).default(60),
      /** The deadline of one reconcile pass over one account. */
      passTimeout: duration('passTimeout', { min: 5, max: HOUR }).default(300),
    })
    .default({ reconcileEvery: 60, renewBefore: { percent: 33 }, concurrency: 8, actionConcurrency: 8, probe: { every: 60, timeout: 5 }, deliveryPoll: { every: 300 }, leaseTtl: 60, passTimeout: 300 }),
  providers: z.record(name, accountHead),
  /** How long the action history is kept (pruned hourly). */
  history: z.strictObject({ keep: duration('history.keep', { min: 60, max: 3650 * DAY }).default(30 * 86400) }).default({ keep: 30 * 86400 }),
  /** Callback URLs of platforms without a subscription API: probed and projected, never remediated. */
  watch: z
    .array(
      z.strictObject({
        name,
        url: httpsUrl('url'),
        method: z.enum(['POST', 'PUT']).default('POST'),
        format: z.enum(PROBE_FORMATS, { message: `format is one of ${PROBE_FORMATS.join(', ')}` }),
        every: duration('every', { min: 1, max: DAY }).optional(),
        timeout: duration('timeout', { min: 1, max: 60 }).optional(),
        event: probeEvent.default('unknown'),
        headers: headerMap('headers').default({}),
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
