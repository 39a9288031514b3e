import { randomBytes, randomUUID } from 'node:crypto';
import { OffsetClock, type Clock } from '../lib/clock.js';
import { sorted } from './audit.js';
import { parseJson, Sandbox, type Req, type Res } from './server.js';

/**
 * Avaya Infinity Notifications simulator (the /api/events/v1 contract and its token
 * endpoint), over real HTTP. Each client_id is a tenant of its own. Lifetimes are settable
 * (seconds in tests; 900 s by default, the token lifetime the older specs tie expiry to).
 * Subscriptions turn INACTIVE at expiry and :renew reactivates them.
 */
export interface InfinitySandboxOptions {
  clock?: Clock;
  subscriptionLifetimeSeconds?: number;
  tokenLifetimeSeconds?: number;
  /** Known clients and their secrets; when absent any client with a non-empty secret is let in. */
  clients?: Record<string, string>;
}

export interface SandboxSubscription {
  subscriptionId: string;
  createdAt: Date;
  expiresAt: Date;
  deactivated: boolean;
  family: string[];
  events: string[];
  transport: { type: string; method: string; endpoint: string; authToken?: string; authTokenHeader?: string };
}

const API = '/api/events/v1';
const TOKEN_PATH = '/auth/realms/avaya/protocol/openid-connect/token';
const DOCS = 'https://developers.avayacloud.com/avaya-infinity/docs/error-handling';
const FAMILIES = new Set(['AGENT', 'INTERACTION', 'QUEUE', 'ALL']);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

type Violation = { field: string; message: string; code: number };

export class InfinitySandbox extends Sandbox {
  readonly clock: Clock;
  subscriptionLifetimeSeconds: number;
  tokenLifetimeSeconds: number;
  readonly tenants = new Map<string, Map<string, SandboxSubscription>>();
  readonly #tokens = new Map<string, { client: string; expiresAt: number }>();

  constructor(private readonly opts: InfinitySandboxOptions = {}) {
    super((r) => statKey(r));
    this.clock = opts.clock ?? new OffsetClock();
    this.subscriptionLifetimeSeconds = opts.subscriptionLifetimeSeconds ?? 900;
    this.tokenLifetimeSeconds = opts.tokenLifetimeSeconds ?? 900;
    this.audit.renewWindowMs = () => this.subscriptionLifetimeSeconds * 500;
  }

