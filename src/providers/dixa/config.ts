import { z } from 'zod';
import { callbackProbe, headerMap, headerValue, healthPolicy, httpTimeout, httpsUrl, name, nonEmpty } from '../../config/common.js';

/** Event names: the beta spec's 32, plus ConversationTranscriptionAdded from the v1 reference. */
export const DIXA_EVENTS = [
  'SLAEvaluationVoided', 'SLAEvaluationBreached', 'SLAEvaluationAchieved', 'SLAEvaluationPending',
  'ConversationPending', 'ConversationPendingExpired', 'ConversationMessageAdded', 'ConversationCustomAttributeUpdated',
  'ConversationAssigned', 'ConversationUnassigned', 'ConversationTransferred', 'ConversationEnqueued', 'ConversationCreated',
  'ConversationOpen', 'ConversationAbandoned', 'ConversationClosed', 'ConversationTagAdded', 'ConversationTagRemoved',
  'ConversationNoteAdded', 'ConversationRated', 'ConversationEndUserReplaced', 'ConversationMessageDeliveryDelivered',
  'ConversationMessageDeliveryInfo', 'ConversationMessageDeliveryFailed', 'ConversationMessageDeliverySeen',
  'ConversationMessageDeliverySent', 'ConversationMessageDeliverySpamComplaint', 'TypingStarted', 'AgentBannedEnduser',
  'AgentUnbannedEnduser', 'AgentBannedIp', 'AgentUnbannedIp', 'ConversationTranscriptionAdded',
] as const;

export const dixaAccountSchema = z.strictObject({
  kind: z.literal('dixa'),
  baseUrl: httpsUrl('baseUrl').default('https://dev.dixa.io'),
  /** Sent as the Authorization header of every call. */
  apiToken: nonEmpty('apiToken', 4096).pipe(headerValue('apiToken')),
  /** The path prefix: /v1/webhooks (default) or /beta/webhooks. */
  apiVersion: z.enum(['v1', 'beta'], { message: 'apiVersion is v1 or beta' }).default('v1'),
  timeout: httpTimeout().default(10),
  deleteOrphans: z.boolean().default(false),
  /** Dixa's published limits per API token: 10 requests per second, burst 4. */
  rateLimit: z
    .strictObject({ perSecond: z.number().positive().max(1000).default(10), burst: z.number().int().min(1).max(1000).default(4) })
    .default({ perSecond: 10, burst: 4 }),
  policy: healthPolicy,
});
export type DixaAccount = z.output<typeof dixaAccountSchema>;

const authorization = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('basic'),
      // RFC 7617: the user-id cannot hold a colon, which separates it from the password.
      username: z.string().min(1).refine((u) => !u.includes(':'), { message: 'username must not contain ":"' }).pipe(headerValue('username', 1024)),
      password: z.string().min(1).pipe(headerValue('password', 1024)),
    }),
    z.strictObject({ type: z.literal('token'), value: z.string().min(1).pipe(headerValue('value')) }),
    z.strictObject({ type: z.literal('none') }),
  ],
  { message: 'authorization type is basic (username, password), token (value) or none' },
);

const condition = z.strictObject({
  type: z.enum(['IsOneOf', 'IsNotOneOf']),
  field: z.enum(['InitialChannel', 'OperationOrigin', 'QueueId']),
  values: z.array(z.string().min(1)).min(1, { message: 'values needs at least one value' }),
});

export const dixaSubscriptionSchema = z.strictObject({
  name,
  provider: z.string(),
  events: z
    .array(z.enum(DIXA_EVENTS, { message: 'not a Dixa event name (see the Dixa webhook event list)' }))
    .min(1, { message: 'events needs at least one event' })
    .refine((e) => new Set(e).size === e.length, { message: 'events must be unique' }),
  enabled: z.boolean().default(true),
  callback: z.strictObject({
    url: httpsUrl('callback.url'),
    authorization: authorization.default({ type: 'none' }),
    /** Extra headers Dixa sends with every delivery. */
    headers: headerMap('headers').default({}),
    probe: callbackProbe,
  }),
  /** Keyed by entity (e.g. Conversation). */
  filters: z
    .record(z.string(), z.strictObject({ strategy: z.enum(['All', 'Any']), conditions: z.array(condition).min(1, { message: 'conditions needs at least one condition' }) }))
    .optional(),
});
export type DixaSubscriptionConfig = z.output<typeof dixaSubscriptionSchema>;
