import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** prisma/migrations, found from src/store or dist/store alike. */
export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'prisma', 'migrations');

const LOCK_KEY = 7_262_001; // pg_advisory_lock key: one migrator at a time across replicas

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(dir = MIGRATIONS_DIR): MigrationFile[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/**
 * Applies the committed migrations in order, each in its own transaction, under an advisory
 * lock so that replicas starting together migrate once. Bookkeeping uses Prisma's own
 * _prisma_migrations table, so `prisma migrate deploy` stays compatible.
 * Returns the names applied now.
 */
export async function migrate(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  // A connection the server drops between queries must not surface as an unhandled 'error' event.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
      "id" VARCHAR(36) PRIMARY KEY NOT NULL,
      "checksum" VARCHAR(64) NOT NULL,
      "finished_at" TIMESTAMPTZ,
      "migration_name" VARCHAR(255) NOT NULL,
      "logs" TEXT,
      "rolled_back_at" TIMESTAMPTZ,
      "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
      "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    const done = await client.query<{ migration_name: string; checksum: string }>(
      'SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const applied = new Map(done.rows.map((r) => [r.migration_name, r.checksum]));
    const now: string[] = [];
    for (const m of readMigrations(dir)) {
      const had = applied.get(m.name);
      if (had !== undefined) {
        if (had !== m.checksum) throw new Error(`migration ${m.name} was changed after it was applied (checksum differs); migrations are forward-only`);
        continue;
      }
      await client.query('BEGIN');
      try {
        const id = randomUUID();
        await client.query('INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at) VALUES ($1, $2, $3, now())', [id, m.checksum, m.name]);
        await client.query(m.sql);
        await client.query('UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1', [id]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      now.push(m.name);
    }
    return now;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** True when the database has hookwarden's tables (plan reads without migrating). */
export async function isMigrated(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const r = await client.query(`SELECT to_regclass('public.subscription') IS NOT NULL AS ok`);
    return Boolean(r.rows[0]?.ok);
  } finally {
    await client.end();
  }
}

/**
 * Waits until the database answers: a daemon started while Postgres is down (or still
 * starting next to it) waits and says so, instead of exiting. Tries every 1 s, then up to
 * every 30 s; resolves false if `signal` aborts first.
 */
export async function waitForDatabase(databaseUrl: string, opts: { signal?: AbortSignal; onRetry?: (err: Error, attempt: number, retryInSeconds: number) => void } = {}): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (err) {
      const wait = Math.min(30, 2 ** (attempt - 1));
      opts.onRetry?.(err as Error, attempt, wait);
      const slept = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), wait * 1000);
        opts.signal?.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
      });
      if (!slept || opts.signal?.aborted) return false;
    } finally {
      await client.end().catch(() => {});
    }
  }
}

/** One quick try: does the database answer now? */
export async function databaseAnswers(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000, query_timeout: 3000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}
