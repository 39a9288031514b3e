import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { OffsetClock, type Clock } from '../lib/clock.js';
import { digitalEvent, digitalEventType, notificationEvent } from './axp-events.js';
import { sorted } from './audit.js';
import { parseJson, Sandbox, type Req, type Res } from './server.js';

/**
 * Avaya Experience Platform simulator: the token endpoint, Digital Notification
 * (/api/digital/webhook/v1) and Notification (/api/notification/v1) over real HTTP. It
 * really delivers events to the callback URLs and applies AXP's callback policy itself: a
 * delivery that fails or answers after the timeout (5 s) is an error; `unhealthyAfter`
 * errors in a row mark the URL unhealthy; unhealthy longer than `disableAfter`, every
 * subscription on it is disabled (still listed, no field says so, no more events); disabled
 * longer than `deleteAfter`, they are deleted. Durations are settable so tests run in seconds.
 */
export interface AxpPolicy {
  unhealthyAfter: number;
  disableAfterSeconds: number;
  deleteAfterSeconds: number;
  timeoutMs: number;
}

export interface AxpSandboxOptions {
  clock?: Clock;
  tokenLifetimeSeconds?: number;
  subscriptionLifetimeSeconds?: number;
  policy?: Partial<AxpPolicy>;
  /** Deliver to every live subscription this often (real time); without it, call deliver(). */
  deliverEveryMs?: number;
}

interface Common {
  subscriptionId: string;
  createdAt: Date;
  disabledAt?: Date;
  deliveries: number;
  lastDeliveryAt?: Date;
}
export interface DigitalSub extends Common {
  channelProviderId: string;
  callbackUrl: string;
  eventTypes: string[];
}
export interface NotificationSub extends Common {
  expiresAt: Date;
  family: string;
  events: string[];
  transport: { type: string; endpoint?: string; authToken?: string; authTokenHeader?: string };
  extensions?: Record<string, string>;
}
interface Account {
  digital: Map<string, DigitalSub>;
  notification: Map<string, NotificationSub>;
}
export interface UrlHealth {
  consecutiveErrors: number;
  unhealthySince?: Date;
  lastError?: string;
}

