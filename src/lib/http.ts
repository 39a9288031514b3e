import { deadline, type Deadline } from './deadline.js';
import { createRequire } from 'node:module';
import { scrub } from './scrub.js';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { captureSendWindow, checkSendWindow, notSent } from './send-window.js';
import type { z } from 'zod';
import { ProviderError, classifyStatus, type ProblemDetails } from './errors.js';

/**
 * undici's parser of RFC 9110 HTTP-dates (IMF-fixdate, RFC 850, asctime), the one its cache
 * uses. It is not in undici's typed entry point, so it is loaded by path; a test pins it.
 * Should a later undici move it, IMF-fixdate (the format servers send) still parses.
 */
const parseHttpDate: (date: string) => Date | undefined = (() => {
  try {
    return (createRequire(import.meta.url)('undici/lib/util/date.js') as { parseHttpDate: (date: string) => Date | undefined }).parseHttpDate;
  } catch {
    return (date: string) => (/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(date) ? new Date(Date.parse(date)) : undefined);
  }
})();

/** The provider calls, a fixed set: the `operation` label of the provider request metrics. */
export const PROVIDER_OPERATIONS = ['list', 'get', 'create', 'update', 'renew', 'reenable', 'delete', 'token', 'deliveries', 'delivery-logs'] as const;
export type ProviderOperation = (typeof PROVIDER_OPERATIONS)[number];

/**
 * What became of one request attempt: the class of its answer's status, or how it failed
 * without one (`timeout`: no answer in time; `network`: connection refused, reset, DNS…;
 * `aborted`: the caller gave up, at shutdown or a pass deadline).
 */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'timeout', 'network', 'aborted'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface RequestAttempt {
  op: ProviderOperation;
  statusClass: StatusClass;
  /** The HTTP status, when an answer came. */
  status?: number;
  /** From the attempt leaving to its answer's headers (or its failure). */
  seconds: number;
}

/** Told of every attempt of a request that left the process, retries included. */
export type RequestObserver = (attempt: RequestAttempt) => void;

export function statusClass(status: number): StatusClass {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? (`${c}xx` as StatusClass) : '5xx';
}

