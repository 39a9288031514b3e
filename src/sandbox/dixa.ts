import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';
import { OffsetClock, type Clock } from '../lib/clock.js';
import { DIXA_EVENTS } from '../providers/dixa/config.js';
import { tenantTag } from './audit.js';
import { parseJson, Sandbox, type Req, type Res } from './server.js';

/**
 * Dixa webhook subscriptions simulator, under both /v1/webhooks and /beta/webhooks, over real
 * HTTP. Each API token is an organisation of its own. Enforces Dixa's rate limit per token
 * (a token bucket: `burst` requests at once, refilled at `perSecond`, in real time) with
 * 429 and Retry-After; really delivers events to the callbacks and records delivery
 * statuses and logs as Dixa describes them; optionally disables a subscription after
 * repeated failures (Dixa does not document whether it does).
 */
export interface DixaSandboxOptions {
  clock?: Clock;
  rateLimit?: { perSecond: number; burst: number };
  deliverEveryMs?: number;
  /** Disable a subscription after this many failed deliveries in a row (off by default). */
  disableAfterFailures?: number;
  timeoutMs?: number;
}

interface Detail {
  deliveryTimestamp: string;
  success: boolean;
  responseCode: number;
  responseText: string;
}

export interface DixaWebhook {
  id: string;
  name: string;
  url: string;
  authorization: Record<string, string>;
  customHeaders: Record<string, string>;
  events: string[];
  enabled: boolean;
  filters?: unknown;
  secretKey: string;
  createdAt: Date;
  updatedAt: Date;
  status: Map<string, Detail>;
  logs: Map<string, { deliveryDetail: Detail; payload: string }[]>;
  failures: number;
}

const EVENTS = new Set<string>(DIXA_EVENTS);
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const USER = '64b777c3-eb82-49fb-bb3e-294afb5d840c';
const msg = (status: number, message: string, headers?: Record<string, string>): Res => ({ status, body: { message }, ...(headers ? { headers } : {}) });

export class DixaSandbox extends Sandbox {
  readonly clock: Clock;
  readonly rateLimit: { perSecond: number; burst: number };
  readonly orgs = new Map<string, Map<string, DixaWebhook>>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  rateLimited = 0;

  constructor(private readonly opts: DixaSandboxOptions = {}) {
    super(statKey, opts.deliverEveryMs);
    this.clock = opts.clock ?? new OffsetClock();
    this.rateLimit = opts.rateLimit ?? { perSecond: 10, burst: 4 };
  }

