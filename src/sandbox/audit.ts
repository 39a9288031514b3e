import { createHash } from 'node:crypto';
import type { Req } from './server.js';

/**
 * What a sandbox saw, kept cheaply so that invariants can be checked afterwards
 * (GET /_sandbox/audit): per identity (what a declared subscription is: callback URL and
 * events or families, or a Dixa name), the most subscriptions alive at any moment; every
 * lapse (INACTIVE on expiry, disabled or deleted by the provider) and whether the
 * subscription was renewed, re-enabled or recreated after it; and every mutating call
 * (create, renew, update, delete) with its time, id and how it was answered, from which
 * actions performed twice are counted.
 *
 * States: `active` (delivering), `inactive` (expired, renew reactivates it), `disabled` (by
 * the provider's policy, or enabled: false). A subscription is *live* while it is listed
 * and not disabled: two live subscriptions of one identity are a duplicate.
 */
export type SubState = 'active' | 'inactive' | 'disabled';
export type MutatingOp = 'create' | 'renew' | 'update' | 'delete';

export interface Lapse {
  kind: string;
  identity: string;
  id: string;
  why: 'expired' | 'disabled' | 'deleted-by-provider';
  at: string;
  recoveredAt?: string;
  recoveredBy?: 'renewed' | 're-enabled' | 'recreated';
}

export interface CallRecord {
  at: number;
  /** When the request reached the server (its order), before any injected delay: a call the provider handled late was still sent first. */
  arrival: number;
  op: MutatingOp;
  kind: string;
  id: string;
  identity: string;
  /** Live subscriptions of the identity just before the call (creates only). */
  liveBefore?: number;
  /** A hash of the request body (updates only), to tell a repeated update from a new one. */
  bodyHash?: string;
  /** Did the request change anything at the provider? */
  committed: boolean;
  /** The status the client received; 0 when it received none (reset, or it gave up). */
  status: number;
  /** Did the client receive the provider's own success answer (not a fault)? */
  delivered: boolean;
}

export interface Twice {
  op: MutatingOp;
  kind: string;
  id: string;
  identity: string;
  first: { at: string; status: number };
  second: { at: string; status: number };
  why: string;
}

interface IdentityStats {
  kind: string;
  live: Set<string>;
  active: Set<string>;
  maxLive: number;
  maxLiveAt?: number;
  maxLiveIds?: string[];
  maxActive: number;
  creates: number;
}

interface Tracked {
  kind: string;
  identity: string;
  state: SubState;
  lapse?: Lapse;
}

export interface AuditOptions {
  /** Two identical updates of one subscription closer than this, the first answered, are one too many. */
  updateWindowMs?: number;
  /** At most this many calls are kept (the oldest half is dropped past it). */
  maxCalls?: number;
  now?: () => number;
}

export class SandboxAudit {
  readonly #subs = new Map<string, Tracked>();
  readonly #identities = new Map<string, IdentityStats>();
  readonly #lapses: Lapse[] = [];
  readonly #open = new Map<string, Set<Lapse>>();
  #sweep: (() => void) | undefined;
  readonly #calls: CallRecord[] = [];
  readonly #pending = new WeakMap<Req, CallRecord>();
  readonly #opts: AuditOptions;
  droppedCalls = 0;

  constructor(opts: AuditOptions = {}) {
    this.#opts = opts;
  }

  /**
   * Per kind: two renews of one subscription closer than this are one too many (the sandboxes
   * set half the lifetime they grant: a renew then still leaves more than the third that
   * renewBefore waits for).
   */
  renewWindowMs: (kind: string) => number = () => 0;

