import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/**
 * A careless provider, in front of a sandbox: requests are forwarded as they are, except
 * those a rule matches, which get an error whose body echoes parts of the request (its
 * Authorization header, the appkey, the body with its client_secret or callback token) in
 * the shape the provider uses for errors. It also remembers every bearer token it saw, so
 * a test can look for access tokens issued at run time.
 */
/** Listening on a free loopback port, and closing with whatever connections are open. */
abstract class LoopbackServer {
  #server: Server | undefined;
  url = '';

  protected async serve(server: Server): Promise<string> {
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}

export type EchoPart = 'authorization' | 'appkey' | 'body';
export type EchoShape = 'text' | 'problem' | 'message' | 'oauth';

export interface EchoRule {
  method?: string;
  /** Substring of the path (query excluded). */
  path: string;
  status: number;
  parts: EchoPart[];
  shape: EchoShape;
  count?: number;
}

export class EchoProxy extends LoopbackServer {
  readonly rules: (EchoRule & { remaining: number })[] = [];
  readonly bearerTokens = new Set<string>();
  echoed = 0;

  constructor(private readonly upstream: () => string) {
    super();
  }

  echo(rule: EchoRule): this {
    this.rules.push({ ...rule, remaining: rule.count ?? 1 });
    return this;
  }

  async listen(): Promise<string> {
    const server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const auth = String(req.headers.authorization ?? '');
      if (/^Bearer\s+/i.test(auth)) this.bearerTokens.add(auth.replace(/^Bearer\s+/i, ''));
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const i = this.rules.findIndex((r) => (!r.method || r.method === req.method) && path.includes(r.path));
      if (i >= 0) {
        const rule = this.rules[i]!;
        if (--rule.remaining <= 0) this.rules.splice(i, 1);
        this.echoed++;
        const text = rule.parts.map((p) => `${p}=${p === 'body' ? body : String(req.headers[p] ?? '')}`).join(' ');
        const [type, out] = shaped(rule.shape, rule.status, `echo of ${req.method} ${path}: ${text}`);
        res.writeHead(rule.status, { 'content-type': type }).end(out);
        return;
      }
      try {
        const up = await request(this.upstream() + (req.url ?? '/'), { method: req.method as 'GET', headers: forwardable(req.headers), body: body || undefined });
        const text = await up.body.text();
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(up.headers)) if (typeof v === 'string' && !HOP.has(k)) headers[k] = v;
        res.writeHead(up.statusCode, headers).end(text);
      } catch (err) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${(err as Error).message}`);
      }
    });
    return this.serve(server);
  }
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host']);

function forwardable(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && !HOP.has(k)) out[k] = v;
  return out;
}

function shaped(shape: EchoShape, status: number, text: string): [string, string] {
  switch (shape) {
    case 'text':
      return ['text/plain', text];
    case 'problem':
      return ['application/problem+json', JSON.stringify({ type: 'about:blank', title: 'Bad Request', status, detail: text })];
    case 'message':
      return ['application/json', JSON.stringify({ message: text })];
    case 'oauth':
      return ['application/json', JSON.stringify({ error: 'invalid_client', error_description: text })];
  }
}

/**
 * A callback that fails (500), answering with the values of the headers it was sent:
 * a provider that records the response text (Dixa's delivery status) then holds them.
 */
export class EchoCallback extends LoopbackServer {
  hits = 0;

  async listen(): Promise<string> {
    const server = createServer(async (req, res) => {
      for await (const _ of req) void _;
      this.hits++;
      const values = Object.entries(req.headers)
        .filter(([k]) => !['host', 'connection', 'content-type', 'content-length', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'sec-fetch-mode', 'x-hookwarden-probe'].includes(k))
        .map(([k, v]) => `${k}: ${String(v)}`);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`rejected ${values.join('; ')}`);
    });
    return this.serve(server);
  }
}
