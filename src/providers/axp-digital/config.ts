import { z } from 'zod';
import { callbackProbe, httpsUrl, name } from '../../config/common.js';
import { axpAccountFields } from '../axp-common/account.js';

export const DIGITAL_EVENTS = ['MESSAGES', 'CUSTOMER_MESSAGES', 'CC_MESSAGES', 'PARTICIPANT_ADDED', 'PARTICIPANT_DISCONNECTED', 'ENGAGEMENT_CREATED', 'ENGAGEMENT_ERROR', 'TYPING', 'ALL'] as const;

export const digitalAccountSchema = z.strictObject({ kind: z.literal('axp-digital'), ...axpAccountFields });
export type DigitalAccount = z.output<typeof digitalAccountSchema>;

export const digitalSubscriptionSchema = z.strictObject({
  name,
  provider: z.string(),
  channelProviderId: z.string().min(3, { message: 'channelProviderId is 3 to 256 characters' }).max(256, { message: 'channelProviderId is 3 to 256 characters' }),
  events: z
    .array(z.enum(DIGITAL_EVENTS, { message: `events are among ${DIGITAL_EVENTS.join(', ')}` }))
    .min(1, { message: 'events needs 1 to 6 values' })
    .max(6, { message: 'events takes at most 6 values' })
    .refine((e) => !e.includes('ALL') || e.length === 1, { message: 'events ALL must be the only value' })
    .refine((e) => new Set(e).size === e.length, { message: 'events must be unique' }),
  callback: z.strictObject({ url: httpsUrl('callback.url'), probe: callbackProbe }),
});
export type DigitalSubscriptionConfig = z.output<typeof digitalSubscriptionSchema>;