  #now(): number {
    return this.#opts.now?.() ?? Date.now();
  }

  #stats(kind: string, identity: string): IdentityStats {
    let s = this.#identities.get(identity);
    if (!s) this.#identities.set(identity, (s = { kind, live: new Set(), active: new Set(), maxLive: 0, maxActive: 0, creates: 0 }));
    return s;
  }

  /**
   * A subscription as the provider holds it now. `since` is when it took that state when it
   * is known (the expiry time of an expired subscription), else now.
   */
  observe(kind: string, id: string, identity: string, state: SubState, since?: Date): void {
    const prev = this.#subs.get(id);
    if (prev && prev.identity !== identity) {
      const old = this.#stats(prev.kind, prev.identity);
      old.live.delete(id);
      old.active.delete(id);
    }
    const t: Tracked = prev ?? { kind, identity, state };
    t.identity = identity;
    const stats = this.#stats(kind, identity);
    const now = this.#now();
    if (state === 'active') {
      if (t.lapse && !t.lapse.recoveredAt) this.#recover(t.lapse, t.state === 'disabled' ? 're-enabled' : 'renewed', now);
      t.lapse = undefined;
      // Another subscription of the identity active again: earlier lapses of the identity are over.
      if (!stats.active.has(id)) for (const l of this.#open.get(identity) ?? []) if (l.id !== id) this.#recover(l, 'recreated', now);
    } else if (!t.lapse && (!prev || prev.state === 'active' || state === 'disabled')) {
      // Active (or never seen) until now, or expired and now disabled too.
      t.lapse = this.#lapse({ kind, identity, id, why: state === 'inactive' ? 'expired' : 'disabled', at: new Date(since?.getTime() ?? now).toISOString() });
    }
    t.state = state;
    this.#subs.set(id, t);
    if (state === 'disabled') stats.live.delete(id);
    else stats.live.add(id);
    if (state === 'active') stats.active.add(id);
    else stats.active.delete(id);
    if (stats.live.size > stats.maxLive) {
      stats.maxLive = stats.live.size;
      stats.maxLiveAt = now;
      stats.maxLiveIds = [...stats.live];
    }
    stats.maxActive = Math.max(stats.maxActive, stats.active.size);
  }

  /** The subscription no longer exists: deleted by a client, or by the provider's policy. */
  gone(id: string, byProvider: boolean): void {
    const t = this.#subs.get(id);
    if (!t) return;
    const stats = this.#stats(t.kind, t.identity);
    stats.live.delete(id);
    stats.active.delete(id);
    if (byProvider && !t.lapse) this.#lapse({ kind: t.kind, identity: t.identity, id, why: 'deleted-by-provider', at: new Date(this.#now()).toISOString() });
    this.#subs.delete(id);
  }

  #lapse(l: Lapse): Lapse {
    this.#lapses.push(l);
    let open = this.#open.get(l.identity);
    if (!open) this.#open.set(l.identity, (open = new Set()));
    open.add(l);
    return l;
  }

  #recover(l: Lapse, by: NonNullable<Lapse['recoveredBy']>, now: number): void {
    l.recoveredAt = new Date(now).toISOString();
    l.recoveredBy = by;
    this.#open.get(l.identity)?.delete(l);
  }

  /** How the sandbox re-observes every subscription it holds (expiry happens without a call). */
  onSweep(fn: () => void): void {
    this.#sweep = fn;
  }

  sweep(): void {
    this.#sweep?.();
  }

  /** Live subscriptions of an identity now. */
  liveCount(identity: string): number {
    return this.#identities.get(identity)?.live.size ?? 0;
  }

  /** A mutating call, recorded before it is handled; `answered` completes it. */
  call(req: Req, c: { op: MutatingOp; kind: string; id: string; identity: string; committed: boolean; body?: string }): void {
    const rec: CallRecord = {
      at: this.#now(),
      arrival: req.arrival ?? Number.MAX_SAFE_INTEGER,
      op: c.op,
      kind: c.kind,
      id: c.id,
      identity: c.identity,
      committed: c.committed,
      status: 0,
      delivered: false,
      ...(c.op === 'create' ? { liveBefore: this.liveCount(c.identity) } : {}),
      ...(c.op === 'update' && c.body !== undefined ? { bodyHash: createHash('sha256').update(c.body).digest('hex').slice(0, 16) } : {}),
    };
    if (c.op === 'create') this.#stats(c.kind, c.identity).creates++;
    this.#calls.push(rec);
    this.#pending.set(req, rec);
    const max = this.#opts.maxCalls ?? 200_000;
    if (this.#calls.length > max) {
      const drop = Math.floor(max / 2);
      this.#calls.splice(0, drop);
      this.droppedCalls += drop;
    }
  }

  /** A created subscription's id becomes known once the sandbox made it. */
  created(req: Req, id: string): void {
    const rec = this.#pending.get(req);
    if (rec) rec.id = id;
  }

  /** How the server answered (called by the server for every request). */
  answered(req: Req, status: number, delivered: boolean): void {
    const rec = this.#pending.get(req);
    if (!rec) return;
    rec.status = status;
    rec.delivered = delivered && status >= 200 && status < 300;
  }

  /**
   * Pairs of calls where the second did what the first, answered, had already done. Calls are
   * taken in the order they reached the provider, not the order it handled them: a renew the
   * provider sat on past the client's timeout and committed after the client's retry was sent
   * first, and its retry is one after an ambiguous answer.
   */
  twice(): { twice: Twice[]; afterAmbiguous: Twice[] } {
    const twice: Twice[] = [];
    const afterAmbiguous: Twice[] = [];
    const last = new Map<string, CallRecord>();
    const pair = (op: MutatingOp, a: CallRecord, b: CallRecord, why: string) => ({
      op,
      kind: b.kind,
      id: b.id,
      identity: b.identity,
      first: { at: new Date(a.at).toISOString(), status: a.status },
      second: { at: new Date(b.at).toISOString(), status: b.status },
      why,
    });
    const lastCreate = new Map<string, CallRecord>();
    const inArrivalOrder = [...this.#calls].sort((a, b) => a.arrival - b.arrival);
    for (const c of inArrivalOrder) {
      if (c.op === 'create') {
        // A create while the identity already had a live subscription: one was enough.
        if ((c.liveBefore ?? 0) > 0) {
          const prev = lastCreate.get(c.identity);
          const earlier = prev ? `; the latest earlier create was ${prev.delivered ? `answered ${prev.status}` : `not answered (${prev.status || 'no answer'})`}` : '';
          twice.push(pair('create', prev ?? c, c, `created while ${c.liveBefore} live subscription(s) of the identity existed${earlier}`));
        }
        if (c.committed) lastCreate.set(c.identity, c);
        continue;
      }
      const key = `${c.op} ${c.id}`;
      const prev = last.get(key);
      if (prev) {
        const gap = Math.abs(c.at - prev.at);
        const window = c.op === 'renew' ? this.renewWindowMs(c.kind) : c.op === 'update' ? (this.#opts.updateWindowMs ?? 10_000) : Number.POSITIVE_INFINITY;
        const same = c.op !== 'update' || prev.bodyHash === c.bodyHash;
        if (prev.committed && same && gap < window) {
          const why = c.op === 'renew' ? `renewed again ${Math.round(gap / 100) / 10} s after a renew` : c.op === 'update' ? `the same update again ${Math.round(gap / 100) / 10} s later` : 'deleted again';
          (prev.delivered ? twice : afterAmbiguous).push(pair(c.op, prev, c, why));
        }
      }
      if (c.committed) last.set(key, c);
    }
    return { twice, afterAmbiguous };
  }

  /** The whole picture; `calls` adds the call log. */
  report(o: { calls?: boolean } = {}) {
    this.sweep();
    const { twice, afterAmbiguous } = this.twice();
    const byOp: Record<string, number> = {};
    for (const c of this.#calls) byOp[c.op] = (byOp[c.op] ?? 0) + 1;
    return {
      identities: [...this.#identities].map(([identity, s]) => ({
        identity,
        kind: s.kind,
        live: s.live.size,
        active: s.active.size,
        maxLive: s.maxLive,
        ...(s.maxLive > 1 ? { maxLiveAt: new Date(s.maxLiveAt!).toISOString(), maxLiveIds: s.maxLiveIds } : {}),
        maxActive: s.maxActive,
        creates: s.creates,
      })),
      lapses: this.#lapses,
      twice,
      afterAmbiguous,
      calls: byOp,
      droppedCalls: this.droppedCalls,
      ...(o.calls ? { log: this.#calls.map((c) => ({ ...c, at: new Date(c.at).toISOString() })) } : {}),
    };
  }
}

const tags = new Map<string, string>();

/** A short, stable stand-in for a secret that names a tenant (a Dixa API token). */
export function tenantTag(secret: string): string {
  let t = tags.get(secret);
  if (t === undefined) {
    t = createHash('sha256').update(secret).digest('hex').slice(0, 10);
    if (tags.size < 10_000) tags.set(secret, t);
  }
  return t;
}

/** A canonical, order-insensitive rendering of a list. */
export function sorted(xs: readonly string[]): string {
  return [...xs].sort().join(',');
}
