import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OffsetClock, type Clock } from '../lib/clock.js';
import { SandboxAudit } from './audit.js';
import { answers, faultAnswer, FaultTable, type Fault } from './faults.js';

export type { Fault } from './faults.js';

/**
 * What every provider sandbox shares: a real HTTP server, fault injection (see faults.ts)
 * and request counters.
 */
export interface Req {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
  /** The order in which requests reached the server, before any injected delay (the audit orders calls by it). */
  arrival?: number;
}

export interface Res {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: Req) => Promise<Res> | Res;

export class SandboxServer {
  readonly faultTable = new FaultTable();
  readonly stats = new Map<string, number>();
  /** Told how every request was answered: its status (0: none) and whether it was the handler's own answer. */
  onAnswered: ((req: Req, status: number, handled: boolean) => void) | undefined;
  #server: Server | undefined;
  url = '';

  constructor(
    private readonly handle: Handler,
    private readonly statKey: (req: Req) => string,
  ) {}

  get faults(): FaultTable['faults'] {
    return this.faultTable.faults;
  }

  addFault(f: Fault): void {
    this.faultTable.add(f);
  }

  clearFaults(): void {
    this.faultTable.clear();
  }

  count(key: string): number {
    return this.stats.get(key) ?? 0;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.#server = createServer((req, res) => void this.#serve(req, res));
    this.#server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(port, host, () => resolve());
    });
    const addr = this.#server.address() as AddressInfo;
    this.url = `http://${host}:${addr.port}`;
    return this.url;
  }

  async close(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server!.close(() => r()));
  }

  async #serve(raw: IncomingMessage, out: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const c of raw) chunks.push(c as Buffer);
    } catch {
      return; // the client went away mid-request
    }
    const u = new URL(raw.url ?? '/', 'http://sandbox');
    const req: Req = { method: raw.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: raw.headers, body: Buffer.concat(chunks).toString('utf8'), arrival: ++arrivals };
    let res: Res;
    let injected: { status: number; headers: Record<string, string>; body: string } | undefined;
    try {
      const fault = req.path.startsWith('/_sandbox') ? undefined : this.faultTable.take(req);
      if (fault?.delayMs) await sleep(fault.delayMs);
      const replaces = fault !== undefined && answers(fault);
      if (replaces && !fault.afterCommit) {
        res = { status: 0 };
      } else {
        if (!req.path.startsWith('/_sandbox')) {
          const key = this.statKey(req);
          this.stats.set(key, (this.stats.get(key) ?? 0) + 1);
        }
        res = await this.handle(req);
      }
      if (fault?.delayAfterMs) await sleep(fault.delayAfterMs);
      if (replaces) {
        const a = faultAnswer(fault, req);
        if (a.kind === 'reset') {
          raw.socket.destroy();
          this.onAnswered?.(req, 0, false);
          return;
        }
        injected = a;
      }
    } catch (err) {
      res = { status: 500, body: { type: 'about:blank', title: 'Server Error', status: 500, detail: (err as Error).message }, headers: { 'content-type': 'application/problem+json' } };
    }
    if (out.destroyed) {
      this.onAnswered?.(req, 0, false);
      return;
    }
    this.onAnswered?.(req, injected?.status ?? res.status, !injected);
    if (injected) {
      out.writeHead(injected.status, injected.headers);
      out.end(injected.body);
      return;
    }
    const isJson = res.body !== undefined && typeof res.body !== 'string';
    out.writeHead(res.status, { ...(isJson ? { 'content-type': 'application/json' } : {}), ...res.headers });
    out.end(res.body === undefined ? undefined : isJson ? JSON.stringify(res.body) : String(res.body));
  }
}

let arrivals = 0;

export function parseJson(body: string): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return Symbol.for('invalid-json');
  }
}

/**
 * What every provider sandbox shares: its HTTP server, faults, and (for the providers that
 * deliver events) a delivery round run on demand or every `deliverEveryMs`.
 */
export abstract class Sandbox {
  readonly server: SandboxServer;
  readonly audit = new SandboxAudit();
  #timer: NodeJS.Timeout | undefined;
  #delivering: Promise<void> | undefined;

  constructor(statKey: (req: Req) => string, deliverEveryMs?: number) {
    this.server = new SandboxServer((r) => this.route(r), statKey);
    this.server.onAnswered = (req, status, handled) => this.audit.answered(req, status, handled);
    this.audit.onSweep(() => this.sweep());
    if (deliverEveryMs) this.#timer = setInterval(() => void this.deliver(), deliverEveryMs);
  }

  protected abstract route(req: Req): Promise<Res> | Res;
  abstract readonly clock: Clock;

  /** The admin routes every sandbox has: faults, a delivery round, moving its clock. */
  protected commonAdmin(req: Req): Res | undefined {
    const body = parseJson(req.body) as Record<string, unknown> | undefined;
    if (req.path === '/_sandbox/faults' && req.method === 'POST') {
      for (const f of Array.isArray(body) ? (body as Fault[]) : [body as Fault]) this.server.addFault(f);
      return { status: 204 };
    }
    if (req.path === '/_sandbox/faults' && req.method === 'GET') {
      return { status: 200, body: this.server.faultTable.view() };
    }
    if (req.path === '/_sandbox/faults' && req.method === 'DELETE') {
      this.server.clearFaults();
      return { status: 204 };
    }
    if (req.path === '/_sandbox/audit' && req.method === 'GET') {
      return { status: 200, body: this.audit.report({ calls: req.query.get('calls') === '1' }) };
    }
    if (req.path === '/_sandbox/deliver' && req.method === 'POST') {
      void this.deliver();
      return { status: 202 };
    }
    if (req.path === '/_sandbox/clock' && req.method === 'POST' && this.clock instanceof OffsetClock) {
      this.clock.advance(Number(body?.advanceSeconds ?? 0));
      this.clockMoved();
      return { status: 200, body: { now: this.clock.now().toISOString() } };
    }
    return undefined;
  }

  /** Tells the audit the state of every subscription (expiry happens without a call). */
  protected sweep(): void {}

  /** After the clock jumps (AXP re-applies its policy). */
  protected clockMoved(): void {}

  /** One round of deliveries; sandboxes of providers that deliver nothing keep the default. */
  protected async deliverRound(): Promise<void> {}

  get url(): string {
    return this.server.url;
  }

  listen(port = 0, host = '127.0.0.1'): Promise<string> {
    return this.server.listen(port, host);
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#delivering;
    await this.server.close();
  }

  addFault(f: Fault): void {
    this.server.addFault(f);
  }

  /** Runs a delivery round, or joins the one under way. */
  deliver(): Promise<void> {
    this.#delivering ??= this.deliverRound().finally(() => (this.#delivering = undefined));
    return this.#delivering;
  }
}
