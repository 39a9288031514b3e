import type { Dispatcher } from 'undici';
import type { Clock } from '../../lib/clock.js';
import { ProviderError } from '../../lib/errors.js';
import { clip, errorFromResponse, requestJson, type RequestObserver } from '../../lib/http.js';
import { scrubber } from '../../lib/scrub.js';
import { wireToken } from './wire.js';

/**
 * OAuth2 client-credentials token, cached and refreshed before it expires (a tenth of its
 * lifetime early, 30 s at least); concurrent callers share one request; a 401 from the API
 * invalidates it so the next call fetches a fresh one.
 */
export class TokenSource {
  #token: { value: string; refreshAt: number } | undefined;
  #inflight: Promise<string> | undefined;

  constructor(
    private readonly opts: {
      dispatcher: Dispatcher;
      clock: Clock;
      tokenUrl: string;
      form: Record<string, string>;
      headers?: Record<string, string>;
      timeoutMs: number;
      operation: string;
      /** The account's request metrics. */
      observe?: RequestObserver | undefined;
    },
  ) {}

  async get(signal?: AbortSignal): Promise<string> {
    const now = this.opts.clock.now().getTime();
    if (this.#token && now < this.#token.refreshAt) return this.#token.value;
    this.#inflight ??= this.#fetch(signal).finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  invalidate(): void {
    this.#token = undefined;
  }

  async #fetch(signal?: AbortSignal): Promise<string> {
    const operation = `${this.opts.operation}: POST token`;
    const res = await requestJson(this.opts.dispatcher, {
      method: 'POST',
      url: this.opts.tokenUrl,
      form: this.opts.form,
      ...(this.opts.headers ? { headers: this.opts.headers } : {}),
      ...(signal ? { signal } : {}),
      timeoutMs: this.opts.timeoutMs,
      operation,
      op: 'token',
      ...(this.opts.observe ? { observe: this.opts.observe } : {}),
    });
    if (res.status !== 200) {
      const err = errorFromResponse(operation, res);
      // Token errors are OAuth bodies ({error, error_description}), not problem+json.
      const oauth = res.body as { error?: string; error_description?: string } | undefined;
      const why = oauth?.error ? clip(`${oauth.error}${oauth.error_description ? `: ${oauth.error_description}` : ''}`) : err.message;
      if (res.status === 400 || res.status === 401 || res.status === 403) {
        throw new ProviderError('PROVIDER_AUTH_FAILED', `${operation}: HTTP ${res.status} ${why}`, 'auth', { status: res.status, operation });
      }
      throw err;
    }
    const parsed = wireToken.safeParse(res.body);
    if (!parsed.success) {
      throw new ProviderError('PROVIDER_BAD_RESPONSE', `${operation}: unexpected token response: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`, 'retryable', { operation });
    }
    const lifetimeMs = parsed.data.expires_in * 1000;
    const early = Math.max(30_000, lifetimeMs / 10);
    // An issued token is a secret too: it is scrubbed from anything written from now on.
    scrubber.add(parsed.data.access_token, { slot: `oauth ${this.opts.tokenUrl} ${this.opts.form.client_id ?? ''}` });
    this.#token = { value: parsed.data.access_token, refreshAt: this.opts.clock.now().getTime() + Math.max(lifetimeMs - early, lifetimeMs / 2) };
    return parsed.data.access_token;
  }
}