  /** Tells the audit what a subscription is (its organisation and name) and whether it is enabled. */
  #observe(token: string, w: DixaWebhook): void {
    this.audit.observe('dixa', w.id, dixaIdentity(tenantTag(token), w.name), w.enabled ? 'active' : 'disabled');
  }

  protected override sweep(): void {
    for (const [token, o] of this.orgs) for (const w of o.values()) this.#observe(token, w);
  }

  org(token: string): Map<string, DixaWebhook> {
    let o = this.orgs.get(token);
    if (!o) this.orgs.set(token, (o = new Map()));
    return o;
  }

  view(w: DixaWebhook) {
    return {
      id: w.id,
      name: w.name,
      url: w.url,
      headers: outgoingHeaders(w),
      secretKey: w.secretKey,
      enabled: w.enabled,
      subscribedEvents: [...w.events],
      ...(w.filters ? { filters: w.filters } : {}),
      createdAt: w.createdAt.toISOString(),
      createdBy: USER,
      updatedAt: w.updatedAt.toISOString(),
      updatedBy: USER,
    };
  }

  /** Token bucket per API token, in real time (rate limits are about wall-clock rates). */
  #allow(token: string): boolean {
    const now = performance.now();
    const b = this.#buckets.get(token) ?? { tokens: this.rateLimit.burst, at: now };
    b.tokens = Math.min(this.rateLimit.burst, b.tokens + ((now - b.at) / 1000) * this.rateLimit.perSecond);
    b.at = now;
    this.#buckets.set(token, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  protected override async deliverRound(): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (const [token, org] of this.orgs) for (const w of org.values()) if (w.enabled) for (const e of w.events) jobs.push(this.#deliverOne(token, w, e));
    await Promise.all(jobs);
  }

  async #deliverOne(token: string, w: DixaWebhook, event: string): Promise<void> {
    const at = this.clock.now();
    const payload = JSON.stringify({
      event_id: randomUUID(),
      event_fqn: event.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase(),
      event_version: '1',
      event_timestamp: at.toISOString(),
      organization: { id: '2b6d5e3c-0000-4000-8000-000000000001', name: 'Sandbox org' },
      data: { conversation: { csid: 1, channel: 'WIDGET_CHAT', status: 'OPEN' } },
    });
    let detail: Detail;
    try {
      const res = await request(w.url, { method: 'POST', headers: { 'content-type': 'application/json', ...outgoingHeaders(w) }, body: payload, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000) });
      const text = (await res.body.text()).slice(0, 100);
      detail = { deliveryTimestamp: at.toISOString(), success: res.statusCode >= 200 && res.statusCode < 300, responseCode: res.statusCode, responseText: text || (res.statusCode < 300 ? 'OK' : 'Error') };
    } catch (err) {
      const timeout = (err as { name?: string }).name === 'TimeoutError';
      detail = { deliveryTimestamp: at.toISOString(), success: false, responseCode: timeout ? 504 : 502, responseText: timeout ? 'Request timed out' : `Connection failed (${(err as { code?: string }).code ?? 'error'})` };
    }
    w.status.set(event, detail);
    const log = w.logs.get(event) ?? [];
    log.unshift({ deliveryDetail: detail, payload });
    w.logs.set(event, log.slice(0, 20));
    w.failures = detail.success ? 0 : w.failures + 1;
    if (this.opts.disableAfterFailures && w.failures >= this.opts.disableAfterFailures && w.enabled) {
      w.enabled = false;
      this.#observe(token, w);
    }
  }

  protected async route(req: Req): Promise<Res> {
    if (req.path.startsWith('/_sandbox')) return this.#admin(req);
    const m = /^\/(v1|beta)\/webhooks(?:\/([^/]+))?(\/delivery-status(?:\/logs\/([^/]+))?)?$/.exec(req.path);
    if (!m) return msg(404, 'The requested resource could not be found');
    const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    if (!token) return msg(401, 'Missing API token');
    if (!this.#allow(token)) {
      this.rateLimited++;
      return msg(429, 'Too Many Requests', { 'retry-after': '1' });
    }
    const org = this.org(token);
    const [, , id, sub, event] = m;
    const body = parseJson(req.body);
    if (!id) {
      if (req.method === 'GET') return { status: 200, body: { data: [...org.values()].map((w) => this.view(w)) } };
      if (req.method === 'POST') return this.#create(token, org, body, req);
      return msg(405, 'Method not allowed');
    }
    if (!UUID.test(id)) return msg(400, 'Invalid value for: path parameter webhookSubscriptionId');
    const w = org.get(id);
    if (!w) {
      if (!sub && (req.method === 'PATCH' || req.method === 'DELETE')) this.audit.call(req, { op: req.method === 'PATCH' ? 'update' : 'delete', kind: 'dixa', id, identity: '', committed: false });
      return msg(404, 'The requested resource could not be found');
    }
    if (sub && !event && req.method === 'GET') {
      return { status: 200, body: { data: w.events.map((e) => ({ event: e, deliveryStatus: w.status.has(e) ? { _type: 'DeliveryDetail', ...w.status.get(e)! } : { _type: 'NoRecentDelivery' } })) } };
    }
    if (sub && event && req.method === 'GET') {
      if (!EVENTS.has(event)) return msg(400, 'Invalid value for: path parameter event');
      return { status: 200, body: { data: w.logs.get(event) ?? [] } };
    }
    if (req.method === 'GET') return { status: 200, body: { data: this.view(w) } };
    if (req.method === 'DELETE') {
      this.audit.call(req, { op: 'delete', kind: 'dixa', id, identity: dixaIdentity(tenantTag(token), w.name), committed: true });
      org.delete(id);
      this.audit.gone(id, false);
      return { status: 204 };
    }
    if (req.method === 'PATCH') {
      const err = validate(body, false);
      if (err) return msg(400, err);
      const b = body as Record<string, unknown>;
      this.#observe(token, w);
      this.audit.call(req, { op: 'update', kind: 'dixa', id, identity: dixaIdentity(tenantTag(token), w.name), committed: true, body: req.body });
      if (b.name !== undefined) w.name = b.name as string;
      if (b.url !== undefined) w.url = b.url as string;
      if (b.events !== undefined) w.events = b.events as string[];
      if (b.authorization !== undefined) w.authorization = b.authorization as Record<string, string>;
      if (b.customHeaders !== undefined) w.customHeaders = b.customHeaders as Record<string, string>;
      if (b.enabled !== undefined) w.enabled = b.enabled as boolean;
      if (b.filters !== undefined) w.filters = b.filters;
      if (b.enabled === true) w.failures = 0;
      w.updatedAt = this.clock.now();
      this.#observe(token, w);
      return { status: 200, body: { data: this.view(w) } };
    }
    return msg(405, 'Method not allowed');
  }

  #create(token: string, org: Map<string, DixaWebhook>, body: unknown, req: Req): Res {
    const err = validate(body, true);
    if (err) return msg(400, err);
    const b = body as Record<string, unknown>;
    const now = this.clock.now();
    const w: DixaWebhook = {
      id: randomUUID(),
      name: b.name as string,
      url: b.url as string,
      authorization: b.authorization as Record<string, string>,
      customHeaders: (b.customHeaders as Record<string, string>) ?? {},
      events: (b.events as string[]) ?? [],
      enabled: (b.enabled as boolean | undefined) ?? true,
      ...(b.filters ? { filters: b.filters } : {}),
      secretKey: randomBytes(32).toString('hex'),
      createdAt: now,
      updatedAt: now,
      status: new Map(),
      logs: new Map(),
      failures: 0,
    };
    this.sweep();
    this.audit.call(req, { op: 'create', kind: 'dixa', id: w.id, identity: dixaIdentity(tenantTag(token), w.name), committed: true });
    org.set(w.id, w);
    this.#observe(token, w);
    return { status: 201, body: { data: this.view(w) } };
  }

  #admin(req: Req): Res {
    const common = this.commonAdmin(req);
    if (common) return common;
    if (req.path === '/_sandbox/state' && req.method === 'GET') {
      const orgs = [...this.orgs.values()].map((o) => [...o.values()].map((w) => ({ ...this.view(w), secretKey: '[hidden]', deliveryStatus: Object.fromEntries(w.status) })));
      return { status: 200, body: { now: this.clock.now().toISOString(), rateLimit: this.rateLimit, rateLimited: this.rateLimited, organisations: orgs, stats: Object.fromEntries(this.server.stats) } };
    }
    const dis = /^\/_sandbox\/webhooks\/([^/]+)\/disable$/.exec(req.path);
    if (dis && req.method === 'POST') {
      for (const [token, o] of this.orgs) {
        const w = o.get(dis[1]!);
        if (w) {
          w.enabled = false;
          this.#observe(token, w);
        }
      }
      return { status: 204 };
    }
    return { status: 404, body: { message: 'unknown sandbox admin route' } };
  }
}

