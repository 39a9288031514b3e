import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { errorFromResponse, expectJson, requestJson, type JsonResponse, type ProviderOperation, type RequestObserver } from '../../lib/http.js';
import type { TokenSource } from './oauth.js';

export interface BearerApiOptions {
  dispatcher: Dispatcher;
  /** Base URL every path is appended to. */
  apiUrl: string;
  tokens: TokenSource;
  timeoutMs: number;
  /** Extra headers on every call (AXP's appkey). */
  headers?: Record<string, string>;
  /** Prefix of every error message: "<kind> <account>". */
  label: string;
  /** The account's request metrics. */
  observe?: RequestObserver | undefined;
}

/** A JSON API behind an OAuth bearer token: one call, a fresh token once on 401, typed errors. */
export class BearerApi {
  constructor(protected readonly opts: BearerApiOptions) {}

  /** One call; `op` names it for the request metrics. */
  async call(op: ProviderOperation, method: Dispatcher.HttpMethod, path: string, json?: unknown, signal?: AbortSignal): Promise<JsonResponse> {
    const operation = this.operation(method, path);
    for (let attempt = 0; ; attempt++) {
      const token = await this.opts.tokens.get(signal);
      const res = await requestJson(this.opts.dispatcher, {
        method,
        url: this.opts.apiUrl + path,
        headers: { ...this.opts.headers, authorization: `Bearer ${token}` },
        ...(json !== undefined ? { json } : {}),
        ...(signal ? { signal } : {}),
        timeoutMs: this.opts.timeoutMs,
        operation,
        op,
        ...(this.opts.observe ? { observe: this.opts.observe } : {}),
      });
      if (res.status === 401 && attempt === 0) {
        this.opts.tokens.invalidate();
        continue;
      }
      return res;
    }
  }

  /** The body of a successful answer, validated; anything else a ProviderError naming the call. */
  expect<S extends z.ZodType>(res: JsonResponse, ok: number[], method: string, path: string, schema: S): z.output<S> {
    return expectJson(this.operation(method, path), res, ok, schema);
  }

  /** Deleting what is already gone (404) counts as done. */
  async delete(path: string, signal?: AbortSignal): Promise<void> {
    const res = await this.call('delete', 'DELETE', path, undefined, signal);
    if (res.status === 204 || res.status === 200 || res.status === 404) return;
    throw errorFromResponse(this.operation('DELETE', path), res);
  }

  /** "kind account: METHOD /path" with ids and the query left out, so messages group well. */
  protected operation(method: string, path: string): string {
    const shape = path.split('?')[0]!.replace(/\/[0-9a-fA-F-]{36}(?=[/:]|$)/g, '/{id}');
    return `${this.opts.label}: ${method} ${shape}`;
  }
}
