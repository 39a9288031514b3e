// Started (detached) by chaos/run.ts: if the harness dies without cleaning up (SIGKILL, a
// crash), this kills the replicas it started and stops its Postgres, so nothing outlives a
// run. It exits as soon as the harness writes "done", and after two hours in any case.
// Usage: node chaos/reaper.mjs <harness pid> <state file> <postgres data dir>
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [harness, stateFile, pgDir] = process.argv.slice(2);
const until = Date.now() + 2 * 3600 * 1000;

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

const read = () => {
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch {
    return { pids: [] };
  }
};

function reap() {
  for (const pid of read().pids ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const pidFile = join(pgDir, 'postgres', 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (pid) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
  }
  setTimeout(() => {
    rmSync(pgDir, { recursive: true, force: true });
    process.exit(0);
  }, 3000);
}

const timer = setInterval(() => {
  if (read().done || Date.now() > until) process.exit(0);
  if (!alive(Number(harness))) {
    clearInterval(timer);
    reap();
  }
}, 1000);
