import { z } from 'zod';

/** Ten years: no subscription or token lifetime is longer; a larger value would overflow a Date. */
const MAX_LIFETIME_SECONDS = 10 * 365 * 86400;

/**
 * Wire shapes shared by the Avaya notification APIs (Infinity /api/events/v1 and AXP
 * /api/notification/v1), field for field. Infinity's `family` is an array (its list example
 * shows a string); AXP's is a string: both are accepted and read as an array.
 */
export const wireSubscription = z.object({
  subscriptionId: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  // Seconds left: read as whole seconds, never below 0 (already expired) nor above ten years.
  expiresIn: z
    .number()
    .transform((v) => Math.min(Math.max(Math.floor(v), 0), MAX_LIFETIME_SECONDS))
    .optional(),
  status: z.enum(['ACTIVE', 'INACTIVE', 'PENDING']),
  family: z.union([z.array(z.string()), z.string().transform((s) => [s])]),
  events: z.array(z.string()),
  transport: z.object({
    type: z.string(),
    method: z.string().optional(),
    endpoint: z.string().optional(),
    authToken: z.string().optional(),
    authTokenHeader: z.string().optional(),
    pingInterval: z.number().int().optional(),
  }),
  extensions: z.record(z.string(), z.string()).optional(),
});
export type WireSubscription = z.output<typeof wireSubscription>;

export const wirePage = z.object({
  pagination: z
    .object({
      pageNumber: z.number().int().optional(),
      pageSize: z.number().int().optional(),
      total: z.number().int().optional(),
      totalPages: z.number().int().optional(),
    })
    .optional(),
  subscriptions: z.array(wireSubscription).default([]),
  links: z.object({ prev: z.string().optional(), next: z.string().optional() }).optional(),
});

/** Infinity: {access_token, expires_in, token_type, scope}; AXP adds refresh_token (unused: client credentials are simply asked again). */
export const wireToken = z.object({
  // Sent back as a Bearer header: visible ASCII only, so it can never split a request.
  access_token: z.string().min(1).max(16_384).regex(/^[\x21-\x7e]+$/, { message: 'access_token must be visible ASCII' }),
  // A lifetime beyond a day is read as a day: the token is simply fetched again sooner.
  expires_in: z
    .number()
    .positive()
    .transform((v) => Math.min(v, 86_400)),
  token_type: z.string().optional(),
  scope: z.string().optional(),
  refresh_token: z.string().optional(),
});

export interface WireTransport {
  type: 'WEBHOOK';
  method?: 'POST' | 'PUT';
  endpoint?: string;
  authToken?: string;
  authTokenHeader?: string;
}

export interface CreateSubscriptionBody {
  family: string[] | string;
  events: string[];
  transport: WireTransport;
  extensions?: Record<string, string>;
}