const DIGITAL = '/api/digital/webhook/v1/accounts/';
const NOTIFICATION = '/api/notification/v1/accounts/';
const TOKEN = /^\/api\/auth\/v1\/([^/]+)\/protocol\/openid-connect\/token$/;
const DIGITAL_EVENTS = new Set(['MESSAGES', 'CUSTOMER_MESSAGES', 'CC_MESSAGES', 'PARTICIPANT_ADDED', 'PARTICIPANT_DISCONNECTED', 'ENGAGEMENT_CREATED', 'ENGAGEMENT_ERROR', 'TYPING', 'ALL']);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export class AxpSandbox extends Sandbox {
  readonly clock: Clock;
  readonly policy: AxpPolicy;
  subscriptionLifetimeSeconds: number;
  tokenLifetimeSeconds: number;
  readonly accounts = new Map<string, Account>();
  readonly urls = new Map<string, UrlHealth>();
  readonly #tokens = new Map<string, { accountId: string; expiresAt: number }>();

  constructor(opts: AxpSandboxOptions = {}) {
    super(statKey, opts.deliverEveryMs);
    this.clock = opts.clock ?? new OffsetClock();
    this.tokenLifetimeSeconds = opts.tokenLifetimeSeconds ?? 900;
    this.subscriptionLifetimeSeconds = opts.subscriptionLifetimeSeconds ?? 900;
    this.policy = { unhealthyAfter: 3, disableAfterSeconds: 8 * 3600, deleteAfterSeconds: 7 * 86400, timeoutMs: 5000, ...opts.policy };
    this.audit.renewWindowMs = () => this.subscriptionLifetimeSeconds * 500;
  }

  /** Tells the audit what a subscription is and whether it is active, expired or disabled now. */
  #observe(accountId: string, s: DigitalSub | NotificationSub): void {
    if ('callbackUrl' in s) {
      this.audit.observe('axp-digital', s.subscriptionId, digitalIdentity(accountId, s), s.disabledAt ? 'disabled' : 'active', s.disabledAt);
      return;
    }
    const expired = this.#status(s) === 'INACTIVE';
    this.audit.observe('axp-notification', s.subscriptionId, notificationIdentity(accountId, s), s.disabledAt ? 'disabled' : expired ? 'inactive' : 'active', s.disabledAt ?? (expired ? s.expiresAt : undefined));
  }

  protected override sweep(): void {
    for (const [id, a] of this.accounts) for (const s of [...a.digital.values(), ...a.notification.values()]) this.#observe(id, s);
  }

  account(id: string): Account {
    let a = this.accounts.get(id);
    if (!a) this.accounts.set(id, (a = { digital: new Map(), notification: new Map() }));
    return a;
  }

  /** One delivery round: an event to every subscription that is neither disabled nor inactive; then the policy. */
  protected override async deliverRound(): Promise<void> {
    const now = this.clock.now();
    const jobs: { sub: Common; url: string; body: unknown; headers: Record<string, string> }[] = [];
    for (const [accountId, a] of this.accounts) {
      for (const s of a.digital.values()) if (!s.disabledAt) jobs.push({ sub: s, url: s.callbackUrl, body: digitalEvent(digitalEventType(s.eventTypes), s, accountId, now), headers: {} });
      for (const s of a.notification.values()) {
        if (s.disabledAt || this.#status(s) !== 'ACTIVE' || s.transport.type !== 'WEBHOOK' || !s.transport.endpoint) continue;
        const headers = s.transport.authToken ? { [s.transport.authTokenHeader ?? 'auth-token']: s.transport.authToken } : {};
        jobs.push({ sub: s, url: s.transport.endpoint, body: notificationEvent(s.events[0] ?? 'ALL', s.family, accountId, now), headers });
      }
    }
    const results = await Promise.all(jobs.map((j) => this.#post(j.url, j.body, j.headers)));
    jobs.forEach((j, i) => {
      const error = results[i];
      const h = this.urls.get(j.url) ?? { consecutiveErrors: 0 };
      if (error === undefined) {
        j.sub.deliveries++;
        j.sub.lastDeliveryAt = now;
        this.urls.set(j.url, { consecutiveErrors: 0 });
      } else {
        h.consecutiveErrors++;
        h.lastError = error;
        if (h.consecutiveErrors >= this.policy.unhealthyAfter && !h.unhealthySince) h.unhealthySince = now;
        this.urls.set(j.url, h);
      }
    });
    this.evaluate();
  }

  /** 200 within the timeout, or why not (429/502/503/504, other statuses, timeouts, connection errors). */
  async #post(url: string, body: unknown, headers: Record<string, string>): Promise<string | undefined> {
    try {
      const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(this.policy.timeoutMs) });
      await res.body.dump();
      return res.statusCode === 200 ? undefined : `HTTP ${res.statusCode}`;
    } catch (err) {
      return (err as { name?: string }).name === 'TimeoutError' ? 'timeout' : ((err as { code?: string }).code ?? 'error');
    }
  }

  protected override clockMoved(): void {
    this.evaluate();
  }

  /** The policy: disable every subscription of a URL unhealthy too long, delete those disabled too long. */
  evaluate(): void {
    const now = this.clock.now().getTime();
    for (const [accountId, a] of this.accounts) {
      for (const [id, s] of [...a.digital, ...a.notification] as [string, DigitalSub | NotificationSub][]) {
        const url = 'callbackUrl' in s ? s.callbackUrl : s.transport.endpoint;
        const h = url ? this.urls.get(url) : undefined;
        const cutoff = h?.unhealthySince ? h.unhealthySince.getTime() + this.policy.disableAfterSeconds * 1000 : undefined;
        // Only subscriptions that existed when the URL crossed the cutoff are disabled.
        if (!s.disabledAt && cutoff !== undefined && now >= cutoff && s.createdAt.getTime() <= cutoff) {
          this.#observe(accountId, s);
          s.disabledAt = new Date(now);
          this.#observe(accountId, s);
        }
        if (s.disabledAt && now >= s.disabledAt.getTime() + this.policy.deleteAfterSeconds * 1000) {
          a.digital.delete(id);
          a.notification.delete(id);
          this.audit.gone(id, true);
        }
      }
    }
  }

  #status(s: NotificationSub): 'ACTIVE' | 'INACTIVE' {
    return this.clock.now() >= s.expiresAt ? 'INACTIVE' : 'ACTIVE';
  }

  viewDigital(s: DigitalSub) {
    return { subscriptionId: s.subscriptionId, channelProviderId: s.channelProviderId, callbackUrl: s.callbackUrl, eventTypes: [...s.eventTypes] };
  }

  viewNotification(s: NotificationSub) {
    const now = this.clock.now().getTime();
    return {
      subscriptionId: s.subscriptionId,
      createdAt: s.createdAt.toISOString(),
      expiresAt: s.expiresAt.toISOString(),
      expiresIn: Math.max(0, Math.floor((s.expiresAt.getTime() - now) / 1000)),
      status: this.#status(s),
      family: s.family,
      events: [...s.events],
      transport: { ...s.transport, ...(s.transport.type === 'WEBSOCKET' ? { pingInterval: 300 } : {}) },
      ...(s.extensions ? { extensions: s.extensions } : {}),
    };
  }

  protected async route(req: Req): Promise<Res> {
    if (req.path.startsWith('/_sandbox')) return this.#admin(req);
    const tok = TOKEN.exec(req.path);
    if (tok && req.method === 'POST') return this.#token(req, tok[1]!);
    const api = req.path.startsWith(DIGITAL) ? 'digital' : req.path.startsWith(NOTIFICATION) ? 'notification' : undefined;
    if (!api) return problem(404, 'not-found', 'Not Found', `no route for ${req.path}`);
    const rest = req.path.slice((api === 'digital' ? DIGITAL : NOTIFICATION).length);
    const [accountId, ...parts] = rest.split('/');
    if (!/^[a-zA-Z]{6}$/.test(accountId ?? '')) return problem(400, 'constraint-violation', 'Constraint Violation', 'accountId must be 6 letters');
    if (!req.headers.appkey) return problem(401, 'unauthorized', 'Unauthorized', 'the appkey header is required');
    const t = this.#tokens.get((req.headers.authorization ?? '').replace(/^Bearer\s+/i, ''));
    if (!t || t.expiresAt <= this.clock.now().getTime()) return problem(401, 'unauthorized', 'Unauthorized', 'a valid bearer token is required');
    if (t.accountId !== accountId) return problem(403, 'forbidden', 'Forbidden', 'the token belongs to another account');
    const a = this.account(accountId!);
    const sub = parts.join('/');
    if (api === 'digital') return this.#digital(accountId!, a, req, sub);
    return this.#notification(accountId!, a, req, sub);
  }

  #token(req: Req, accountId: string): Res {
    if (!req.headers.appkey) return problem(401, 'unauthorized', 'Unauthorized', 'the appkey header is required');
    const form = new URLSearchParams(req.body);
    if (form.get('grant_type') !== 'client_credentials') return problem(400, 'bad-request', 'Bad Request', 'grant_type must be client_credentials here');
    if (!form.get('client_id') || !form.get('client_secret')) return problem(401, 'unauthorized', 'Unauthorized', 'invalid client credentials');
    const token = randomBytes(24).toString('base64url');
    this.#tokens.set(token, { accountId, expiresAt: this.clock.now().getTime() + this.tokenLifetimeSeconds * 1000 });
    return { status: 200, body: { access_token: token, expires_in: this.tokenLifetimeSeconds, refresh_token: randomBytes(24).toString('base64url') } };
  }

  #digital(accountId: string, a: Account, req: Req, sub: string): Res {
    const body = parseJson(req.body) as Record<string, unknown> | undefined;
    if (sub === 'subscriptions' && req.method === 'POST') {
      const err = validateDigital(body);
      if (err) return problem(400, 'constraint-violation', 'Constraint Violation', err);
      const s: DigitalSub = { subscriptionId: randomUUID(), createdAt: this.clock.now(), deliveries: 0, channelProviderId: body!.channelProviderId as string, callbackUrl: body!.callbackUrl as string, eventTypes: body!.eventTypes as string[] };
      this.sweep();
      this.audit.call(req, { op: 'create', kind: 'axp-digital', id: s.subscriptionId, identity: digitalIdentity(accountId, s), committed: true });
      a.digital.set(s.subscriptionId, s);
      this.#observe(accountId, s);
      return { status: 201, body: this.viewDigital(s) };
    }
    if (sub === 'subscriptions' && req.method === 'GET') {
      const cp = req.query.get('channelProviderId');
      return { status: 200, body: [...a.digital.values()].filter((s) => !cp || s.channelProviderId === cp).map((s) => this.viewDigital(s)) };
    }
    const m = /^subscriptions\/([^/]+)$/.exec(sub);
    if (!m) return problem(404, 'not-found', 'Not Found', `no route for ${req.method} ${req.path}`);
    if (!UUID.test(m[1]!)) return problem(400, 'constraint-violation', 'Constraint Violation', 'subscriptionId must be a UUID');
    const s = a.digital.get(m[1]!);
    if (!s) {
      if (req.method === 'PUT' || req.method === 'DELETE') this.audit.call(req, { op: req.method === 'PUT' ? 'update' : 'delete', kind: 'axp-digital', id: m[1]!, identity: '', committed: false });
      return problem(404, 'not-found', 'Not Found', `subscription ${m[1]} not found`);
    }
    if (req.method === 'GET') return { status: 200, body: this.viewDigital(s) };
    if (req.method === 'DELETE') {
      this.audit.call(req, { op: 'delete', kind: 'axp-digital', id: s.subscriptionId, identity: digitalIdentity(accountId, s), committed: true });
      a.digital.delete(s.subscriptionId);
      this.audit.gone(s.subscriptionId, false);
      return { status: 204 };
    }
    if (req.method === 'PUT') {
      const err = validateDigital(body);
      if (err) return problem(400, 'constraint-violation', 'Constraint Violation', err);
      this.audit.call(req, { op: 'update', kind: 'axp-digital', id: s.subscriptionId, identity: digitalIdentity(accountId, s), committed: true, body: req.body });
      Object.assign(s, { channelProviderId: body!.channelProviderId, callbackUrl: body!.callbackUrl, eventTypes: body!.eventTypes });
      this.#observe(accountId, s);
      return { status: 200, body: this.viewDigital(s) };
    }
    return problem(405, 'method-not-allowed', 'Method Not Allowed', `${req.method} is not supported here`);
  }

  #notification(accountId: string, a: Account, req: Req, sub: string): Res {
    const body = parseJson(req.body) as Record<string, unknown> | undefined;
    if (sub === 'subscriptions' && req.method === 'POST') {
      const err = validateNotification(body);
      if (err) return problem(400, 'constraint-violation', 'Constraint Violation', err);
      const now = this.clock.now();
      const t = body!.transport as NotificationSub['transport'];
      const id = randomUUID();
      const transport = t.type === 'WEBSOCKET' ? { type: 'WEBSOCKET', endpoint: `wss://sandbox.invalid/ws/${id}` } : { type: 'WEBHOOK', endpoint: t.endpoint!, ...(t.authToken ? { authToken: t.authToken, authTokenHeader: t.authTokenHeader ?? 'auth-token' } : {}) };
      const s: NotificationSub = { subscriptionId: id, createdAt: now, expiresAt: new Date(now.getTime() + this.subscriptionLifetimeSeconds * 1000), deliveries: 0, family: body!.family as string, events: body!.events as string[], transport, ...(body!.extensions ? { extensions: body!.extensions as Record<string, string> } : {}) };
      this.sweep();
      this.audit.call(req, { op: 'create', kind: 'axp-notification', id, identity: notificationIdentity(accountId, s), committed: true });
      a.notification.set(id, s);
      this.#observe(accountId, s);
      return { status: 201, body: this.viewNotification(s) };
    }
    if (sub === 'subscriptions' && req.method === 'GET') {
      const pageNumber = Number(req.query.get('pageNumber') ?? 1);
      const pageSize = Number(req.query.get('pageSize') ?? 10);
      if (!(pageNumber >= 1) || !(pageSize >= 1 && pageSize <= 25)) return problem(400, 'constraint-violation', 'Constraint Violation', 'pageNumber >= 1, pageSize 1 to 25');
      const all = [...a.notification.values()].sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || x.subscriptionId.localeCompare(y.subscriptionId));
      const pages = Math.max(1, Math.ceil(all.length / pageSize));
      const link = (n: number) => `/api/notification/v1/accounts/${req.path.split('/')[5]}/subscriptions?pageNumber=${n}&pageSize=${pageSize}`;
      return { status: 200, body: { pagination: { pageNumber, pageSize, total: all.length }, subscriptions: all.slice((pageNumber - 1) * pageSize, pageNumber * pageSize).map((s) => this.viewNotification(s)), links: { prev: pageNumber > 1 ? link(pageNumber - 1) : '', next: pageNumber < pages ? link(pageNumber + 1) : '' } } };
    }
    const m = /^subscriptions\/([^/:]+)(:renew)?$/.exec(sub);
    if (!m) return problem(404, 'not-found', 'Not Found', `no route for ${req.method} ${req.path}`);
    if (!UUID.test(m[1]!)) return problem(400, 'constraint-violation', 'Constraint Violation', 'subscriptionId must be a UUID');
    const s = a.notification.get(m[1]!);
    if (!s) {
      if ((m[2] && req.method === 'POST') || req.method === 'DELETE') this.audit.call(req, { op: m[2] ? 'renew' : 'delete', kind: 'axp-notification', id: m[1]!, identity: '', committed: false });
      return problem(404, 'not-found', 'Not Found', `subscription ${m[1]} not found`);
    }
    this.#observe(accountId, s);
    if (m[2] && req.method === 'POST') {
      const t = (body as { transport?: { authToken?: unknown } } | undefined)?.transport;
      if (body !== undefined && typeof t?.authToken !== 'string') return problem(400, 'constraint-violation', 'Constraint Violation', 'a renew body needs transport.authToken');
      this.audit.call(req, { op: 'renew', kind: 'axp-notification', id: s.subscriptionId, identity: notificationIdentity(accountId, s), committed: true });
      if (typeof t?.authToken === 'string') s.transport.authToken = t.authToken;
      s.expiresAt = new Date(this.clock.now().getTime() + this.subscriptionLifetimeSeconds * 1000);
      this.#observe(accountId, s);
      return { status: 200, body: this.viewNotification(s) };
    }
    if (m[2]) return problem(405, 'method-not-allowed', 'Method Not Allowed', ':renew takes POST');
    if (req.method === 'GET') return { status: 200, body: this.viewNotification(s) };
    if (req.method === 'DELETE') {
      this.audit.call(req, { op: 'delete', kind: 'axp-notification', id: s.subscriptionId, identity: notificationIdentity(accountId, s), committed: true });
      a.notification.delete(s.subscriptionId);
      this.audit.gone(s.subscriptionId, false);
      return { status: 204 };
    }
    return problem(405, 'method-not-allowed', 'Method Not Allowed', 'AXP Notification has no update');
  }

  #admin(req: Req): Res {
    const common = this.commonAdmin(req);
    if (common) return common;
    if (req.path === '/_sandbox/state' && req.method === 'GET') {
      const accounts = Object.fromEntries(
        [...this.accounts].map(([id, a]) => [
          id,
          {
            digital: [...a.digital.values()].map((s) => ({ ...this.viewDigital(s), disabledAt: s.disabledAt?.toISOString() ?? null, deliveries: s.deliveries })),
            notification: [...a.notification.values()].map((s) => ({ ...this.viewNotification(s), disabledAt: s.disabledAt?.toISOString() ?? null, deliveries: s.deliveries })),
          },
        ]),
      );
      const urls = Object.fromEntries([...this.urls].map(([u, h]) => [u, { ...h, unhealthySince: h.unhealthySince?.toISOString() ?? null }]));
      return { status: 200, body: { now: this.clock.now().toISOString(), policy: this.policy, urls, accounts, stats: Object.fromEntries(this.server.stats) } };
    }
    return { status: 404, body: { error: 'unknown sandbox admin route' } };
  }
}

