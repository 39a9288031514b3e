import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, type Dispatcher } from 'undici';
import { afterAll, beforeAll } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { providerKinds } from '../../src/providers/registry.js';
import type { Provider } from '../../src/providers/types.js';

/**
 * A provider that answers whatever a test scripts, over real HTTP on loopback: the token
 * endpoint and the API are told apart by path, and every request is counted.
 */

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  /** A string or a value sent as JSON. */
  body?: unknown;
  /** Sent as it is, not as JSON (HTML, truncated JSON). */
  raw?: string;
  /** That many bytes of JSON-looking filler, over the client's limit. */
  hugeBytes?: number;
  /** Declared with content-length (else chunked). */
  declareLength?: boolean;
  /** Headers sent, then nothing more. */
  stall?: boolean;
  /** The connection is cut halfway through the body. */
  cut?: boolean;
}

export type Kind = 'avaya-infinity' | 'axp-notification' | 'axp-digital' | 'dixa';
export const KINDS: Kind[] = ['avaya-infinity', 'axp-notification', 'axp-digital', 'dixa'];

export const validToken: Answer = { body: { access_token: 'tok', expires_in: 300, token_type: 'Bearer' } };

export class FakeProvider {
  server: Server;
  url = '';
  /** Answers of the API in order; the last is repeated once they run out. */
  api: Answer[] = [{ body: [] }];
  token: Answer[] = [validToken];
  counts = { api: 0, token: 0 };
  private open = new Set<ServerResponse>();

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  script(api: Answer[], token: Answer[] = [validToken]): void {
    this.api = api.length ? api : [{ body: [] }];
    this.token = token.length ? token : [validToken];
    this.counts = { api: 0, token: 0 };
    // A stalled answer from a previous run must not hold its socket.
    for (const r of this.open) r.destroy();
    this.open.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const isToken = (req.url ?? '').includes('/token');
    const list = isToken ? this.token : this.api;
    const n = isToken ? this.counts.token++ : this.counts.api++;
    const a = list[Math.min(n, list.length - 1)]!;
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    res.on('error', () => undefined);
    const payload = a.hugeBytes !== undefined ? Buffer.alloc(a.hugeBytes, ' ') : Buffer.from(a.raw ?? (a.body === undefined ? '' : JSON.stringify(a.body)));
    const headers: Record<string, string> = { 'content-type': a.raw ? 'text/html' : 'application/json', ...a.headers };
    if (a.declareLength !== false && !a.stall) headers['content-length'] = String(payload.length);
    res.writeHead(a.status ?? 200, headers);
    if (a.stall) return void res.flushHeaders();
    if (a.cut) {
      res.write(payload.subarray(0, Math.floor(payload.length / 2)));
      setTimeout(() => res.destroy(), 5);
      return;
    }
    res.end(payload);
  }
}

export const ACCOUNT_NAME: Record<Kind, string> = { 'avaya-infinity': 'inf', 'axp-notification': 'notify', 'axp-digital': 'digital', dixa: 'dixa' };

/** One account of each kind at the fake's URL, with short timeouts. */
export function accountsYaml(url: string, timeout = '500ms'): string {
  const axp = (kind: string) => `    kind: ${kind}
    baseUrl: ${url}
    accountId: ABCDEF
    appKey: k
    clientId: c
    clientSecret: s
    timeout: ${timeout}`;
  return `providers:
  inf:
    kind: avaya-infinity
    baseUrl: ${url}
    clientId: c
    clientSecret: s
    timeout: ${timeout}
  notify:
${axp('axp-notification')}
  digital:
${axp('axp-digital')}
  dixa:
    kind: dixa
    baseUrl: ${url}
    apiToken: \${DIXA_TOKEN}
    timeout: ${timeout}
    rateLimit: { perSecond: 1000, burst: 4 }
`;
}

let dixaTokens = 0;

/**
 * A fresh client of one kind. Dixa keeps one rate limiter per API token for the process:
 * each client gets a token of its own, so tests do not queue behind one another.
 */
export function makeProvider(kind: Kind, url: string, dispatcher: Dispatcher, timeout?: string): Provider {
  const config = parseConfig(accountsYaml(url, timeout), 'c.yaml', { env: { DIXA_TOKEN: `dixa-${process.pid}-${dixaTokens++}` } });
  const a = config.accounts[ACCOUNT_NAME[kind]]!;
  return providerKinds[kind]!.create(ACCOUNT_NAME[kind], a.settings, { dispatcher, clock: new ManualClock(new Date('2026-03-01T12:00:00Z')), logger: silentLogger });
}

/** A subscription as each kind's API lists it. */
export function wireItem(kind: Kind, id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  if (kind === 'axp-digital') return { subscriptionId: id, channelProviderId: 'Chat01', callbackUrl: `https://hooks.example.com/${id}`, eventTypes: ['MESSAGES'], ...over };
  if (kind === 'dixa') return { id, name: `hookwarden:${id}`, url: `https://hooks.example.com/${id}`, enabled: true, subscribedEvents: ['ConversationCreated'], ...over };
  return {
    subscriptionId: id,
    status: 'ACTIVE',
    family: kind === 'avaya-infinity' ? ['AGENT'] : 'AGENT_ENGAGEMENT',
    events: ['ALL'],
    transport: { type: 'WEBHOOK', endpoint: `https://hooks.example.com/${id}` },
    expiresAt: '2026-03-01T13:00:00Z',
    expiresIn: 3600,
    ...over,
  };
}

/** One list answer's body: Avaya kinds are paged, AXP Digital is a bare array, Dixa wraps it in `data`. */
export function listBody(kind: Kind, items: unknown[], page: { next?: string; totalPages?: number } = {}): unknown {
  if (kind === 'axp-digital') return items;
  if (kind === 'dixa') return { data: items };
  return {
    pagination: { pageNumber: 1, pageSize: 25, total: items.length, ...(page.totalPages !== undefined ? { totalPages: page.totalPages } : {}) },
    subscriptions: items,
    links: { prev: '', next: page.next ?? '' },
  };
}

/** One fake provider and one dispatcher for a test file, started before its tests and closed after. */
export function useFakeProvider(): { fake: FakeProvider; dispatcher: Agent } {
  const fake = new FakeProvider();
  const dispatcher = new Agent();
  beforeAll(() => fake.listen());
  afterAll(async () => {
    await dispatcher.close();
    await fake.close();
  });
  return { fake, dispatcher };
}