/** How an attempt that got no answer failed. */
function failureClass(err: unknown): StatusClass {
  const e = err as { name?: string; code?: string } | undefined;
  if (e?.name === 'TimeoutError' || e?.code === 'UND_ERR_CONNECT_TIMEOUT' || e?.code === 'UND_ERR_HEADERS_TIMEOUT' || e?.code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  if (e?.name === 'AbortError' || e?.code === 'UND_ERR_ABORTED') return 'aborted';
  return 'network';
}

/** A request's metering, carried in its dispatch options so that retries (dispatched later, from socket callbacks) carry it too. */
interface Meter {
  op: ProviderOperation;
  observe: RequestObserver;
  /** Attempts the dispatcher reported; none means a dispatcher without the meter (requestJson then reports the request as one). */
  attempts: number;
}
const METER = Symbol('hookwarden.meter');

/**
 * The one HTTP dispatcher of a process, injected into every provider (never global).
 * Idempotent calls are retried by undici's retry interceptor on 429/502/503/504 and
 * connection errors, honouring Retry-After; POST is never retried here (a retried create
 * could duplicate: the reconciler adopts instead).
 */
export function createDispatcher(
  opts: {
    maxRetries?: number;
    maxRetryWaitMs?: number;
    methods?: Dispatcher.HttpMethod[];
    statusCodes?: number[];
    errorCodes?: string[];
  } = {},
): Dispatcher {
  const retry = interceptors.retry({
    maxRetries: opts.maxRetries ?? 2,
    minTimeout: 250,
    maxTimeout: opts.maxRetryWaitMs ?? 10_000,
    timeoutFactor: 2,
    methods: opts.methods ?? ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'],
    statusCodes: opts.statusCodes ?? [429, 502, 503, 504],
    errorCodes: opts.errorCodes ?? ['ECONNRESET', 'ECONNREFUSED', 'ENOTFOUND', 'ENETDOWN', 'ENETUNREACH', 'EHOSTDOWN', 'EHOSTUNREACH', 'EPIPE', 'UND_ERR_SOCKET'],
    throwOnError: false,
  });
  const agent = new Agent({ connections: 32, keepAliveTimeout: 10_000, connectTimeout: 10_000 });
  // compose(inner, outer): the meter sits below the retries, so it sees every attempt.
  // The send window is checked innermost (every attempt, retries included) and bound outermost.
  return agent.compose(checkSendWindow(), meterAttempts(), retry, captureSendWindow());
}

/**
 * An interceptor that reports every attempt of a metered request: its status class when
 * the answer's headers arrive, or how it failed without an answer. An attempt refused
 * before it left (a closed send window) is not reported: nothing was sent.
 */
function meterAttempts(): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const meter = (options as unknown as Record<symbol, unknown>)[METER] as Meter | undefined;
    if (!meter) return dispatch(options, handler);
    const started = performance.now();
    let done = false;
    const report = (cls: StatusClass, status?: number) => {
      if (done) return;
      done = true;
      meter.attempts++;
      meter.observe({ op: meter.op, statusClass: cls, ...(status !== undefined ? { status } : {}), seconds: (performance.now() - started) / 1000 });
    };
    const wrapped = new Proxy(handler, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== 'function') return value;
        if (prop === 'onResponseStart') return (c: unknown, status: number, ...rest: unknown[]) => (report(statusClass(status), status), value.call(target, c, status, ...rest));
        if (prop === 'onHeaders') return (status: number, ...rest: unknown[]) => (report(statusClass(status), status), value.call(target, status, ...rest));
        if (prop === 'onResponseError') return (c: unknown, err: unknown) => (report(failureClass(err)), value.call(target, c, err));
        if (prop === 'onError') return (err: unknown) => (report(failureClass(err)), value.call(target, err));
        return value.bind(target);
      },
    });
    return dispatch(options, wrapped);
  };
}

export interface JsonRequest {
  method: Dispatcher.HttpMethod;
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
  form?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs: number;
  /** Names the call in errors, e.g. "avaya-infinity infinity: GET /subscriptions". */
  operation: string;
  /** Which provider call this is, for the request metrics (with `observe`). */
  op?: ProviderOperation;
  /** Told of every attempt of this request, retries included (the account's request metrics). */
  observe?: RequestObserver;
  /** Answers larger than this are refused (PROVIDER_BAD_RESPONSE); default 1 MiB. */
  maxBodyBytes?: number;
  /** The clock that stamps `receivedAt`; default the system clock. */
  now?: () => Date;
}

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /** When the answer's headers arrived: what a relative Retry-After or expiresIn counts from. */
  receivedAt: Date;
}

/** No provider answer we read comes near this; a larger one is a fault, not data. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** JSON nested deeper than this is no provider answer; refusing it keeps later walks (hashing, mapping) safe. */
export const MAX_JSON_DEPTH = 64;
/** Retry-After beyond this is treated as this: a provider never asks for more than a day's pause. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;
/** Text from an answer that goes into an error message is cut to this. */
export const MAX_MESSAGE_TEXT = 300;

/** One HTTP call; network failures, timeouts and unusable bodies become ProviderErrors, any status is returned. */
export async function requestJson(dispatcher: Dispatcher, req: JsonRequest): Promise<JsonResponse> {
  const timeout = deadline(req.timeoutMs, req.signal);
  try {
    return await requestJsonWithin(dispatcher, req, timeout);
  } finally {
    timeout.dispose();
  }
}

