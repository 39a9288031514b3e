import { deadline } from '../lib/deadline.js';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import type { Clock } from '../lib/clock.js';
import type { Logger } from '../lib/logger.js';
import { errorMessage } from '../lib/errors.js';
import { derivedForms, displayUrl, REDACTED } from '../lib/scrub.js';
import { gapSeconds, hookRetryAt } from '../policy/gaps.js';
import type { GapRow, GapStore } from '../store/types.js';

/**
 * The backfill hook: when a coverage gap closes, one JSON document describing it is POSTed to
 * the configured URL, at least once. Deliveries are queued in Postgres (the gap's hook*
 * columns), retried with backoff until a 2xx, and survive restarts; the receiver
 * de-duplicates by the gap id, sent as `Idempotency-Key` and as the document's `id`.
 */

export const SIGNATURE_HEADER = 'x-hookwarden-signature';
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** No answer within this long is a failed attempt. */
export const HOOK_TIMEOUT_MS = 10_000;
/** At most this many hooks are in flight at once. */
export const HOOK_CONCURRENCY = 4;
/** At most this much of an answer's body is read (and a little of it kept in the record). */
const MAX_ANSWER_BYTES = 4096;
const MAX_ANSWER_TEXT = 200;

/** Where and how the hook of one gap is sent (config `hooks.gapClosed`, at the top or per subscription). */
export interface GapHookTarget {
  url: string;
  authToken?: string;
  /** The header that carries `authToken` as is; without it: `Authorization: Bearer <token>`. */
  authTokenHeader?: string;
  /** Signs the body: `X-Hookwarden-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`. */
  signingSecret?: string;
}

/** The document POSTed for one gap. Times are ISO 8601 in UTC. */
export interface GapDocument {
  /** The stable gap id: the key to de-duplicate by. */
  id: string;
  provider: string;
  name: string;
  subject: string;
  remoteId: string | null;
  previousRemoteId: string | null;
  cause: string;
  /** Every cause of the merged window this gap belongs to, when it overlapped others. */
  causes?: string[];
  confidence: string;
  from: string;
  /** null only for a gap still open (never sent by hookwarden itself). */
  to: string | null;
  seconds: number;
  events: string[];
}