/** What a Dixa subscription is, for the audit: its organisation (a hash of the API token) and name. */
export function dixaIdentity(org: string, name: string): string {
  return `dixa ${org} ${name}`;
}

/** Dixa's computed outgoing headers: Authorization from `authorization`, plus customHeaders. */
function outgoingHeaders(w: Pick<DixaWebhook, 'authorization' | 'customHeaders'>): Record<string, string> {
  const h: Record<string, string> = { ...w.customHeaders };
  const a = w.authorization;
  if (a?._type === 'BasicAuth') h.Authorization = `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}`;
  if (a?._type === 'TokenAuth') h.Authorization = `Bearer ${a.value}`;
  return h;
}

function validate(body: unknown, create: boolean): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'Decoding failure in request';
  const b = body as Record<string, unknown>;
  if (create && (typeof b.name !== 'string' || typeof b.url !== 'string' || typeof b.authorization !== 'object')) return 'Invalid value for: body';
  if (b.url !== undefined && (typeof b.url !== 'string' || !URL.canParse(b.url))) return 'Invalid value for: body (url)';
  if (b.authorization !== undefined) {
    const a = b.authorization as Record<string, unknown>;
    const ok = a && ((a._type === 'BasicAuth' && typeof a.username === 'string' && typeof a.password === 'string') || (a._type === 'TokenAuth' && typeof a.value === 'string') || a._type === 'NoAuth');
    if (!ok) return 'Invalid value for: body (authorization)';
  }
  if (b.events !== undefined && (!Array.isArray(b.events) || b.events.some((e) => !EVENTS.has(e as string)) || new Set(b.events).size !== b.events.length)) return 'Validation failure during Webhook Subscription creation (events)';
  if (b.enabled !== undefined && typeof b.enabled !== 'boolean') return 'Invalid value for: body (enabled)';
  if (b.customHeaders !== undefined && (typeof b.customHeaders !== 'object' || b.customHeaders === null)) return 'Invalid value for: body (customHeaders)';
  return undefined;
}

function statKey(req: Req): string {
  if (req.path.includes('/logs/')) return 'logs';
  if (req.path.endsWith('/delivery-status')) return 'delivery-status';
  if (/\/webhooks$/.test(req.path)) return req.method === 'POST' ? 'create' : 'list';
  return req.method.toLowerCase();
}
