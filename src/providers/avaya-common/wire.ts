import { z } from 'zod';

/**
 * Wire shapes shared by the Avaya notification APIs (Infinity /api/events/v1 and AXP
 * /api/notification/v1), field for field. Infinity's `family` is an array (its list example
 * shows a string); AXP's is a string: both are accepted and read as an array.
 */
export const wireSubscription = z.object({
  subscriptionId: z.string().min(1),
  createdAt: z.iso.datetime({ offset: true }).optional(),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  expiresIn: z.number().int().optional(),
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
  access_token: z.string().min(1),
  expires_in: z.number().positive(),
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
