import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { ProviderError } from '../../lib/errors.js';
import { errorFromResponse, requestJson, type JsonResponse } from '../../lib/http.js';
import type { TokenSource } from './auth.js';
import { wirePage, wireSubscription, type CreateSubscriptionBody, type WireSubscription } from './mapping.js';

/** The Infinity Notifications API (/api/events/v1), one method per operation. */
export class InfinityClient {
  constructor(
    private readonly opts: {
      dispatcher: Dispatcher;
      apiUrl: string;
      tokens: TokenSource;
      timeoutMs: number;
      pageSize: number;
      /** Prefix of every error message: "<kind> <account>". */
      label: string;
    },
  ) {}

  async create(body: CreateSubscriptionBody, signal?: AbortSignal): Promise<WireSubscription> {
    const res = await this.#call('POST', '/subscriptions', body, signal);
    return this.#expect(res, [201, 200], 'POST /subscriptions', wireSubscription);
  }

  async listPage(pageNumber: number, signal?: AbortSignal) {
    const path = `/subscriptions?pageNumber=${pageNumber}&pageSize=${this.opts.pageSize}`;
    const res = await this.#call('GET', path, undefined, signal);
    return this.#expect(res, [200], `GET ${path}`, wirePage);
  }

  /** Every page. Stops at the last page (links.next blank, totalPages reached or a short page). */
  async listAll(signal?: AbortSignal): Promise<WireSubscription[]> {
    const all: WireSubscription[] = [];
    for (let page = 1; page <= 1000; page++) {
      const p = await this.listPage(page, signal);
      all.push(...p.subscriptions);
      const totalPages = p.pagination?.totalPages;
      const last =
        p.subscriptions.length < this.opts.pageSize ||
        (totalPages !== undefined && page >= totalPages) ||
        (p.links !== undefined && !p.links.next);
      if (last) break;
    }
    return all;
  }

  /** undefined when the provider answers 404. */
  async get(id: string, signal?: AbortSignal): Promise<WireSubscription | undefined> {
    const res = await this.#call('GET', `/subscriptions/${encodeURIComponent(id)}`, undefined, signal);
    if (res.status === 404) return undefined;
    return this.#expect(res, [200], 'GET /subscriptions/{id}', wireSubscription);
  }

  async patch(id: string, body: Partial<CreateSubscriptionBody>, signal?: AbortSignal): Promise<WireSubscription> {
    const res = await this.#call('PATCH', `/subscriptions/${encodeURIComponent(id)}`, body, signal);
    return this.#expect(res, [200], 'PATCH /subscriptions/{id}', wireSubscription);
  }

  async renew(id: string, body?: { transport: { authToken: string } }, signal?: AbortSignal): Promise<WireSubscription> {
    const res = await this.#call('POST', `/subscriptions/${encodeURIComponent(id)}:renew`, body, signal);
    return this.#expect(res, [200], 'POST /subscriptions/{id}:renew', wireSubscription);
  }

  /** Deleting what is already gone (404) counts as done. */
  async delete(id: string, signal?: AbortSignal): Promise<void> {
    const res = await this.#call('DELETE', `/subscriptions/${encodeURIComponent(id)}`, undefined, signal);
    if (res.status === 204 || res.status === 200 || res.status === 404) return;
    throw errorFromResponse(`${this.opts.label}: DELETE /subscriptions/{id}`, res);
  }

  /** One call with the bearer token; on 401 the token is fetched again and the call made once more. */
  async #call(method: Dispatcher.HttpMethod, path: string, json: unknown, signal?: AbortSignal): Promise<JsonResponse> {
    const operation = `${this.opts.label}: ${method} ${path.split('?')[0]}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.opts.tokens.get(signal);
      const res = await requestJson(this.opts.dispatcher, {
        method,
        url: this.opts.apiUrl + path,
        headers: { authorization: `Bearer ${token}` },
        ...(json !== undefined ? { json } : {}),
        ...(signal ? { signal } : {}),
        timeoutMs: this.opts.timeoutMs,
        operation,
      });
      if (res.status === 401 && attempt === 0) {
        this.opts.tokens.invalidate();
        continue;
      }
      return res;
    }
  }

  #expect<S extends z.ZodType>(res: JsonResponse, ok: number[], what: string, schema: S): z.output<S> {
    const operation = `${this.opts.label}: ${what}`;
    if (!ok.includes(res.status)) throw errorFromResponse(operation, res);
    const parsed = schema.safeParse(res.body);
    if (!parsed.success) {
      const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
      throw new ProviderError('PROVIDER_BAD_RESPONSE', `${operation}: unexpected response body: ${where}`, 'retryable', { status: res.status, operation });
    }
    return parsed.data;
  }
}
