import { z } from 'zod';
import { callbackProbe, headerName, headerValue, healthPolicy, httpTimeout, httpsUrl, name, nonEmpty, renewBefore } from '../../config/common.js';

export const FAMILIES = ['AGENT', 'INTERACTION', 'QUEUE', 'ALL'] as const;

export const infinityAccountSchema = z.strictObject({
  kind: z.literal('avaya-infinity'),
  /** https://core.<customerId>.ec.avayacloud.com; token and API URLs derive from it. */
  baseUrl: httpsUrl('baseUrl'),
  clientId: nonEmpty('clientId', 256),
  clientSecret: nonEmpty('clientSecret', 1024),
  /** Overrides, for proxies: default <baseUrl>/auth/realms/avaya/protocol/openid-connect/token and <baseUrl>/api/events/v1. */
  tokenUrl: httpsUrl('tokenUrl').optional(),
  apiUrl: httpsUrl('apiUrl').optional(),
  scope: z.string().min(1).max(1024).default('EVENT_NOTIFICATION'),
  pageSize: z.number().int().min(1).max(25).default(25),
  timeout: httpTimeout().default(10),
  /** Delete listed subscriptions that match nothing declared (default: only report them). */
  deleteOrphans: z.boolean().default(false),
  /** How this provider treats failing callbacks (projections only: Infinity disables nothing by itself). */
  policy: healthPolicy,
});
export type InfinityAccount = z.output<typeof infinityAccountSchema>;

export const infinitySubscriptionSchema = z
  .strictObject({
    name,
    provider: z.string(),
    family: z
      .array(z.enum(FAMILIES, { message: `family values are ${FAMILIES.join(', ')}` }))
      .min(1, { message: 'family needs at least one value' })
      .max(3, { message: 'family takes at most 3 values' })
      .refine((f) => !f.includes('ALL') || f.length === 1, { message: 'family ALL must be the only value' })
      .refine((f) => new Set(f).size === f.length, { message: 'family values must be unique' }),
    events: z
      .array(z.string().min(1, { message: 'event names must not be empty' }).max(256, { message: 'event names are at most 256 characters' }))
      .min(1, { message: 'events needs 1 to 25 values' })
      .max(25, { message: 'events takes at most 25 values' }),
    callback: z
      .strictObject({
        url: httpsUrl('callback.url'),
        method: z.enum(['POST', 'PUT']).default('POST'),
        // Avaya sends the token in this header with every event, and the probe does the same.
        authToken: z.string().min(1, { message: 'authToken must not be empty' }).max(256, { message: 'authToken is at most 256 characters' }).pipe(headerValue('authToken')).optional(),
        authTokenHeader: headerName('authTokenHeader').optional(),
        probe: callbackProbe,
      })
      .refine((c) => c.authTokenHeader === undefined || c.authToken !== undefined, {
        message: 'authTokenHeader needs authToken (they work as a pair)',
      }),
    renewBefore: renewBefore.optional(),
  });
export type InfinitySubscriptionConfig = z.output<typeof infinitySubscriptionSchema>;
