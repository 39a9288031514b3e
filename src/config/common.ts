import { z } from 'zod';
import { formatDuration, parseDuration } from '../domain/duration.js';

/** Schema pieces shared by every provider kind. */

export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86400;
export const YEAR = 365 * DAY;

export interface DurationBounds {
  /** Seconds; the smallest value accepted (durations are always positive). */
  min?: number;
  /** Seconds; the largest value accepted. */
  max?: number;
}

const DURATION_HINT = 'a duration such as 30s, 5m, 8h or 7d';

/**
 * A duration in seconds, positive and within bounds. Without bounds: above zero and at most
 * a year, so that no value can overflow a timer or a date computed from it.
 */
export const duration = (what: string, bounds: DurationBounds = {}) => {
  const min = bounds.min ?? 0.001;
  const max = bounds.max ?? YEAR;
  return z
    .string({ message: `${what} must be ${DURATION_HINT}` })
    .superRefine((s, ctx) => {
      const v = parseDuration(s);
      if (v === undefined) ctx.addIssue({ code: 'custom', message: `${what} must be ${DURATION_HINT}` });
      else if (v <= 0) ctx.addIssue({ code: 'custom', message: `${what} must be more than zero` });
      else if (v < min) ctx.addIssue({ code: 'custom', message: `${what} must be at least ${formatDuration(min)}, got ${s.trim()}` });
      else if (v > max) ctx.addIssue({ code: 'custom', message: `${what} must be at most ${formatDuration(max)}, got ${clip(s.trim())}` });
    })
    .transform((s) => parseDuration(s)!);
};

/** A provider's HTTP timeout: 100 ms to 5 min. */
export const httpTimeout = (what = 'timeout') => duration(what, { min: 0.1, max: 5 * MINUTE });

/** renewBefore: a duration (up to a year), or a percentage of the granted lifetime ("33%"), above 0 and below 100. */
export const renewBefore = z
  .string({ message: 'renewBefore must be a duration (5m) or a percentage below 100 (33%)' })
  .superRefine((s, ctx) => {
    const t = s.trim();
    if (/^\d{1,2}(\.\d+)?%$/.test(t)) {
      if (!(Number(t.slice(0, -1)) > 0)) ctx.addIssue({ code: 'custom', message: 'renewBefore as a percentage must be more than 0% (and below 100%)' });
      return;
    }
    const v = parseDuration(t);
    if (v === undefined) ctx.addIssue({ code: 'custom', message: 'renewBefore must be a duration (5m) or a percentage below 100 (33%)' });
    else if (v <= 0) ctx.addIssue({ code: 'custom', message: 'renewBefore must be more than zero' });
    else if (v > YEAR) ctx.addIssue({ code: 'custom', message: `renewBefore must be at most ${formatDuration(YEAR)}, got ${clip(t)}` });
  })
  .transform((s) => {
    const t = s.trim();
    return t.endsWith('%') ? { percent: Number(t.slice(0, -1)) } : { seconds: parseDuration(t)! };
  });

/** Echoed values stay short in messages. */
function clip(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * True for a listen host (server.listen, without its port) that only this machine can
 * reach: localhost, 127.0.0.0/8 and ::1, however written (0:0:0:0:0:0:0:1, 127.1,
 * ::ffff:127.0.0.1). The host is normalised as a URL host first, as the system resolves it.
 */
export function isLoopbackListenHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  let normal: string;
  try {
    normal = new URL(`http://${h.includes(':') ? `[${h}]` : h}/`).hostname;
  } catch {
    return false;
  }
  return isLoopbackHost(normal) || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(normal);
}

/** Where credentials belong instead of a URL's userinfo: callback URLs (`url` of a watch entry, `callback.url`) or account URLs. */
const CALLBACK_CREDENTIALS = "put credentials in the callback's auth token or headers instead";
const ACCOUNT_CREDENTIALS = "put credentials in the account's clientId/clientSecret or token fields instead";
const HOOK_CREDENTIALS = "put credentials in the hook's authToken (and authTokenHeader) instead";

/**
 * An https URL; plain http only for loopback hosts (local receivers and the sandboxes).
 * URLs carrying credentials (https://user:pass@host) are refused: they would end up in
 * logs, metrics and provider records. Nothing of the URL beyond scheme and host is echoed.
 */
