import type { Req, Sandbox } from '../src/sandbox/server.js';
import type { Kind } from './fleet.js';

/**
 * Every request the sandboxes answered, as the providers would count them: when, which kind
 * of provider, which operation, the answer's status, and for Dixa the API token's tag (its
 * rate limit is per token) and for AXP the account id. Admin routes (/_sandbox) are left out.
 */
export type Op = 'token' | 'list' | 'get' | 'create' | 'renew' | 'update' | 'delete' | 'deliveries' | 'delivery-logs' | 'other';
export const OPS: Op[] = ['token', 'list', 'get', 'create', 'renew', 'update', 'delete', 'deliveries', 'delivery-logs', 'other'];

export interface Hit {
  at: number;
  kind: Kind;
  op: Op;
  status: number;
  /** Dixa: the API token; AXP: the account id; Infinity: '' (its tenant hides behind a bearer token). */
  who: string;
  /** The subscription id for calls on one subscription. */
  id?: string;
  /** True for the scenario's own sandbox. */
  scenario: boolean;
}

const UUID = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/;

export function classify(kind: Kind, req: Pick<Req, 'method' | 'path'>): { op: Op; id?: string; who: string } {
  const { method, path } = req;
  const id = UUID.exec(path)?.[0];
  const axp = /\/accounts\/([A-Za-z]{6})\//.exec(path)?.[1] ?? /\/api\/auth\/v1\/([^/]+)\//.exec(path)?.[1] ?? '';
  if (kind === 'dixa') {
    if (path.includes('/logs/')) return { op: 'delivery-logs', ...(id ? { id } : {}), who: '' };
    if (path.endsWith('/delivery-status')) return { op: 'deliveries', ...(id ? { id } : {}), who: '' };
    if (/\/webhooks$/.test(path)) return { op: method === 'POST' ? 'create' : 'list', who: '' };
    const op: Op = method === 'GET' ? 'get' : method === 'PATCH' ? 'update' : method === 'DELETE' ? 'delete' : 'other';
    return { op, ...(id ? { id } : {}), who: '' };
  }
  const who = kind === 'avaya-infinity' ? '' : axp;
  if (path.includes('/protocol/openid-connect/token')) return { op: 'token', who };
  if (path.endsWith(':renew')) return { op: 'renew', ...(id ? { id } : {}), who };
  if (/\/subscriptions$/.test(path)) return { op: method === 'POST' ? 'create' : 'list', who };
  const op: Op = method === 'GET' ? 'get' : method === 'PATCH' || method === 'PUT' ? 'update' : method === 'DELETE' ? 'delete' : 'other';
  return { op, ...(id ? { id } : {}), who };
}

export class Traffic {
  readonly hits: Hit[] = [];

  /** Records what `sandbox` answers; `kindOf` tells AXP's two APIs apart by path. */
  watch(sandbox: Sandbox, kindOf: (path: string) => Kind, scenario = false): void {
    const before = sandbox.server.onAnswered;
    sandbox.server.onAnswered = (req, status, handled) => {
      before?.(req, status, handled);
      if (req.path.startsWith('/_sandbox')) return;
      const kind = kindOf(req.path);
      const c = classify(kind, req);
      const who = kind === 'dixa' ? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '') : c.who;
      this.hits.push({ at: Date.now(), kind, op: c.op, status, who, ...(c.id ? { id: c.id } : {}), scenario });
    };
  }

  /** Hits in [from, to), optionally filtered. */
  between(from: number, to: number, f: (h: Hit) => boolean = () => true): Hit[] {
    return this.hits.filter((h) => h.at >= from && h.at < to && f(h));
  }
}

/** Requests per operation. */
export function byOp(hits: Hit[]): Partial<Record<Op, number>> {
  const out: Partial<Record<Op, number>> = {};
  for (const h of hits) out[h.op] = (out[h.op] ?? 0) + 1;
  return out;
}

/** Counts per whole second since `from`, over [from, to). */
export function perSecond(times: number[], from: number, to: number): number[] {
  const bins = new Array<number>(Math.max(1, Math.ceil((to - from) / 1000))).fill(0);
  for (const t of times) {
    const i = Math.floor((t - from) / 1000);
    if (i >= 0 && i < bins.length) bins[i]!++;
  }
  return bins;
}

/** The most events in any window of `ms` (sliding, ending at an event). */
export function peakInWindow(times: number[], ms = 1000): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}
