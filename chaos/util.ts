import { closeSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type Rng = () => number;

/** A small seeded generator (mulberry32), so that a run's schedule can be replayed. */
export function random(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LOCK = join(tmpdir(), 'hookwarden-chaos.lock');

/**
 * One chaos run at a time on a machine (they would starve each other of CPU and measure
 * nothing): a lock file holding the owner's pid, taken over when that process is gone.
 * Waits up to `waitMs`; undefined when another run still holds it.
 */
export async function acquireLock(waitMs: number): Promise<(() => void) | undefined> {
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        try {
          if (readFileSync(LOCK, 'utf8') === String(process.pid)) unlinkSync(LOCK);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSafe(LOCK));
    if (!owner || !alive(owner)) {
      try {
        unlinkSync(LOCK);
      } catch {
        // another process took it over first
      }
      continue;
    }
    if (Date.now() > until) return undefined;
    await sleep(500);
  }
}

function readFileSafe(f: string): string {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The newest modification time of any file under a directory (bounded depth). */
export function newestMtime(dir: string, depth = 6): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 0 && e.name !== 'generated') newest = Math.max(newest, newestMtime(p, depth - 1));
    } else newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}