/** What an AXP Digital subscription is, for the audit: account, channel provider, callback and event types. */
export function digitalIdentity(accountId: string, s: Pick<DigitalSub, 'channelProviderId' | 'callbackUrl' | 'eventTypes'>): string {
  return `axp-digital ${accountId} ${s.channelProviderId} ${s.callbackUrl} events=${sorted(s.eventTypes)}`;
}

/** What an AXP Notification subscription is, for the audit: account, family, callback and events. */
export function notificationIdentity(accountId: string, s: { family: string; events: readonly string[]; transport: { type?: string; endpoint?: string } }): string {
  return `axp-notification ${accountId} ${s.family} ${s.transport.type === 'WEBSOCKET' ? 'WEBSOCKET' : s.transport.endpoint} events=${sorted(s.events)}`;
}

function validateDigital(b: Record<string, unknown> | undefined): string | undefined {
  if (!b || typeof b !== 'object') return 'the body must be a JSON object';
  if (typeof b.channelProviderId !== 'string' || b.channelProviderId.length < 3 || b.channelProviderId.length > 256) return 'channelProviderId must be 3 to 256 characters';
  if (typeof b.callbackUrl !== 'string' || b.callbackUrl.length > 2048 || !isCallbackUrl(b.callbackUrl)) return 'callbackUrl must be a public https URL';
  const e = b.eventTypes;
  if (!Array.isArray(e) || e.length < 1 || e.length > 6 || e.some((x) => !DIGITAL_EVENTS.has(x as string))) return 'eventTypes must hold 1 to 6 known event types';
  return undefined;
}

