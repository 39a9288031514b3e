import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import type { Stall } from './stalls.js';

/**
 * The daemon as a user runs it (`node bin/hookwarden.js run -c FILE`), in a process of its
 * own so that its CPU time and memory are its own, with bench/instrument.mjs loaded to count
 * SQL statements and time reconcile passes (read back over loopback).
 */
export interface Snapshot {
  at: number;
  sql: number;
  passes: number;
  cpuSeconds: number;
  rssBytes: number;
  maxRssBytes: number;
  /** process.memoryUsage(): rss, heapTotal, heapUsed, external, arrayBuffers. */
  memory: Record<string, number>;
  /** The daemon's event-loop stalls so far (bench/stalls.ts). */
  stalls?: Stall[];
}

export interface PassRecord {
  account: string;
  start: number;
  /** When its actions were planned (it started executing them); 0 until then, and for a pass that stopped before. */
  planned: number;
  end: number;
  sql: number;
  actions: number;
  records: number;
  renewals: number;
  skipped: boolean;
  error: boolean;
  /** The process's CPU seconds, SQL statement count and resident bytes at the pass's start (0) and end (1). */
  cpu0: number;
  cpu1: number;
  sql0: number;
  sql1: number;
  rss1: number;
}

export class DaemonProcess {
  #proc: ChildProcess | undefined;
  #exited: Promise<number | null> = Promise.resolve(null);
  #passes: PassRecord[] = [];
  #logOffset = 0;
  #reloads: number[] = [];
  startedAt = 0;

  constructor(
    private readonly o: { bin: string; dist: string; instrument: string; config: string; port: number; instrumentPort: number; log: string; cwd: string; profileDir?: string | undefined; nodeOptions?: string | undefined },
  ) {}

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  start(): void {
    const log = openSync(this.o.log, 'a');
    const env: Record<string, string> = { ...(process.env as Record<string, string>), BENCH_INSTRUMENT_PORT: String(this.o.instrumentPort), BENCH_DIST: this.o.dist, HOOKWARDEN_LOG_LEVEL: 'info', ...(this.o.profileDir ? { BENCH_PROFILE_DIR: this.o.profileDir } : {}) };
    delete env.DATABASE_URL;
    if (this.o.nodeOptions) env.NODE_OPTIONS = this.o.nodeOptions;
    else delete env.NODE_OPTIONS;
    this.startedAt = Date.now();
    const proc = spawn(process.execPath, ['--import', this.o.instrument, this.o.bin, 'run', '-c', this.o.config], { cwd: this.o.cwd, env, stdio: ['ignore', log, log] });
    closeSync(log);
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.once('exit', (code) => ((this.#proc = undefined), resolve(code))));
  }

  /**
   * SIGHUP: the daemon reloads its config file. Resolves with when it logged the reload as
   * applied (its passes use the new config from then on).
   */
  async reload(timeoutMs = 60_000): Promise<number> {
    this.#readLog();
    const before = this.#reloads.length;
    this.#proc?.kill('SIGHUP');
    const until = Date.now() + timeoutMs;
    while (this.#reloads.length === before) {
      if (Date.now() > until) throw new Error('the daemon did not log the config reload');
      await sleep(50);
      this.#readLog();
    }
    return this.#reloads[this.#reloads.length - 1]!;
  }

  /** Reads what the daemon logged since the last read, noting applied reloads. */
  #readLog(): void {
    const fd = openSync(this.o.log, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size <= this.#logOffset) return;
      const buf = Buffer.alloc(size - this.#logOffset);
      readSync(fd, buf, 0, buf.length, this.#logOffset);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n') + 1;
      this.#logOffset += Buffer.byteLength(text.slice(0, end));
      for (const line of text.slice(0, end).split('\n')) {
        if (!line.includes('config reloaded')) continue;
        try {
          this.#reloads.push(Date.parse((JSON.parse(line) as { time: string }).time));
        } catch {
          // not a JSON line
        }
      }
    } finally {
      closeSync(fd);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 15_000): Promise<number | null> {
    const proc = this.#proc;
    if (!proc) return this.#exited;
    proc.kill('SIGTERM');
    const code = await Promise.race([this.#exited, sleep(graceMs).then(() => 'late' as const)]);
    if (code !== 'late') return code;
    proc.kill('SIGKILL');
    return this.#exited;
  }

  async get(path: string, port = this.o.port, timeoutMs = 30_000): Promise<{ status: number; body: string; ms: number }> {
    const t = performance.now();
    const r = await request(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await r.body.text();
    return { status: r.statusCode, body, ms: performance.now() - t };
  }

  /** Starts the CPU profiler (bench --profile), or writes what it recorded as `name`. */
  async profile(what: 'start' | { stop: string }): Promise<void> {
    if (!this.o.profileDir) return;
    await this.get(what === 'start' ? '/profile/start' : `/profile/stop?name=${encodeURIComponent(what.stop)}`, this.o.instrumentPort, 120_000);
  }

  async snapshot(): Promise<Snapshot> {
    return JSON.parse((await this.get('/snapshot', this.o.instrumentPort)).body) as Snapshot;
  }

  /** Every pass record so far (fetched incrementally; records of running passes are refreshed). */
  async passes(): Promise<PassRecord[]> {
    const firstOpen = this.#passes.findIndex((p) => p.end === 0);
    const from = firstOpen < 0 ? this.#passes.length : firstOpen;
    const fresh = JSON.parse((await this.get(`/passes?from=${from}`, this.o.instrumentPort)).body) as PassRecord[];
    this.#passes.splice(from, this.#passes.length - from, ...fresh);
    return this.#passes;
  }

  /** Waits until /healthz answers. */
  async waitServing(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && this.#proc) {
      try {
        const r = await this.get('/healthz', this.o.port, 1000);
        if (r.status === 200) return true;
      } catch {
        // not yet
      }
      await sleep(200);
    }
    return false;
  }
}

/** The value of one series in a Prometheus text exposition, by name and labels. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (want.every((w) => line.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
