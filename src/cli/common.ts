import { loadConfigFile, type Config } from '../config/load.js';
import { ConfigError } from '../lib/errors.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createApp, openDatabase, type App, type AppOptions, type Database } from '../main.js';

export const EXIT = { ok: 0, failed: 1, invalidConfig: 2, refused: 3 } as const;

/** Loads the config or exits 2 with every issue as file:line:col on stderr. */
export function loadOrExit(file: string): Config {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n${file}: invalid, nothing was changed\n`);
      process.exit(EXIT.invalidConfig);
    }
    throw err;
  }
}

export function cliLogger(): Logger {
  return createLogger();
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
