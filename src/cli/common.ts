import { loadConfigFile, type Config } from '../config/load.js';
import { ConfigError } from '../lib/errors.js';
import { createLogger, logLevel, type Logger } from '../lib/logger.js';
import { registerConfigSecrets } from '../lib/scrub.js';
import { createApp, openDatabase, type App, type AppOptions, type Database } from '../main.js';
import { providerKinds } from '../providers/registry.js';
import { err } from './output.js';

export const EXIT = { ok: 0, failed: 1, invalidConfig: 2, refused: 3 } as const;

/**
 * Loads the config or exits 2 with every issue as file:line:col on stderr. Its secrets are
 * registered with the scrubber at once, before anything is printed or logged.
 */
export function loadOrExit(file: string): Config {
  let config: Config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(`${e.message}\n${file}: invalid, nothing was changed\n`);
      process.exit(EXIT.invalidConfig);
    }
    throw e;
  }
  registerConfigSecrets(config, providerKinds);
  return config;
}

/** How commands log: set once from the global options (--log-level, --pretty) before a command runs. */
const logOptions: { level?: string; pretty?: boolean } = {};

export function setLogOptions(o: { logLevel?: string; pretty?: boolean }): void {
  logOptions.level = logLevel(o.logLevel);
  logOptions.pretty = o.pretty ?? false;
}

export function cliLogger(): Logger {
  return createLogger(logOptions);
}

/** Config, database (embedded when none is configured) and app, closed together. */
export async function withApp<T>(file: string, opts: Omit<AppOptions, 'logger'>, fn: (app: App, logger: Logger) => Promise<T>): Promise<T> {
  const config = loadOrExit(file);
  const logger = cliLogger();
  let db: Database | undefined;
  let app: App | undefined;
  try {
    db = await openDatabase(config, logger);
    app = await createApp(config, db.url, { ...opts, logger });
    return await fn(app, logger);
  } finally {
    await app?.close();
    await db?.stop();
  }
}