  /** Tells the audit what a subscription is and whether it is active now. */
  #observe(client: string, s: SandboxSubscription): void {
    const expired = this.clock.now().getTime() >= s.expiresAt.getTime();
    this.audit.observe('infinity', s.subscriptionId, infinityIdentity(client, s), s.deactivated || expired ? 'inactive' : 'active', expired ? s.expiresAt : undefined);
  }

  protected override sweep(): void {
    for (const [client, t] of this.tenants) for (const s of t.values()) this.#observe(client, s);
  }

  /** Forget every issued token: the next API call gets a 401 (as after a key rotation). */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** A tenant's subscriptions as the API would show them now. */
  subscriptions(client: string): ReturnType<InfinitySandbox['view']>[] {
    return [...this.#tenant(client).values()].map((s) => this.view(s));
  }

  view(s: SandboxSubscription) {
    const now = this.clock.now().getTime();
    const status = s.deactivated || now >= s.expiresAt.getTime() ? 'INACTIVE' : 'ACTIVE';
    return {
      subscriptionId: s.subscriptionId,
      createdAt: s.createdAt.toISOString(),
      expiresAt: s.expiresAt.toISOString(),
      expiresIn: Math.max(0, Math.floor((s.expiresAt.getTime() - now) / 1000)),
      status,
      family: [...s.family],
      events: [...s.events],
      transport: { ...s.transport },
    };
  }

  #tenant(client: string): Map<string, SandboxSubscription> {
    let t = this.tenants.get(client);
    if (!t) this.tenants.set(client, (t = new Map()));
    return t;
  }

  protected async route(req: Req): Promise<Res> {
    if (req.path.startsWith('/_sandbox')) return this.#admin(req);
    if (req.path === TOKEN_PATH && req.method === 'POST') return this.#token(req);
    if (!req.path.startsWith(API + '/')) return problem(404, 'resource-not-found', 'Resource Not Found', `no route for ${req.path}`);
    let rest = req.path.slice(API.length);
    // The deprecated account-scoped paths behave the same.
    const acct = /^\/accounts\/([^/]+)(\/.*)$/.exec(rest);
    if (acct) {
      if (!/^[0-9a-zA-Z]{26}$/.test(acct[1]!)) return problem(400, 'constraint-violation', 'Constraint Violation', 'accountId must be 26 letters or digits', [{ field: 'accountId', message: 'must match "^[0-9a-zA-Z]{26}$"', code: 20006 }]);
      rest = acct[2]!;
    }
    const client = this.#authorize(req);
    if (!client) return problem(401, 'unauthorized', 'Unauthorized', 'a valid bearer token is required');
    const tenant = this.#tenant(client);
    if (rest === '/subscriptions' && req.method === 'POST') return this.#create(client, tenant, req);
    if (rest === '/subscriptions' && req.method === 'GET') return this.#list(tenant, req);
    const m = /^\/subscriptions\/([^/:]+)(:renew)?$/.exec(rest);
    if (!m) return problem(404, 'resource-not-found', 'Resource Not Found', `no route for ${req.method} ${req.path}`);
    const id = decodeURIComponent(m[1]!);
    if (!UUID.test(id)) return problem(400, 'constraint-violation', 'Constraint Violation', 'subscriptionId must be a UUID', [{ field: 'subscriptionId', message: 'must match the UUID pattern', code: 20006 }]);
    const sub = tenant.get(id);
    const op = m[2] ? 'renew' : req.method === 'PATCH' ? 'update' : req.method === 'DELETE' ? 'delete' : undefined;
    if (!sub) {
      if (op) this.audit.call(req, { op, kind: 'infinity', id, identity: '', committed: false });
      return problem(404, 'resource-not-found', 'Resource Not Found', `subscription ${id} not found`);
    }
    this.#observe(client, sub);
    if (m[2] && req.method === 'POST') return this.#renew(client, sub, req);
    if (m[2]) return problem(405, 'method-not-allowed', 'Method Not Allowed', ':renew takes POST');
    if (req.method === 'GET') return { status: 200, body: this.view(sub) };
    if (req.method === 'PATCH') return this.#patch(client, sub, req);
    if (req.method === 'DELETE') {
      this.audit.call(req, { op: 'delete', kind: 'infinity', id, identity: infinityIdentity(client, sub), committed: true });
      tenant.delete(id);
      this.audit.gone(id, false);
      return { status: 204 };
    }
    return problem(405, 'method-not-allowed', 'Method Not Allowed', `${req.method} is not supported here`);
  }

  #token(req: Req): Res {
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type; only client_credentials is supported' } };
    }
    const client = form.get('client_id') ?? '';
    const secret = form.get('client_secret') ?? '';
    const known = this.opts.clients;
    if (!client || !secret || (known && known[client] !== secret)) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'Invalid client or Invalid client credentials' } };
    }
    const now = this.clock.now().getTime();
    const exp = now + this.tokenLifetimeSeconds * 1000;
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: client, exp: Math.floor(exp / 1000), scope: form.get('scope') ?? '' })}.${randomBytes(16).toString('base64url')}`;
    this.#tokens.set(token, { client, expiresAt: exp });
    return { status: 200, body: { access_token: token, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer', scope: form.get('scope') ?? 'email profile' } };
  }

  #authorize(req: Req): string | undefined {
    const h = req.headers.authorization ?? '';
    const t = this.#tokens.get(h.replace(/^Bearer\s+/i, ''));
    if (!t || t.expiresAt <= this.clock.now().getTime()) return undefined;
    return t.client;
  }

  #create(client: string, tenant: Map<string, SandboxSubscription>, req: Req): Res {
    const body = parseJson(req.body);
    const v = validate(body, true);
    if (v.length) return problem(400, 'constraint-violation', 'Constraint Violation', 'the request has invalid fields', v);
    const b = body as { family: string[]; events: string[]; transport: Record<string, string> };
    const now = this.clock.now();
    const sub: SandboxSubscription = {
      subscriptionId: randomUUID(),
      createdAt: now,
      expiresAt: new Date(now.getTime() + this.subscriptionLifetimeSeconds * 1000),
      deactivated: false,
      family: b.family,
      events: b.events,
      transport: transportOf(b.transport),
    };
    this.sweep();
    this.audit.call(req, { op: 'create', kind: 'infinity', id: sub.subscriptionId, identity: infinityIdentity(client, sub), committed: true });
    tenant.set(sub.subscriptionId, sub);
    this.#observe(client, sub);
    return { status: 201, body: this.view(sub) };
  }

  #list(tenant: Map<string, SandboxSubscription>, req: Req): Res {
    const pageNumber = Number(req.query.get('pageNumber') ?? 1);
    const pageSize = Number(req.query.get('pageSize') ?? 10);
    const v: Violation[] = [];
    if (!Number.isInteger(pageNumber) || pageNumber < 1 || pageNumber > 1000) v.push({ field: 'pageNumber', message: 'must be between 1 and 1000', code: 20006 });
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 25) v.push({ field: 'pageSize', message: 'must be between 1 and 25', code: 20006 });
    if (v.length) return problem(400, 'constraint-violation', 'Constraint Violation', 'invalid paging parameters', v);
    const all = [...tenant.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.subscriptionId.localeCompare(b.subscriptionId));
    const totalPages = Math.max(1, Math.ceil(all.length / pageSize));
    const page = all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
    const link = (n: number) => `${API}/subscriptions?pageNumber=${n}&pageSize=${pageSize}`;
    return {
      status: 200,
      body: {
        pagination: { pageNumber, pageSize, total: all.length, totalPages },
        subscriptions: page.map((s) => this.view(s)),
        links: { prev: pageNumber > 1 ? link(pageNumber - 1) : '', next: pageNumber < totalPages ? link(pageNumber + 1) : '' },
      },
    };
  }

  #patch(client: string, sub: SandboxSubscription, req: Req): Res {
    const body = parseJson(req.body);
    const v = validate(body, false);
    if (v.length) return problem(400, 'constraint-violation', 'Constraint Violation', 'the request has invalid fields', v);
    const b = body as { family?: string[]; events?: string[]; transport?: Record<string, string> };
    this.audit.call(req, { op: 'update', kind: 'infinity', id: sub.subscriptionId, identity: infinityIdentity(client, sub), committed: true, body: req.body });
    if (b.family) sub.family = b.family;
    if (b.events) sub.events = b.events;
    if (b.transport) sub.transport = transportOf(b.transport);
    this.#observe(client, sub);
    return { status: 200, body: this.view(sub) };
  }

  #renew(client: string, sub: SandboxSubscription, req: Req): Res {
    const body = parseJson(req.body);
    if (body !== undefined) {
      const t = (body as { transport?: { authToken?: unknown } } | null)?.transport;
      if (typeof body !== 'object' || body === null || typeof t?.authToken !== 'string' || t.authToken.length > 256) {
        return problem(400, 'constraint-violation', 'Constraint Violation', 'a renew body needs transport.authToken', [{ field: 'transport.authToken', message: 'must not be null', code: 20002 }]);
      }
    }
    this.audit.call(req, { op: 'renew', kind: 'infinity', id: sub.subscriptionId, identity: infinityIdentity(client, sub), committed: true });
    if (body !== undefined) sub.transport.authToken = (body as { transport: { authToken: string } }).transport.authToken;
    sub.expiresAt = new Date(this.clock.now().getTime() + this.subscriptionLifetimeSeconds * 1000);
    sub.deactivated = false;
    this.#observe(client, sub);
    return { status: 200, body: this.view(sub) };
  }

  #admin(req: Req): Res {
    const common = this.commonAdmin(req);
    if (common) return common;
    if (req.path === '/_sandbox/state' && req.method === 'GET') {
      return { status: 200, body: { now: this.clock.now().toISOString(), tenants: Object.fromEntries([...this.tenants].map(([c, t]) => [c, [...t.values()].map((s) => this.view(s))])), stats: Object.fromEntries(this.server.stats) } };
    }
    return { status: 404, body: { error: 'unknown sandbox admin route' } };
  }
}

/** What an Infinity subscription is, for the audit: tenant, callback, method, families and events. */
export function infinityIdentity(client: string, s: { family: readonly string[]; events: readonly string[]; transport: { method?: string; endpoint: string } }): string {
  return `infinity ${client} ${s.transport.method ?? 'POST'} ${s.transport.endpoint} family=${sorted(s.family)} events=${sorted(s.events)}`;
}

function transportOf(t: Record<string, string>): SandboxSubscription['transport'] {
  return {
    type: t.type ?? 'WEBHOOK',
    method: t.method ?? 'POST',
    endpoint: t.endpoint!,
    ...(t.authToken ? { authToken: t.authToken, authTokenHeader: t.authTokenHeader ?? 'auth-token' } : {}),
  };
}

/** CreateSubscription / PatchSubscription validation, field for field. */
function validate(body: unknown, create: boolean): Violation[] {
  const v: Violation[] = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [{ field: '(body)', message: 'must be a JSON object', code: 20001 }];
  const b = body as Record<string, unknown>;
  const missing = (f: string) => v.push({ field: f, message: 'must not be null', code: 20002 });
  const bad = (f: string, message: string) => v.push({ field: f, message, code: 20006 });
  if (b.family === undefined) {
    if (create) missing('family');
  } else if (!Array.isArray(b.family) || b.family.length > 3 || b.family.some((f) => !FAMILIES.has(f as string))) {
    bad('family', 'must be an array of at most 3 of AGENT, INTERACTION, QUEUE, ALL');
  } else if (b.family.includes('ALL') && b.family.length !== 1) bad('family', 'ALL must be the only value');
  if (b.events === undefined) {
    if (create) missing('events');
  } else if (!Array.isArray(b.events) || b.events.length < 1 || b.events.length > 25 || b.events.some((e) => typeof e !== 'string' || e.length < 1 || e.length > 256)) {
    bad('events', 'must hold 1 to 25 names of 1 to 256 characters');
  }
  if (b.transport === undefined) {
    if (create) missing('transport');
  } else if (typeof b.transport !== 'object' || b.transport === null) bad('transport', 'must be an object');
  else {
    const t = b.transport as Record<string, unknown>;
    if (t.type !== undefined && t.type !== 'WEBHOOK') bad('transport.type', 'must be WEBHOOK');
    if (t.method !== undefined && t.method !== 'POST' && t.method !== 'PUT') bad('transport.method', 'must be POST or PUT');
    if (typeof t.endpoint !== 'string') missing('transport.endpoint');
    else if (t.endpoint.length > 2048 || !URL.canParse(t.endpoint)) bad('transport.endpoint', 'must be a URI of at most 2048 characters');
    for (const f of ['authToken', 'authTokenHeader'] as const) {
      if (t[f] !== undefined && (typeof t[f] !== 'string' || (t[f] as string).length < 1 || (t[f] as string).length > 256)) bad(`transport.${f}`, 'must be 1 to 256 characters');
    }
  }
  return v;
}

function problem(status: number, type: string, title: string, detail: string, violations?: Violation[]): Res {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: { type: `${DOCS}#${type}`, title, status, detail, ...(violations ? { violations } : {}) },
  };
}

function statKey(req: Req): string {
  if (req.path.endsWith(TOKEN_PATH)) return 'token';
  if (req.path.endsWith(':renew')) return 'renew';
  if (/\/subscriptions$/.test(req.path)) return req.method === 'POST' ? 'create' : 'list';
  return { GET: 'get', PATCH: 'patch', DELETE: 'delete' }[req.method] ?? req.method.toLowerCase();
}
