/**
 * Fault injection for the provider sandboxes. Faults are matched in order by method and
 * path. A fault fires `count` times (default 1); with `probability` it fires on that share
 * of the matching calls, `count` times at most when given, without end otherwise.
 */
export interface Fault {
  method?: string;
  /** Substring or regular expression source matched against the path (query excluded). */
  path?: string;
  /** Answer with this status instead of handling the request (500 when only a body kind is set). */
  status?: number;
  retryAfterSeconds?: number;
  /** Wait this long before handling (a slow provider; longer than the client's timeout, a timeout). */
  delayMs?: number;
  /** Handle the request, then wait this long before answering (a reply lost in a crash). */
  delayAfterMs?: number;
  count?: number;
  /** Answer this body instead of the default problem document. */
  body?: unknown;
  /** Headers added to the fault's answer. */
  headers?: Record<string, string>;
  /** The error body echoes the request's headers and body, as a careless provider does. */
  echoRequest?: boolean;
  /** An HTML error page (a proxy or load balancer answering instead of the API). */
  html?: boolean;
  /** A 200 (unless `status` says otherwise) whose body is not valid JSON. */
  malformed?: boolean;
  /** Destroy the connection without answering. */
  reset?: boolean;
  /** Handle the request (the provider commits the change), then answer the fault anyway. */
  afterCommit?: boolean;
  /** Fire on this share (0..1) of the matching calls. */
  probability?: number;
}

export interface FaultRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What the server does with a request a fault matched. */
export type FaultAnswer =
  | { kind: 'reset' }
  | { kind: 'answer'; status: number; headers: Record<string, string>; body: string };

/** Does this fault replace the answer (as opposed to only delaying it)? */
export function answers(f: Fault): boolean {
  return f.status !== undefined || f.body !== undefined || !!f.echoRequest || !!f.html || !!f.malformed || !!f.reset;
}

/** A stable label for counting injected faults by kind. */
export function faultKind(f: Fault): string {
  const base = f.reset
    ? 'reset'
    : f.malformed
      ? 'malformed'
      : f.html
        ? 'html'
        : f.status === 429
          ? '429'
          : f.status !== undefined && f.status >= 500
            ? '5xx'
            : f.status !== undefined
              ? String(f.status)
              : answers(f)
                ? 'body'
                : f.delayMs
                  ? 'delay'
                  : f.delayAfterMs
                    ? 'delay-after'
                    : 'noop';
  return f.afterCommit && answers(f) ? `${base}+afterCommit` : base;
}

export interface FiredFault {
  at: string;
  method: string;
  path: string;
  kind: string;
  status?: number;
  retryAfter?: string;
}

export class FaultTable {
  readonly faults: (Fault & { remaining: number })[] = [];
  /** Faults that fired, by kind (see faultKind). */
  readonly fired = new Map<string, number>();
  /** The latest faults that fired (at most 5000), to tell which call got which. */
  readonly recent: FiredFault[] = [];

  constructor(private readonly random: () => number = Math.random) {}

  add(f: Fault): void {
    const unbounded = f.probability !== undefined && f.count === undefined;
    this.faults.push({ ...f, remaining: unbounded ? Number.POSITIVE_INFINITY : (f.count ?? 1) });
  }

  clear(): void {
    this.faults.length = 0;
  }

  /** The first matching fault that fires for this request, if any. */
  take(req: { method: string; path: string }): Fault | undefined {
    for (let i = 0; i < this.faults.length; i++) {
      const f = this.faults[i]!;
      if (f.method && f.method.toUpperCase() !== req.method) continue;
      if (f.path && !req.path.includes(f.path) && !safeRegex(f.path).test(req.path)) continue;
      if (f.probability !== undefined && !(this.random() < f.probability)) continue;
      if (--f.remaining <= 0) this.faults.splice(i, 1);
      const kind = faultKind(f);
      this.fired.set(kind, (this.fired.get(kind) ?? 0) + 1);
      const retryAfter = f.headers?.['retry-after'] ?? (f.retryAfterSeconds !== undefined ? String(f.retryAfterSeconds) : undefined);
      this.recent.push({ at: new Date().toISOString(), method: req.method, path: req.path, kind, ...(f.status !== undefined ? { status: f.status } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) });
      if (this.recent.length > 5000) this.recent.splice(0, 1000);
      return f;
    }
    return undefined;
  }

  view(): { pending: Fault[]; fired: Record<string, number>; recent: FiredFault[] } {
    return {
      recent: this.recent,
      pending: this.faults.map(({ remaining, ...f }) => ({ ...f, ...(Number.isFinite(remaining) ? { count: remaining } : {}) })),
      fired: Object.fromEntries(this.fired),
    };
  }
}

/** The answer a fault gives in place of (or, with afterCommit, after) the real one. */
export function faultAnswer(f: Fault, req: FaultRequest): FaultAnswer {
  if (f.reset) return { kind: 'reset' };
  const extra = { ...(f.retryAfterSeconds !== undefined ? { 'retry-after': String(f.retryAfterSeconds) } : {}), ...f.headers };
  if (f.malformed) {
    return { kind: 'answer', status: f.status ?? 200, headers: { 'content-type': 'application/json', ...extra }, body: '{"subscriptionId": "' + 'x'.repeat(8) + '", "status": ACT' };
  }
  const status = f.status ?? 500;
  if (f.html) {
    const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
    return { kind: 'answer', status, headers: { 'content-type': 'text/html; charset=utf-8', ...extra }, body: `<!DOCTYPE html>\n<html><head><title>${title}</title></head><body><center><h1>${title}</h1></center><hr><center>nginx</center></body></html>\n` };
  }
  if (f.body !== undefined) {
    const isText = typeof f.body === 'string';
    return { kind: 'answer', status, headers: { 'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json', ...extra }, body: isText ? (f.body as string) : JSON.stringify(f.body) };
  }
  const doc: Record<string, unknown> = { type: 'about:blank', title: 'Injected fault', status, detail: 'fault injected by the sandbox' };
  if (f.echoRequest) doc.request = { method: req.method, path: req.path, headers: req.headers, body: req.body };
  return { kind: 'answer', status, headers: { 'content-type': 'application/problem+json', ...extra }, body: JSON.stringify(doc) };
}

const STATUS_TEXT: Record<number, string> = { 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Time-out' };

function safeRegex(src: string): RegExp {
  try {
    return new RegExp(src);
  } catch {
    return /$^/;
  }
}
