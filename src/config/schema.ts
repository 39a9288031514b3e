import { z } from 'zod';
import { DAY, HOUR, MINUTE, duration, headerMap, headerName, headerValue, healthPolicy, httpsUrl, name, probeEvent, renewBefore } from './common.js';
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

/** A backfill hook's signing secret: long enough that its HMAC cannot be forged by guessing it. */
export const SIGNING_SECRET_MIN = 16;

/** Headers of the backfill hook that hookwarden sets itself: an auth token cannot be sent in one of them. */
const HOOK_OWN_HEADERS = new Set(['content-type', 'user-agent', 'idempotency-key', 'x-hookwarden-signature']);

/**
 * Where the backfill hook of a closed coverage gap is POSTed (`hooks.gapClosed`, at the top
 * level or per subscription): an https URL (plain http only on loopback), an optional auth
 * token (`Authorization: Bearer <token>`, or the bare token in authTokenHeader), and an
 * optional signing secret (HMAC-SHA256 of the body in X-Hookwarden-Signature).
 */
export const gapHookTarget = (what: string) =>
  z
    .strictObject(
      {
        url: httpsUrl(`${what}.url`),
        authToken: z.string({ message: `${what}.authToken must be a string` }).min(1, { message: `${what}.authToken must not be empty` }).pipe(headerValue(`${what}.authToken`)).optional(),
        authTokenHeader: headerName(`${what}.authTokenHeader`).optional(),
        signingSecret: z
          .string({ message: `${what}.signingSecret must be a string` })
          .min(SIGNING_SECRET_MIN, { message: `${what}.signingSecret must be at least ${SIGNING_SECRET_MIN} characters (generate one: openssl rand -hex 32)` })
          .max(4096, { message: `${what}.signingSecret must be at most 4096 characters` })
          .optional(),
      },
      { message: `${what} is a mapping: { url, authToken?, authTokenHeader?, signingSecret? }` },
    )
    .superRefine((h, ctx) => {
      if (h.authTokenHeader !== undefined && h.authToken === undefined) {
        ctx.addIssue({ code: 'custom', path: ['authTokenHeader'], message: `${what}.authTokenHeader names the header of authToken, which is not set` });
      }
      if (h.authTokenHeader !== undefined && HOOK_OWN_HEADERS.has(h.authTokenHeader.toLowerCase())) {
        ctx.addIssue({ code: 'custom', path: ['authTokenHeader'], message: `${what}.authTokenHeader: header ${h.authTokenHeader} is set by hookwarden itself; pick another one` });
      }
    });

/** The top-level `hooks` block: webhooks hookwarden itself sends. */
const topHooks = z
  .strictObject({ gapClosed: gapHookTarget('hooks.gapClosed').optional() }, { message: 'hooks is a mapping: { gapClosed: { url, … } }' })
  .default({});

/** A subscription's own `hooks`: `gapClosed` replaces the top-level hook for its gaps, or `false` switches it off for them. */
export const subscriptionHooks = z.strictObject(
  {
    gapClosed: z
      .union([z.literal(false), gapHookTarget('hooks.gapClosed')], { message: 'hooks.gapClosed is { url, authToken?, authTokenHeader?, signingSecret? }, or false to send no backfill hook for this subscription' })
      .optional(),
  },
  { message: 'hooks is a mapping: { gapClosed: { url, … } } or { gapClosed: false }' },
);

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
      /** The HookwardenCoverageGapOpen alert fires for a coverage gap open longer than this. */
      gapAlertAfter: duration('gapAlertAfter', { min: MINUTE, max: 30 * DAY }).default(30 * MINUTE),
    })
    .default({ reconcileEvery: 60, renewBefore: { percent: 33 }, concurrency: 8, actionConcurrency: 8, probe: { every: 60, timeout: 5 }, deliveryPoll: { every: 300 }, leaseTtl: 60, passTimeout: 300, gapAlertAfter: 30 * MINUTE }),
  providers: z.record(name, accountHead),
  /** Webhooks hookwarden sends: `gapClosed`, the backfill hook of a closed coverage gap. */
  hooks: topHooks,
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
  // Each kind's subscription, plus the `hooks` every subscription may set.
  const withHooks = (s: z.ZodType) => (s instanceof z.ZodObject ? s.extend({ hooks: subscriptionHooks.optional() }) : s);
  const subscription = z.union(Object.values(providerKinds).map((k) => withHooks(k.subscriptionSchema)) as unknown as [z.ZodObject, ...z.ZodObject[]]);
  const full = topSchema.extend({ providers: z.record(name, accountSchema), subscriptions: z.array(subscription).optional() });
  return {
    $id: 'https://hookwarden.dev/schema/config.json',
    title: 'hookwarden configuration',
    ...(z.toJSONSchema(full, { io: 'input', unrepresentable: 'any' }) as object),
  };
}