async function requestJsonWithin(dispatcher: Dispatcher, req: JsonRequest, timeout: Deadline): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...req.headers };
  let body: string | undefined;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else if (req.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.form).toString();
  }
  const maxBytes = req.maxBodyBytes ?? MAX_BODY_BYTES;
  const signal = timeout.signal;
  const failed = (err: unknown, what: string): ProviderError => {
    if (timeout.timedOut && !req.signal?.aborted) {
      return new ProviderError('PROVIDER_TIMEOUT', `${req.operation}: no answer within ${req.timeoutMs} ms`, 'retryable', { operation: req.operation }, { cause: err });
    }
    const code = (err as { code?: string } | undefined)?.code ?? 'network error';
    return new ProviderError('PROVIDER_NETWORK', `${req.operation}: ${what}${code}: ${clip(errorText(err))}`, 'retryable', { operation: req.operation }, { cause: err });
  };
  const meter: Meter | undefined = req.op && req.observe ? { op: req.op, observe: req.observe, attempts: 0 } : undefined;
  const started = performance.now();
  // A dispatcher without the meter (an injected one) reported no attempt: the request counts as one.
  const reportWhole = (cls: StatusClass, status?: number) => {
    if (meter && meter.attempts === 0) meter.observe({ op: meter.op, statusClass: cls, ...(status !== undefined ? { status } : {}), seconds: (performance.now() - started) / 1000 });
  };
  let res: Dispatcher.ResponseData;
  try {
    // The meter rides in the dispatch options (undici passes them on to every attempt).
    const options = { dispatcher, method: req.method, headers, body, signal };
    if (meter) Object.assign(options, { [METER]: meter });
    res = await request(req.url, options);
  } catch (err) {
    // The caller's own abort (shutdown, a pass deadline) is not a provider failure; nor is a
    // write refused before it left because this replica may no longer hold the account.
    if (notSent(err)) throw err;
    if (req.signal?.aborted) {
      reportWhole('aborted');
      throw err;
    }
    reportWhole(timeout.timedOut ? 'timeout' : failureClass(err));
    throw failed(err, '');
  }
  reportWhole(statusClass(res.statusCode), res.statusCode);
  const receivedAt = (req.now ?? (() => new Date()))();
  const tooLarge = (size: string) =>
    new ProviderError('PROVIDER_BAD_RESPONSE', `${req.operation}: HTTP ${res.statusCode} answer larger than ${maxBytes} bytes${size}`, 'retryable', { status: res.statusCode, operation: req.operation });
  const declared = Number(first(res.headers['content-length']));
  if (Number.isFinite(declared) && declared > maxBytes) {
    // Not read at all: destroying the body closes the connection instead of draining it.
    abandon(res.body);
    throw tooLarge(` (${declared} declared)`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        abandon(res.body);
        throw tooLarge('');
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    abandon(res.body);
    if (req.signal?.aborted) throw err;
    throw failed(err, 'reading the answer failed: ');
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  let parsed: unknown = undefined;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = clip(text);
    }
    if (deeperThan(parsed, MAX_JSON_DEPTH)) {
      throw new ProviderError('PROVIDER_BAD_RESPONSE', `${req.operation}: HTTP ${res.statusCode} answer nests deeper than ${MAX_JSON_DEPTH} levels`, 'retryable', { status: res.statusCode, operation: req.operation });
    }
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, receivedAt };
}

/**
 * Stops reading a body and closes its connection. undici reports a destroyed body as an
 * 'error' event (UND_ERR_ABORTED); with no listener left that would be an uncaught exception.
 */
