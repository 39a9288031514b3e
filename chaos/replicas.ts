import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';

/**
 * A daemon replica: `node bin/hookwarden.js run -c <config>`, as a user runs it, with its
 * stdout and stderr appended to files (so that what it wrote before a SIGKILL is kept).
 * Like a supervisor, the harness starts again a replica that exited by itself; such exits
 * are recorded, since the daemon should survive whatever the harness does to it.
 */
export interface UnexpectedExit {
  replica: number;
  at: string;
  code: number | null;
  signal: string | null;
  lastLines: string[];
}

export class Replica {
  #proc: ChildProcess | undefined;
  #expectExit = false;
  #exited: Promise<void> = Promise.resolve();
  frozen = false;
  /** Set once /healthz answers after a start (it is serving), cleared when it exits. */
  ready = false;
  starts = 0;
  kills = 0;
  readonly stdout: string;
  readonly stderr: string;

  constructor(
    readonly index: number,
    readonly port: number,
    private readonly o: { bin: string; config: string; dir: string; env: Record<string, string>; cwd: string; onUnexpectedExit: (e: UnexpectedExit) => void; onStart?: () => void },
  ) {
    this.stdout = join(o.dir, `replica-${index}.out.log`);
    this.stderr = join(o.dir, `replica-${index}.err.log`);
  }

  get running(): boolean {
    return this.#proc !== undefined;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  start(): void {
    if (this.#proc) return;
    const out = openSync(this.stdout, 'a');
    const err = openSync(this.stderr, 'a');
    const env: Record<string, string> = { ...(process.env as Record<string, string>), ...this.o.env, CHAOS_LISTEN_PORT: String(this.port), HOOKWARDEN_LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    const proc = spawn(process.execPath, [this.o.bin, 'run', '-c', this.o.config], { cwd: this.o.cwd, env, stdio: ['ignore', out, err] });
    closeSync(out);
    closeSync(err);
    this.#proc = proc;
    this.#expectExit = false;
    this.frozen = false;
    this.ready = false;
    this.starts++;
    this.o.onStart?.();
    void this.waitListening(60_000).then((ok) => {
      if (ok && this.#proc === proc) this.ready = true;
    });
    this.#exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.#proc = undefined;
        this.frozen = false;
        this.ready = false;
        if (!this.#expectExit) {
          this.o.onUnexpectedExit({ replica: this.index, at: new Date().toISOString(), code, signal, lastLines: tail(this.stderr, 5) });
        }
        resolve();
      });
    });
  }

  /** SIGKILL, and wait for the exit. */
  async kill(): Promise<void> {
    if (!this.#proc) return;
    this.#expectExit = true;
    this.kills++;
    this.#proc.kill('SIGKILL');
    await this.#exited;
  }

  freeze(): void {
    if (!this.#proc) return;
    this.frozen = true;
    this.#proc.kill('SIGSTOP');
  }

  thaw(): void {
    if (!this.#proc) return;
    this.#proc.kill('SIGCONT');
    this.frozen = false;
  }

  /** SIGTERM; SIGKILL after `graceMs`. Resolves with how it ended. */
  async stop(graceMs = 12_000): Promise<'clean' | 'error' | 'forced' | 'not-running'> {
    const proc = this.#proc;
    if (!proc) return 'not-running';
    this.#expectExit = true;
    if (this.frozen) this.thaw();
    let code: number | null = null;
    proc.once('exit', (c) => (code = c));
    proc.kill('SIGTERM');
    const ended = await Promise.race([this.#exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!ended) {
      proc.kill('SIGKILL');
      await this.#exited;
      return 'forced';
    }
    return code === 0 ? 'clean' : 'error';
  }

  /** Is it running and does /healthz answer 200? */
  async healthy(): Promise<boolean> {
    if (!this.#proc || this.frozen) return false;
    try {
      const r = await request(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(3000) });
      await r.body.dump();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  }

  /** Waits until /readyz answers (or `timeoutMs`). */
  async waitListening(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until && this.#proc) {
      try {
        const r = await request(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(1000) });
        await r.body.dump();
        return true;
      } catch {
        await sleep(250);
      }
    }
    return false;
  }
}

function tail(file: string, n: number): string[] {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).map((l) => l.slice(0, 400));
  } catch {
    return [];
  }
}
