import type { Config } from '../config/load.js';
import type { Logger } from '../lib/logger.js';
import { createApp, openDatabase, type App } from '../main.js';
import { startServer, type ServerDeps } from '../server/http.js';
import { errorMessage } from '../lib/errors.js';
import { databaseAnswers, waitForDatabase } from '../store/migrate.js';
import { cliLogger, EXIT, loadOrExit } from './common.js';
import { Reloader } from './reload.js';

export interface Daemon {
  app: App;
  url: string;
  stop(): Promise<void>;
}

/** Database, app, HTTP server and scheduler, started in that order and stopped in reverse. */
export async function startDaemon(config: Config, logger: Logger, opts: { allowMassDelete?: boolean; server?: Partial<ServerDeps>; signal?: AbortSignal } = {}): Promise<Daemon> {
  const db = await openDatabase(config, logger);
  let app: App;
  // The database may be down at start, or go away while migrations run: wait, and start again.
  for (;;) {
    const reachable = await waitForDatabase(db.url, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      onRetry: (err, attempt, wait) => logger[attempt === 1 ? 'error' : 'warn']({ err: errorMessage(err), attempt, retryInSeconds: wait }, 'waiting for the database to answer'),
    });
    if (!reachable) {
      await db.stop();
      throw new Error('stopped while waiting for the database');
    }
    try {
      app = await createApp(config, db.url, { logger, allowMassDelete: opts.allowMassDelete ?? false });
      break;
    } catch (err) {
      // A failure the database answers through (a changed migration) is final; a lost connection is not.
      if (await databaseAnswers(db.url)) throw err;
      logger.warn({ err: errorMessage(err) }, 'the database went away while starting; waiting for it again');
    }
  }
  const server = await startServer(config.listen.host, config.listen.port, {
    store: app.store,
    metrics: app.metrics,
    clock: app.clock,
    logger,
    ready: () => app.scheduler.ready,
    storeUp: () => app.scheduler.storeUp,
    sinceLastWake: () => app.scheduler.sinceLastWake(),
    livenessTimeoutSeconds: config.livenessTimeoutSeconds,
    token: config.server.token,
    // Read at each request: a reloaded config's callbacks show at once.
    callbacks: () => app.prober.specs,
    ...opts.server,
  });
  app.scheduler.start();
  logger.info({ listen: server.url, subscriptions: config.desired.length, accounts: Object.keys(config.accounts) }, `hookwarden running; status at ${server.url}/status`);
  return {
    app,
    url: server.url,
    async stop() {
      await app.scheduler.stop(7000);
      await server.close();
      await app.close();
      await db.stop();
    },
  };
}

/** Resolves on the first SIGTERM or SIGINT. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals) => resolve(s);
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
  });
}

/**
 * Graceful stop: running passes finish (in-flight HTTP calls are aborted after 7 s); a
 * second signal, or 10 s, forces the exit.
 */
export async function stopOnSignal(logger: Logger, stop: () => Promise<void>): Promise<never> {
  const signal = await untilSignal();
  logger.info({ signal }, 'stopping: finishing running passes');
  const force = () => {
    logger.error('forced exit before a clean stop');
    process.exit(EXIT.failed);
  };
  setTimeout(force, 10_000).unref();
  process.once('SIGTERM', force);
  process.once('SIGINT', force);
  await stop();
  logger.info('stopped');
  process.exit(EXIT.ok);
}

export async function runDaemon(file: string, opts: { allowMassDelete: boolean; watch?: boolean }): Promise<void> {
  // Read in a function of its own: a variable of this one, which lives as long as the
  // process, would keep the first config (10,000 subscriptions: some 10 MB) after a reload.
  const logger = cliLogger();
  const start = (signal: AbortSignal) => startDaemon(loadOrExit(file), logger, { ...opts, signal });
  // SIGHUP reloads the config; until the daemon runs, one is noted and acted on once it does.
  let hupBeforeStart = false;
  const earlyHup = () => (hupBeforeStart = true);
  process.on('SIGHUP', earlyHup);
  // A signal while still waiting for the database stops the start cleanly.
  const starting = new AbortController();
  const abort = () => starting.abort();
  process.once('SIGTERM', abort);
  process.once('SIGINT', abort);
  let daemon: Daemon;
  try {
    daemon = await start(starting.signal);
  } catch (err) {
    if (!starting.signal.aborted) throw err;
    logger.info('stopped before the database answered');
    process.exit(EXIT.ok);
  } finally {
    process.removeListener('SIGTERM', abort);
    process.removeListener('SIGINT', abort);
  }
  const reloader = new Reloader({ file, logger, metrics: daemon.app.metrics, apply: (c) => daemon.app.reload(c) });
  // Kept until the process ends: a SIGHUP while stopping does nothing instead of killing it.
  reloader.onSighup();
  process.removeListener('SIGHUP', earlyHup);
  if (hupBeforeStart) void reloader.reload('SIGHUP');
  const stopWatch = opts.watch ? reloader.watch() : () => {};
  if (opts.watch) logger.info({ file }, 'watching the config file: a change is reloaded');
  await stopOnSignal(logger, async () => {
    stopWatch();
    await daemon.stop();
  });
}