function validateNotification(b: Record<string, unknown> | undefined): string | undefined {
  if (!b || typeof b !== 'object') return 'the body must be a JSON object';
  if (b.family !== 'AGENT_ENGAGEMENT' && b.family !== 'ANALYTICS') return 'family must be AGENT_ENGAGEMENT or ANALYTICS';
  const e = b.events;
  if (!Array.isArray(e) || e.length < 1 || e.length > 25 || e.some((x) => typeof x !== 'string' || x.length < 1 || x.length > 256)) return 'events must hold 1 to 25 names';
  const t = b.transport as Record<string, unknown> | undefined;
  if (!t || (t.type !== 'WEBHOOK' && t.type !== 'WEBSOCKET')) return 'transport.type must be WEBHOOK or WEBSOCKET';
  if (t.type === 'WEBHOOK' && (typeof t.endpoint !== 'string' || t.endpoint.length > 2048 || !URL.canParse(t.endpoint))) return 'transport.endpoint is required for WEBHOOK';
  if (b.extensions !== undefined && (typeof b.extensions !== 'object' || Object.keys(b.extensions as object).length > 50)) return 'extensions takes at most 50 entries';
  return undefined;
}

/** Public https, or http to a loopback host (the sandbox's own receivers). */
function isCallbackUrl(u: string): boolean {
  if (!URL.canParse(u)) return false;
  const url = new URL(u);
  return url.protocol === 'https:' || (url.protocol === 'http:' && /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname));
}

function problem(status: number, type: string, title: string, detail: string): Res {
  return { status, headers: { 'content-type': 'application/problem+json' }, body: { type: `https://developers.avayacloud.com/onecloud-ccaas/docs/error-handling#${type}`, title, status, detail } };
}

function statKey(req: Req): string {
  const api = req.path.startsWith(DIGITAL) ? 'digital' : req.path.startsWith(NOTIFICATION) ? 'notification' : 'auth';
  if (api === 'auth') return 'token';
  if (req.path.endsWith(':renew')) return `${api}.renew`;
  if (/\/subscriptions$/.test(req.path)) return `${api}.${req.method === 'POST' ? 'create' : 'list'}`;
  return `${api}.${req.method.toLowerCase()}`;
}
