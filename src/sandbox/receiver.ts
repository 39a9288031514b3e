import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ProbeFormat } from '../domain/types.js';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verifySignature } from '../hooks/gap-hook.js';
import { PROBE_HEADER } from '../watchdog/payloads.js';

/**
 * A webhook receiver for the demo and the tests: answers 200 to events whose shape matches
 * the format expected on their path (400 otherwise), and can be broken and mended — failing
 * with a status, answering too slowly, or dropping connections.
 *
 * It also receives hookwarden's backfill hook (a closed coverage gap) on `POST /backfill`:
 * the signature is checked when a secret is set (401 otherwise), gaps are de-duplicated by
 * id, and `GET /backfill` lists what arrived. Breaking the receiver breaks that POST too.
 */
export type ReceiverMode = { kind: 'ok' } | { kind: 'status'; status: number } | { kind: 'slow'; delayMs: number } | { kind: 'drop' };

const guid = z.string().regex(/^[0-9a-fA-F-]{36}$/);
const iso = z.iso.datetime({ offset: true });

/** What each provider's events look like on the wire (the envelope a receiver relies on). */
export const EVENT_SHAPES: Record<ProbeFormat, z.ZodType> = {
  'axp-digital': z.looseObject({ eventType: z.string().min(1), correlationId: z.string(), eventDate: iso }),
  'axp-notification': z.looseObject({ eventType: z.string().min(1), family: z.enum(['AGENT_ENGAGEMENT', 'ANALYTICS']), eventDate: iso }),
  infinity: z.looseObject({ family: z.string(), eventType: z.string().regex(/^\w+\.\w+$/), eventId: z.string(), timestamp: iso }),
  dixa: z.looseObject({ event_id: guid, event_fqn: z.string().min(1), event_version: z.string(), event_timestamp: iso, data: z.record(z.string(), z.unknown()) }),
  mycontactcenter: z.looseObject({ Id: guid, CreationDateUtc: z.string().regex(/^\d{14}$/), Category: z.number().int(), Code: z.number().int() }),
};

export interface Received {
  path: string;
  probe: boolean;
  at: Date;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
}

/** One coverage gap received by the backfill endpoint, however many times it was delivered. */
export interface ReceivedGap {
  id: string;
  /** The first delivery. */
  at: Date;
  /** How many times it arrived (a hook is delivered at least once). */
  deliveries: number;
  body: unknown;
}

export class CallbackReceiver {
  mode: ReceiverMode = { kind: 'ok' };
  /** Modes for some paths only (longest prefix wins); others follow `mode`. */
  readonly pathModes = new Map<string, ReceiverMode>();
  readonly received: Received[] = [];
  readonly rejected: { path: string; why: string }[] = [];
  readonly #formats: [string, ProbeFormat][] = [];
  #server: Server | undefined;
  url = '';
  /** The backfill endpoint's path. */
  backfillPath = '/backfill';
  /** Backfill hooks must be signed with this secret; unsigned ones are accepted while it is unset. */
  backfillSecret: string | undefined;
  /** Received coverage gaps, by gap id. */
  readonly backfills = new Map<string, ReceivedGap>();

  /** Where the backfill endpoint listens, and the secret its hooks must be signed with. */
  acceptBackfill(opts: { path?: string; secret?: string } = {}): this {
    if (opts.path) this.backfillPath = opts.path;
    this.backfillSecret = opts.secret;
    return this;
  }

  /** Events posted under `pathPrefix` must have `format`'s shape. */
  expect(pathPrefix: string, format: ProbeFormat): this {
    this.#formats.push([pathPrefix, format]);
    return this;
  }

  /** Fail every request, or only those under `pathPrefix`. */
  break(mode: Exclude<ReceiverMode, { kind: 'ok' }> = { kind: 'status', status: 503 }, pathPrefix?: string): void {
    if (pathPrefix) this.pathModes.set(pathPrefix, mode);
    else this.mode = mode;
  }

  mend(pathPrefix?: string): void {
    if (pathPrefix) this.pathModes.delete(pathPrefix);
    else {
      this.mode = { kind: 'ok' };
      this.pathModes.clear();
    }
  }

  modeFor(path: string): ReceiverMode {
    const hit = [...this.pathModes].filter(([p]) => path.startsWith(p)).sort((a, b) => b[0].length - a[0].length)[0];
    return hit ? hit[1] : this.mode;
  }

  count(filter: { path?: string; probe?: boolean } = {}): number {
    return this.received.filter((r) => (filter.path === undefined || r.path.startsWith(filter.path)) && (filter.probe === undefined || r.probe === filter.probe)).length;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<string> {
    this.#server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      // Looking at what arrived works whatever state the receiver is in.
      if (path === this.backfillPath && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ gaps: [...this.backfills.values()] }));
        return;
      }
      const mode = this.modeFor(path);
      if (mode.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (mode.kind === 'slow') await sleep(mode.delayMs);
      if (mode.kind === 'status') {
        res.writeHead(mode.status).end();
        return;
      }
      if (path === this.backfillPath) {
        this.#backfill(req.method ?? 'GET', Buffer.concat(chunks), req.headers, res);
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        this.rejected.push({ path, why: 'not JSON' });
        res.writeHead(400).end();
        return;
      }
      const format = this.#formats.find(([p]) => path.startsWith(p))?.[1];
      if (format) {
        const check = EVENT_SHAPES[format].safeParse(body);
        if (!check.success) {
          this.rejected.push({ path, why: check.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
          res.writeHead(400).end();
          return;
        }
      }
      this.received.push({ path, probe: req.headers[PROBE_HEADER] !== undefined, at: new Date(), body, headers: req.headers });
      if (this.received.length > 10_000) this.received.splice(0, 5_000);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    this.#server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(port, host, () => resolve());
    });
    this.url = `http://${host}:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** A backfill hook: signed (when a secret is set), one record per gap id. */
  #backfill(method: string, raw: Buffer, headers: Record<string, string | string[] | undefined>, res: ServerResponse): void {
    const path = this.backfillPath;
    if (method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST' }).end();
      return;
    }
    if (this.backfillSecret !== undefined && !verifySignature(raw, headers[SIGNATURE_HEADER], this.backfillSecret)) {
      this.rejected.push({ path, why: 'signature does not verify' });
      res.writeHead(401).end();
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      this.rejected.push({ path, why: 'not JSON' });
      res.writeHead(400).end();
      return;
    }
    const fromBody = typeof body === 'object' && body !== null && typeof (body as { id?: unknown }).id === 'string' ? (body as { id: string }).id : undefined;
    const key = headers[IDEMPOTENCY_HEADER];
    const id = fromBody ?? (typeof key === 'string' && key ? key : undefined);
    if (!id) {
      this.rejected.push({ path, why: 'no gap id' });
      res.writeHead(400).end();
      return;
    }
    const seen = this.backfills.get(id);
    if (seen) seen.deliveries++;
    else this.backfills.set(id, { id, at: new Date(), deliveries: 1, body });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, duplicate: seen !== undefined }));
  }

  async close(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server!.close(() => r()));
  }
}