export function gapDocument(row: GapRow, opts: { causes?: string[]; now?: Date } = {}): GapDocument {
  return {
    id: row.id,
    provider: row.provider,
    name: row.name,
    subject: row.subject,
    remoteId: row.remoteId,
    previousRemoteId: row.previousRemoteId,
    cause: row.cause,
    ...(opts.causes && opts.causes.length > 1 ? { causes: [...opts.causes] } : {}),
    confidence: row.confidence,
    from: row.from.toISOString(),
    to: row.to ? row.to.toISOString() : null,
    seconds: gapSeconds(row, opts.now ?? row.to ?? row.from),
    events: [...row.events],
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the signing secret. */
export function signBody(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * True when `header` is the signature of these exact body bytes. The comparison takes the same
 * time wherever the first difference is. A missing, malformed or repeated header fails.
 */
export function verifySignature(body: string | Uint8Array, header: string | string[] | undefined | null, secret: string): boolean {
  if (typeof header !== 'string') return false;
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const given = Buffer.from(m[1]!, 'hex');
  const expected = createHmac('sha256', secret).update(body).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The outcome of one attempt, as recorded. */
export interface HookOutcome {
  gap: GapRow;
  ok: boolean;
  status?: number;
  error?: string;
  /** When it is tried again; none when delivered or given up. */
  nextAttemptAt?: Date;
}

export interface DeliverSummary {
  attempted: number;
  delivered: number;
  failed: number;
  /** Set when the due hooks could not be read (the database is away): nothing was sent. */
  error?: string;
}

export interface GapHookSenderOptions {
  store: Pick<GapStore, 'dueHooks' | 'recordHookAttempt'>;
  /** Injected, never global. */
  dispatcher: Dispatcher;
  /** The hook of a gap (its subscription's own, else the top-level one); undefined when none is configured any more. */
  resolve: (row: GapRow) => GapHookTarget | undefined;
  clock: Clock;
  /** Uniform in [0, 1): backoff jitter. */
  rand?: () => number;
  logger?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  /** Hooks in flight at once (default 4). */
  concurrency?: number;
  /** Hooks claimed per call of deliverDue (default 4 × concurrency). */
  batch?: number;
  timeoutMs?: number;
  /** Hears every attempt (metrics). Must not throw; if it does, the error is ignored. */
  onAttempt?: (o: HookOutcome) => void;
}

/**
 * Sends the backfill hooks that are due. A hook that stays down never blocks anything else:
 * deliverDue never throws, each attempt is bounded by a timeout, and a failure only moves the
 * gap's next attempt (exponential backoff with full jitter, 5 s to 10 min).
 */
export class GapHookSender {
  readonly #o: GapHookSenderOptions;

  constructor(opts: GapHookSenderOptions) {
    this.#o = opts;
  }

  async deliverDue(signal?: AbortSignal): Promise<DeliverSummary> {
    const summary: DeliverSummary = { attempted: 0, delivered: 0, failed: 0 };
    if (signal?.aborted) return summary;
    const concurrency = Math.max(1, this.#o.concurrency ?? HOOK_CONCURRENCY);
    const batch = Math.max(1, this.#o.batch ?? concurrency * 4);
    const timeoutMs = this.#o.timeoutMs ?? HOOK_TIMEOUT_MS;
    // A claim outlasts the slowest the batch can take, so another replica does not send these meanwhile.
    const claimSeconds = Math.ceil((Math.ceil(batch / concurrency) * timeoutMs) / 1000) + 30;
    let due: GapRow[];
    try {
      due = await this.#o.store.dueHooks(this.#o.clock.now(), batch, claimSeconds);
    } catch (err) {
      summary.error = `reading due backfill hooks failed: ${safeError(err)}`;
      this.#o.logger?.warn({ err: summary.error }, 'backfill hooks not sent this time');
      return summary;
    }
    let next = 0;
    const worker = async () => {
      while (next < due.length) {
        const row = due[next++]!;
        const outcome = await this.#deliver(row, timeoutMs, signal);
        summary.attempted++;
        if (outcome.ok) summary.delivered++;
        else summary.failed++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, due.length) }, worker));
    return summary;
  }

  /** One attempt for one gap, recorded; never throws. */
  async #deliver(row: GapRow, timeoutMs: number, signal?: AbortSignal): Promise<HookOutcome> {
    let outcome: HookOutcome;
    let target: GapHookTarget | undefined;
    try {
      target = this.#o.resolve(row);
    } catch {
      target = undefined;
    }
    if (!target) {
      // The config no longer has a hook for it: given up, visibly; `gaps --replay` sends it once one is configured again.
      outcome = { gap: row, ok: false, error: 'no backfill hook is configured for this gap' };
    } else if (signal?.aborted) {
      outcome = { gap: row, ok: false, error: 'not sent: hookwarden is stopping', nextAttemptAt: this.#o.clock.now() };
    } else {
      const r = await send(this.#o.dispatcher, target, row, timeoutMs, signal);
      outcome = r.ok
        ? { gap: row, ok: true, status: r.status! }
        : {
            gap: row,
            ok: false,
            ...(r.status !== undefined ? { status: r.status } : {}),
            error: r.error!,
            nextAttemptAt: r.aborted ? this.#o.clock.now() : hookRetryAt(row.hookAttempts + 1, this.#o.clock.now(), this.#rand()),
          };
    }
    const at = this.#o.clock.now();
    try {
      await this.#o.store.recordHookAttempt(row.id, {
        at,
        ok: outcome.ok,
        ...(outcome.status !== undefined ? { status: outcome.status } : {}),
        ...(outcome.error !== undefined ? { error: outcome.error } : {}),
        ...(outcome.nextAttemptAt ? { nextAttemptAt: outcome.nextAttemptAt } : {}),
      });
    } catch (err) {
      // Unrecorded: the claim runs out and the hook is sent again (the receiver de-duplicates).
      this.#o.logger?.warn({ gap: row.id, err: safeError(err) }, 'recording a backfill hook attempt failed');
    }
    const log = { gap: row.id, provider: row.provider, name: row.name, cause: row.cause, attempt: row.hookAttempts + 1, status: outcome.status, ...(target ? { url: displayUrl(target.url) } : {}) };
    if (outcome.ok) this.#o.logger?.info(log, 'backfill hook delivered');
    else this.#o.logger?.warn({ ...log, err: outcome.error, nextAttemptAt: outcome.nextAttemptAt?.toISOString() }, outcome.nextAttemptAt ? 'backfill hook failed; will retry' : 'backfill hook given up');
    try {
      this.#o.onAttempt?.(outcome);
    } catch {
      // A listener's bug must not stop deliveries.
    }
    return outcome;
  }

  #rand(): number {
    return (this.#o.rand ?? Math.random)();
  }
}

interface SendResult {
  ok: boolean;
  status?: number;
  error?: string;
  /** Cut short by the caller's signal (shutting down), not by the hook. */
  aborted?: boolean;
}

/** The exact request of one attempt: body, signature, idempotency key, auth. */
export function hookRequest(target: GapHookTarget, row: GapRow): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(gapDocument(row));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'hookwarden-backfill/0.1', [IDEMPOTENCY_HEADER]: row.id };
  if (target.signingSecret) headers[SIGNATURE_HEADER] = signBody(body, target.signingSecret);
  if (target.authToken) {
    if (target.authTokenHeader) headers[target.authTokenHeader.toLowerCase()] = target.authToken;
    else headers.authorization = `Bearer ${target.authToken}`;
  }
  return { body, headers };
}

async function send(dispatcher: Dispatcher, target: GapHookTarget, row: GapRow, timeoutMs: number, signal?: AbortSignal): Promise<SendResult> {
  const secrets = [target.authToken, target.signingSecret].filter((s): s is string => typeof s === 'string' && s.length > 0);
  const clean = (text: string) => withoutSecrets(text, secrets);
  const timeout = deadline(timeoutMs, signal);
  try {
    const { body, headers } = hookRequest(target, row);
    const res = await request(target.url, {
      dispatcher,
      method: 'POST',
      headers,
      body,
      signal: timeout.signal,
    });
    const answer = await readSome(res.body);
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
    const text = answer.replace(/\s+/g, ' ').trim();
    return { ok: false, status: res.statusCode, error: clean(`HTTP ${res.statusCode}${text ? `: ${text.slice(0, MAX_ANSWER_TEXT)}` : ''}`) };
  } catch (err) {
    if (timeout.timedOut) return { ok: false, error: `no answer within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}` };
    if (signal?.aborted) return { ok: false, error: 'cut short: hookwarden is stopping', aborted: true };
    return { ok: false, error: clean(networkError(err)) };
  } finally {
    timeout.dispose();
  }
}

/** Up to MAX_ANSWER_BYTES of the body as text; the rest is discarded. */
async function readSome(body: Dispatcher.ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const c of body) {
      const b = c as Buffer;
      if (size < MAX_ANSWER_BYTES) chunks.push(b.subarray(0, MAX_ANSWER_BYTES - size));
      size += b.length;
      if (size >= MAX_ANSWER_BYTES) break;
    }
  } catch {
    // A body cut short still has its status.
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Why a request got no answer, from its code only: no URL, header or body ever appears here. */
function networkError(err: unknown): string {
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e?.code === 'string' ? e.code : typeof e?.cause?.code === 'string' ? e.cause.code : '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return `connection reset (${code})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `DNS lookup failed (${code})`;
  if (code === 'UND_ERR_INVALID_ARG' || code === 'ERR_INVALID_URL') return `the request could not be made (${code})`;
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code)) return `TLS: ${code}`;
  return code ? `network error (${code})` : 'network error';
}

function withoutSecrets(text: string, secrets: string[]): string {
  let out = text;
  // Every form a secret can take in text (raw, base64, URL- and JSON-escaped…), longest first.
  const forms = [...new Set(secrets.flatMap((s) => [s, ...derivedForms(s)]))].sort((a, b) => b.length - a.length);
  for (const f of forms) out = out.split(f).join(REDACTED);
  return out;
}

/** A store error's message (the database's own words, scrubbed): it never holds a hook's secrets. */
function safeError(err: unknown): string {
  return errorMessage(err);
}