export const httpsUrl = (what: string, max = 2048) =>
  z
    .string({ message: `${what} must be a URL (a string)` })
    .max(max, { message: `${what} must be at most ${max} characters` })
    .superRefine((s, ctx) => {
      // The URL parser silently drops tabs and newlines and trims spaces: a value holding
      // them is a pasting mistake, not the URL it would turn into.
      if (/[\u0000-\u0020\u007f-\u009f]/.test(s)) {
        ctx.addIssue({ code: 'custom', message: `${what} must not contain spaces or control characters` });
        return;
      }
      let u: URL;
      try {
        u = new URL(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: `${what} is not a valid URL` });
        return;
      }
      if (u.username !== '' || u.password !== '') {
        const callback = what === 'url' || what.startsWith('callback');
        const hint = callback ? CALLBACK_CREDENTIALS : what.startsWith('hooks.') ? HOOK_CREDENTIALS : ACCOUNT_CREDENTIALS;
        ctx.addIssue({ code: 'custom', message: `${what} must not contain credentials (user:password@): ${hint}` });
        return;
      }
      if (u.protocol === 'https:') return;
      if (u.protocol === 'http:' && isLoopbackHost(u.hostname)) return;
      ctx.addIssue({ code: 'custom', message: `${what} must use https (plain http only for loopback hosts), got ${u.protocol}//${clip(u.hostname, 253)}` });
    });

/** RFC 9110 field names are tokens. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 field values: visible characters, spaces and tabs inside; no CR, LF, NUL or other controls. */
const FIELD_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\t\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;
/** Set by HTTP itself, per message: configuring them would corrupt or smuggle requests. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'expect']);
export const HEADER_NAME_MAX = 256;
export const HEADER_VALUE_MAX = 8192;
export const HEADERS_MAX = 50;

/** Why a header name is unusable, or undefined. */
export function headerNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'a header name must not be empty';
  if (name.length > HEADER_NAME_MAX) return `a header name is at most ${HEADER_NAME_MAX} characters`;
  if (!TOKEN.test(name)) return `header name "${clip(JSON.stringify(name).slice(1, -1))}" is not a valid HTTP field name (letters, digits and !#$%&'*+-.^_\`|~ only)`;
  if (RESERVED_HEADERS.has(name.toLowerCase())) return `header ${name} is set by HTTP itself and cannot be configured`;
  return undefined;
}

/** Why a header value is unusable, or undefined. The value itself is never echoed: it is often a secret. */
export function headerValueProblem(value: string, max = HEADER_VALUE_MAX): string | undefined {
  if (value.length > max) return `is at most ${max} characters`;
  if (FIELD_VALUE.test(value)) return undefined;
  if (/[\r\n]/.test(value)) return 'must not contain line breaks (CR or LF): they would split the HTTP request';
  if (/^[\t ]|[\t ]$/.test(value)) return 'must not start or end with spaces or tabs';
  if (/[^\t\x20-\x7e\x80-\xff]/.test(value) && !/[\x00-\x1f\x7f]/.test(value)) return 'must hold only ASCII or Latin-1 characters';
  return 'must not contain control characters (NUL, escape…)';
}

/** A header name (RFC 9110 token), e.g. an auth token header. */
export const headerName = (what: string) =>
  z.string({ message: `${what} must be a header name (a string)` }).superRefine((s, ctx) => {
    const p = headerNameProblem(s);
    if (p) ctx.addIssue({ code: 'custom', message: `${what}: ${p}` });
  });

/** A value sent as, or inside, an HTTP header (tokens, passwords, app keys). */
export const headerValue = (what: string, max = HEADER_VALUE_MAX) =>
  z.string({ message: `${what} must be a string` }).superRefine((s, ctx) => {
    const p = headerValueProblem(s, max);
    if (p) ctx.addIssue({ code: 'custom', message: `${what} ${p}` });
  });

/** A map of extra headers: valid names, each once whatever its case, valid values, at most 50. */
export const headerMap = (what: string) =>
  z
    .record(z.string(), z.string({ message: `${what} values must be strings (quote numbers: "5")` }))
    .superRefine((h, ctx) => {
      const keys = Object.keys(h);
      if (keys.length > HEADERS_MAX) ctx.addIssue({ code: 'custom', message: `${what} takes at most ${HEADERS_MAX} headers` });
      const seen = new Map<string, string>();
      for (const k of keys) {
        const nameProblem = headerNameProblem(k);
        if (nameProblem) ctx.addIssue({ code: 'custom', path: [k], message: `${what}: ${nameProblem}` });
        const lower = k.toLowerCase();
        const before = seen.get(lower);
        if (before !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${what}: header ${k} is given twice (also as ${before}); header names ignore case` });
        else seen.set(lower, k);
        const valueProblem = headerValueProblem(h[k]!);
        if (valueProblem) ctx.addIssue({ code: 'custom', path: [k], message: `${what}: the value of ${clip(k)} ${valueProblem}` });
      }
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
    disableAfter: duration('disableAfter', { min: 1, max: YEAR }).default(8 * 3600),
    deleteAfter: duration('deleteAfter', { min: 1, max: YEAR }).default(7 * 86400),
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
