import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';

/** Schema pieces shared by every provider kind. */

export const duration = (what: string) =>
  z
    .string()
    .refine((s) => parseDuration(s) !== undefined, { message: `${what} must be a duration such as 30s, 5m, 8h or 7d` })
    .transform((s) => parseDuration(s)!);

/** renewBefore: a duration, or a percentage of the granted lifetime ("33%"). */
export const renewBefore = z
  .string()
  .refine((s) => /^\d{1,2}(\.\d+)?%$/.test(s.trim()) || parseDuration(s) !== undefined, {
    message: 'renewBefore must be a duration (5m) or a percentage below 100 (33%)',
  })
  .transform((s) => {
    const t = s.trim();
    return t.endsWith('%') ? { percent: Number(t.slice(0, -1)) } : { seconds: parseDuration(t)! };
  });

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** An https URL; plain http only for loopback hosts (local receivers and the sandboxes). */
export const httpsUrl = (what: string, max = 2048) =>
  z
    .string()
    .max(max, { message: `${what} must be at most ${max} characters` })
    .superRefine((s, ctx) => {
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${what} is not a valid URL` });
        return;
      }
      if (u.protocol === 'https:') return;
      if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return;
      ctx.addIssue({ code: 'custom', message: `${what} must use https (plain http only for loopback hosts), got ${u.protocol}//${u.hostname}` });
    });

/** Subscription and account names end up in metric labels and logs: keep them tame. */
export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, { message: 'names are 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit' });

export const nonEmpty = (what: string, max = 4096) =>
  z.string().min(1, { message: `${what} must not be empty` }).max(max, { message: `${what} must be at most ${max} characters` });

/** A provider's callback policy: when it marks a callback unhealthy, disables, then deletes (AXP's published values by default). */
export const healthPolicy = z
  .strictObject({
    unhealthyAfter: z.number().int().min(1).max(1000).default(3),
    disableAfter: duration('disableAfter').default(8 * 3600),
    deleteAfter: duration('deleteAfter').default(7 * 86400),
  })
  .default({ unhealthyAfter: 3, disableAfter: 8 * 3600, deleteAfter: 7 * 86400 })
  .transform((p) => ({ unhealthyAfter: p.unhealthyAfter, disableAfterSeconds: p.disableAfter, deleteAfterSeconds: p.deleteAfter }));

export const probeEvent = z.enum(['unknown', 'sample'], { message: 'event is unknown (an event type the provider does not define) or sample (a realistic event)' });

/** Per callback: `probe: false` turns probing off; `probe: { event: sample }` sends a realistic event. */
export const callbackProbe = z.preprocess(
  (v) => (v === undefined ? {} : typeof v === 'boolean' ? { enabled: v } : v),
  z.strictObject({ enabled: z.boolean().default(true), event: probeEvent.default('unknown') }, { message: 'probe is true, false, or { enabled, event }' }),
);

/** The URL a target is known by: normalised, so "https://h/a" and "https://H/a" are one target. */
export function normalUrl(u: string): string {
  try {
    return new URL(u).href;
  } catch {
    return u;
  }
}
