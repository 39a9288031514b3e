import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { silentLogger } from '../src/lib/logger.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/store/embedded.js';

/**
 * The harness's own Postgres: an embedded cluster under its temp dir (restartable, like
 * `pg_ctl restart`), or a fresh database on an existing server (which is never restarted:
 * its outages are simulated by the proxy). The daemon logs in as a role of its own whose
 * password is a canary.
 */
export interface OwnedPostgres {
  kind: 'embedded' | 'external';
  database: string;
  role: string;
  upstream(): { host: string; port: number };
  /** Stops the server, waits `downMs`, starts it again (embedded only). */
  restart(downMs: number): Promise<void>;
  close(): Promise<void>;
}

const DATABASE = 'hookwarden_chaos';
const ROLE = 'hookwarden_chaos';

export async function ownPostgres(dir: string, password: string, externalUrl?: string): Promise<OwnedPostgres> {
  return externalUrl ? external(externalUrl, password) : embedded(dir, password);
}

async function admin(serverUrl: string, sql: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: `${serverUrl}/postgres`, connectionTimeoutMillis: 10_000 });
  await c.connect();
  try {
    for (const q of sql) await c.query(q);
  } finally {
    await c.end();
  }
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

async function embedded(dir: string, password: string): Promise<OwnedPostgres> {
  const dataDir = join(dir, 'pg');
  mkdirSync(dataDir, { recursive: true });
  // As root, Postgres runs as its own user, which must be able to reach the directory.
  chmodSync(dir, 0o755);
  let db: EmbeddedDatabase = await startEmbeddedPostgres(dataDir, silentLogger, DATABASE);
  await admin(db.serverUrl, [`CREATE ROLE ${ROLE} LOGIN PASSWORD ${lit(password)}`, `ALTER DATABASE ${DATABASE} OWNER TO ${ROLE}`]);
  const port = () => Number(new URL(db.serverUrl).port);
  let up = { host: '127.0.0.1', port: port() };
  return {
    kind: 'embedded',
    database: DATABASE,
    role: ROLE,
    upstream: () => up,
    async restart(downMs) {
      await db.stop();
      await sleep(downMs);
      db = await startEmbeddedPostgres(dataDir, silentLogger, DATABASE);
      up = { host: '127.0.0.1', port: port() };
    },
    close: () => db.stop(),
  };
}

async function external(url: string, password: string): Promise<OwnedPostgres> {
  const u = new URL(url);
  u.pathname = '';
  const server = u.toString().replace(/\/$/, '');
  const name = `${DATABASE}_${process.pid}`;
  await admin(server, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`, `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${ROLE}') THEN CREATE ROLE ${ROLE} LOGIN; END IF; END$$`, `ALTER ROLE ${ROLE} PASSWORD ${lit(password)}`, `CREATE DATABASE ${name} OWNER ${ROLE}`]);
  return {
    kind: 'external',
    database: name,
    role: ROLE,
    upstream: () => ({ host: u.hostname, port: Number(u.port || 5432) }),
    async restart() {
      throw new Error('an external Postgres is never restarted by the harness');
    },
    async close() {
      await admin(server, [`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]).catch(() => undefined);
    },
  };
}
