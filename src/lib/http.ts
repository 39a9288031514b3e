import { Agent, interceptors, request, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { ProviderError, classifyStatus, type ProblemDetails } from './errors.js';

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
    /** Sees the status of every attempt, retries included (request and 429 counters). */
    observe?: (status: number) => void;
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
  // compose(inner, outer): the observer sits below the retries, so it sees every attempt.
  return opts.observe ? agent.compose(observeStatus(opts.observe), retry) : agent.compose(retry);
}

/** An interceptor that reports the status of every response passing through it. */
function observeStatus(observe: (status: number) => void): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) =>
    dispatch(
      options,
      new Proxy(handler, {
        get(target, prop) {
          const value = Reflect.get(target, prop);
          if (typeof value !== 'function') return value;
          if (prop === 'onResponseStart') return (c: unknown, status: number, ...rest: unknown[]) => (observe(status), value.call(target, c, status, ...rest));
          if (prop === 'onHeaders') return (status: number, ...rest: unknown[]) => (observe(status), value.call(target, status, ...rest));
          return value.bind(target);
        },
      }),
    );
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
}

export interface JsonResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** One HTTP call; network failures and timeouts become ProviderErrors, any status is returned. */
export async function requestJson(dispatcher: Dispatcher, req: JsonRequest): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...req.headers };
  let body: string | undefined;
  if (req.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(req.json);
  } else if (req.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(req.form).toString();
  }
  const timeout = AbortSignal.timeout(req.timeoutMs);
  const signal = req.signal ? AbortSignal.any([req.signal, timeout]) : timeout;
  let res: Dispatcher.ResponseData;
  try {
    res = await request(req.url, { dispatcher, method: req.method, headers, body, signal });
  } catch (err) {
    if (timeout.aborted) {
      throw new ProviderError('PROVIDER_TIMEOUT', `${req.operation}: no answer within ${req.timeoutMs} ms`, 'retryable', { operation: req.operation }, { cause: err });
    }
    if (req.signal?.aborted) throw err;
    const code = (err as { code?: string }).code ?? 'network error';
    throw new ProviderError('PROVIDER_NETWORK', `${req.operation}: ${code}: ${(err as Error).message}`, 'retryable', { operation: req.operation }, { cause: err });
  }
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw new ProviderError('PROVIDER_NETWORK', `${req.operation}: reading the answer failed: ${(err as Error).message}`, 'retryable', { operation: req.operation }, { cause: err });
  }
  let parsed: unknown = undefined;
  if (text.length > 0) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text.length > 300 ? `${text.slice(0, 300)}…` : text;
    }
  }
  return { status: res.statusCode, headers: res.headers, body: parsed };
}

/** A non-2xx answer as a ProviderError, reading an RFC 7807 problem body when there is one. */
export function errorFromResponse(operation: string, res: JsonResponse): ProviderError {
  const { code, retry } = classifyStatus(res.status);
  const problem = isProblem(res.body) ? (res.body as ProblemDetails) : undefined;
  const retryAfter = Number(first(res.headers['retry-after']));
  // RFC 7807 problems (Avaya), or {"message": "..."} (Dixa), or plain text.
  const message = (res.body as { message?: unknown } | undefined)?.message;
  let text = problem ? [problem.title, problem.detail].filter(Boolean).join(': ') : typeof message === 'string' ? message : typeof res.body === 'string' ? res.body : '';
  const violations = problem?.violations?.map((v) => `${v.field ?? '?'} ${v.message ?? ''}`.trim());
  if (violations?.length) text += ` (${violations.join('; ')})`;
  return new ProviderError(code, `${operation}: HTTP ${res.status}${text ? ` ${text}` : ''}`, retry, {
    status: res.status,
    operation,
    ...(problem ? { problem } : {}),
    ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
  });
}

function isProblem(body: unknown): boolean {
  return typeof body === 'object' && body !== null && ('title' in body || 'detail' in body || 'type' in body);
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The body of a successful answer, validated against its schema; anything else a ProviderError naming the call and the field. */
export function expectJson<S extends z.ZodType>(operation: string, res: JsonResponse, ok: number[], schema: S): z.output<S> {
  if (!ok.includes(res.status)) throw errorFromResponse(operation, res);
  const parsed = schema.safeParse(res.body);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new ProviderError('PROVIDER_BAD_RESPONSE', `${operation}: unexpected response body: ${where}`, 'retryable', { status: res.status, operation });
  }
  return parsed.data;
}
