import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of Postgres that the harness can cut:
 * - `reset`: every connection is destroyed and new ones are refused until `heal()` (the
 *   database went away; the server sees the clients leave).
 * - `blackhole`: connections stay open but no byte passes either way, and new connections
 *   get no answer, until `heal()` delivers what was held (a network partition: the server
 *   still thinks the client is there, the client still thinks it holds its session).
 */
type Mode = 'open' | 'reset' | 'blackhole';

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  held: { toUpstream: Buffer[]; toClient: Buffer[] };
}

export class PgProxy {
  #server: Server | undefined;
  #mode: Mode = 'open';
  readonly #pairs = new Set<Pair>();
  port = 0;
  connections = 0;

  constructor(private readonly upstream: () => { host: string; port: number }) {}

  get mode(): Mode {
    return this.#mode;
  }

  async listen(): Promise<number> {
    this.#server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject);
      this.#server!.listen(0, '127.0.0.1', () => resolve());
    });
    const a = this.#server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    return this.port;
  }

  #accept(client: Socket): void {
    if (this.#mode === 'reset') {
      client.destroy();
      return;
    }
    this.connections++;
    const pair: Pair = { client, upstream: undefined, held: { toUpstream: [], toClient: [] } };
    this.#pairs.add(pair);
    client.setNoDelay(true);
    client.on('data', (d: Buffer) => {
      if (this.#mode === 'open' && pair.upstream) pair.upstream.write(d);
      else pair.held.toUpstream.push(d);
    });
    const end = () => this.#drop(pair);
    client.on('error', end);
    client.on('close', end);
    if (this.#mode === 'open') this.#connectUpstream(pair);
  }

  #connectUpstream(pair: Pair): void {
    const { host, port } = this.upstream();
    const up = connect({ host, port });
    up.setNoDelay(true);
    pair.upstream = up;
    up.on('connect', () => {
      if (this.#mode === 'open') this.#flush(pair);
    });
    up.on('data', (d: Buffer) => {
      if (this.#mode === 'open') pair.client.write(d);
      else pair.held.toClient.push(d);
    });
    const end = () => this.#drop(pair);
    up.on('error', end);
    up.on('close', end);
  }

  #flush(pair: Pair): void {
    for (const d of pair.held.toUpstream.splice(0)) pair.upstream?.write(d);
    for (const d of pair.held.toClient.splice(0)) pair.client.write(d);
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }

  /** Cuts every connection (`reset`) or freezes them (`blackhole`) until heal(). */
  cut(kind: 'reset' | 'blackhole'): void {
    this.#mode = kind;
    if (kind === 'reset') for (const p of [...this.#pairs]) this.#drop(p);
  }

  heal(): void {
    const was = this.#mode;
    this.#mode = 'open';
    if (was !== 'blackhole') return;
    for (const p of this.#pairs) {
      if (!p.upstream) this.#connectUpstream(p);
      else if (!p.upstream.connecting) this.#flush(p);
    }
  }

  /** Every connection is dropped (after a Postgres restart the old ones are dead anyway). */
  dropAll(): void {
    for (const p of [...this.#pairs]) this.#drop(p);
  }

  async close(): Promise<void> {
    this.dropAll();
    if (this.#server) await new Promise<void>((r) => this.#server!.close(() => r()));
  }
}
