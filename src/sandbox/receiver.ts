import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { ProbeFormat } from '../domain/types.js';
import { PROBE_HEADER } from '../watchdog/payloads.js';

/**
 * A webhook receiver for the demo and the tests: answers 200 to events whose shape matches
 * the format expected on their path (400 otherwise), and can be broken and mended — failing
 * with a status, answering too slowly, or dropping connections.
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

export class CallbackReceiver {
  mode: ReceiverMode = { kind: 'ok' };
  /** Modes for some paths only (longest prefix wins); others follow `mode`. */
  readonly pathModes = new Map<string, ReceiverMode>();
  readonly received: Received[] = [];
  readonly rejected: { path: string; why: string }[] = [];
  readonly #formats: [string, ProbeFormat][] = [];
  #server: Server | undefined;
  url = '';

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

  async close(): Promise<void> {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server!.close(() => r()));
  }
}