function abandon(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Whether a parsed JSON value nests deeper than `max`, checked without recursion. */
function deeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/** A non-2xx answer as a ProviderError, reading an RFC 7807 problem body when there is one. */
export function errorFromResponse(operation: string, res: JsonResponse): ProviderError {
  const { code, retry } = classifyStatus(res.status);
  const problem = isProblem(res.body) ? shortProblem(res.body as Record<string, unknown>) : undefined;
  const retryAfter = parseRetryAfter(first(res.headers['retry-after']), res.receivedAt, first(res.headers.date));
  // RFC 7807 problems (Avaya), or {"message": "..."} (Dixa), or plain text.
  const message = (res.body as { message?: unknown } | null | undefined)?.message;
  let text = problem ? [problem.title, problem.detail].filter(Boolean).join(': ') : typeof message === 'string' ? message : typeof res.body === 'string' ? res.body : '';
  const violations = problem?.violations?.map((v) => `${v.field ?? '?'} ${v.message ?? ''}`.trim());
  if (violations?.length) text += ` (${violations.join('; ')})`;
  text = clip(text);
  return new ProviderError(code, `${operation}: HTTP ${res.status}${text ? ` ${text}` : ''}`, retry, {
    status: res.status,
    operation,
    ...(problem ? { problem } : {}),
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
  });
}

/**
 * Retry-After (RFC 9110 section 10.2.3) in seconds: delta-seconds, or an HTTP-date. A date is
 * measured against the answer's own Date header when it has a valid one, so a provider
 * whose clock is off still gets the pause it meant; else against the receipt time. Anything
 * unreadable (negative, fractional, "abc", 1e300, digits beyond any number) is ignored; a date in the past means 0;
 * the result never exceeds a day.
 */
export function parseRetryAfter(value: string | undefined, receivedAt: Date, dateHeader?: string): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? Math.min(n, MAX_RETRY_AFTER_SECONDS) : undefined;
  }
  const at = httpDate(v);
  if (at === undefined) return undefined;
  const reference = (dateHeader !== undefined ? httpDate(dateHeader.trim()) : undefined) ?? receivedAt.getTime();
  if (!Number.isFinite(reference)) return undefined;
  const seconds = Math.ceil((at - reference) / 1000);
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/** Milliseconds of an HTTP-date in any of RFC 9110's three formats (undici's own parser), or undefined. */
function httpDate(s: string): number | undefined {
  if (s.length > 64) return undefined;
  const t = parseHttpDate(s)?.getTime();
  return t !== undefined && Number.isFinite(t) ? t : undefined;
}

function isProblem(body: unknown): boolean {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && ('title' in body || 'detail' in body || 'type' in body);
}

/** A problem body as kept on the error: its known fields only, strings cut short, a few violations. */
function shortProblem(b: Record<string, unknown>): ProblemDetails {
  const str = (v: unknown) => (typeof v === 'string' ? clip(v) : undefined);
  const p: ProblemDetails = {};
  if (typeof b.type === 'string') p.type = clip(b.type);
  if (b.title !== undefined) p.title = str(b.title) ?? null;
  if (typeof b.status === 'number' && Number.isFinite(b.status)) p.status = b.status;
  if (b.detail !== undefined) p.detail = str(b.detail) ?? null;
  if (Array.isArray(b.violations)) {
    p.violations = b.violations.slice(0, 10).flatMap((v: unknown) => {
      if (typeof v !== 'object' || v === null) return [];
      const o = v as Record<string, unknown>;
      return [{ ...(typeof o.field === 'string' ? { field: clip(o.field, 100) } : {}), ...(typeof o.message === 'string' ? { message: clip(o.message, 100) } : {}), ...(typeof o.code === 'number' ? { code: o.code } : {}) }];
    });
  }
  return p;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Text from a provider, fit for one log line: control characters (CR, LF…) become spaces, and it is cut short. */
export function clip(text: string, max = MAX_MESSAGE_TEXT): string {
  // Scrubbed before it is cut: a cut through a secret would leave its first part behind.
  const flat = scrub(text).replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The body of a successful answer, validated against its schema; anything else a ProviderError naming the call and the field. */
export function expectJson<S extends z.ZodType>(operation: string, res: JsonResponse, ok: number[], schema: S): z.output<S> {
  if (!ok.includes(res.status)) throw errorFromResponse(operation, res);
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const where = issues.slice(0, 3).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') + (issues.length > 3 ? ` (and ${issues.length - 3} more)` : '');
    throw new ProviderError('PROVIDER_BAD_RESPONSE', `${operation}: unexpected response body: ${clip(where)}`, 'retryable', { status: res.status, operation });
  }
  return parsed.data;
}
