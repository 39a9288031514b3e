import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { ConfigChanges } from '../config/diff.js';
import { loadConfigFile, type Config } from '../config/load.js';
import { ConfigError, errorMessage, formatIssue } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import type { Metrics } from '../lib/metrics.js';

export interface ReloaderOptions {
  file: string;
  logger: Logger;
  metrics: Metrics;
  /** Applies a valid config (App.reload). */
  apply: (config: Config) => Promise<ConfigChanges>;
  /** Reads and validates the file; the default is the same loader `run` starts with. */
  load?: (file: string) => Config;
  /** Wall clock, for the reload timestamp. */
  now?: () => Date;
}

export type ReloadOutcome = { ok: true; changes: ConfigChanges } | { ok: false; errors: string[] };

/**
 * Reloads the config on SIGHUP and, with `run --watch`, when the file changes. An invalid
 * file is logged with all its errors and changes nothing: the running config goes on, and
 * hookwarden_config_last_reload_success drops to 0 until a reload succeeds. A valid one is
 * applied at the next pass. Reloads run one at a time, in the order they were asked for.
 */
export class Reloader {
  #chain: Promise<unknown> = Promise.resolve();
  #watching = false;
  #lastHash: string | undefined;

  constructor(private readonly opts: ReloaderOptions) {
    opts.metrics.configLastReloadSuccess.set(1);
    this.#lastHash = this.#hash();
  }

  /** Reloads now (after any reload under way). */
  reload(why: string): Promise<ReloadOutcome> {
    const run = this.#chain.then(() => this.#reload(why));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #reload(why: string): Promise<ReloadOutcome> {
    const { file, logger, metrics } = this.opts;
    const now = (this.opts.now ?? (() => new Date()))();
    metrics.configLastReloadTimestamp.set(now.getTime() / 1000);
    this.#lastHash = this.#hash();
    let config: Config;
    try {
      config = (this.opts.load ?? loadConfigFile)(file);
    } catch (err) {
      const errors = err instanceof ConfigError ? err.issues.map(formatIssue) : [errorMessage(err)];
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ file, why, errors }, `config reload refused: ${errors.length} error(s); the running config is unchanged`);
      return { ok: false, errors };
    }
    try {
      const changes = await this.opts.apply(config);
      metrics.configReloads.inc({ result: 'success' });
      metrics.configLastReloadSuccess.set(1);
      if (changes.needRestart.length) logger.warn({ file, settings: changes.needRestart }, 'config reload: these settings take effect only at the next restart');
      logger.info(
        {
          file,
          why,
          subscriptions: changes.subscriptions,
          accounts: changes.accounts,
          watchChanged: changes.watch,
          defaultsChanged: changes.defaults,
        },
        changes.none ? 'config reloaded: nothing changed' : 'config reloaded: applied at the next pass',
      );
      return { ok: true, changes };
    } catch (err) {
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ file, why, err: errorMessage(err) }, 'config reload failed while applying it');
      return { ok: false, errors: [errorMessage(err)] };
    }
  }

  /** SIGHUP reloads (instead of ending the process, the signal's default). */
  onSighup(): () => void {
    const handler = () => void this.reload('SIGHUP');
    process.on('SIGHUP', handler);
    return () => process.removeListener('SIGHUP', handler);
  }

  /**
   * Watches the file (polling its status, which also follows a Kubernetes ConfigMap's
   * symlink swap) and reloads when its content changed. A secret file it names is not
   * watched: send SIGHUP after rotating one.
   */
  watch(intervalMs = 2000): () => void {
    if (this.#watching) return () => {};
    this.#watching = true;
    const listener = (cur: Stats, prev: Stats) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
      const hash = this.#hash();
      if (hash === this.#lastHash) return;
      void this.reload('file changed');
    };
    watchFile(this.opts.file, { interval: intervalMs, persistent: false }, listener);
    return () => {
      unwatchFile(this.opts.file, listener);
      this.#watching = false;
    };
  }

  #hash(): string | undefined {
    try {
      return createHash('sha256').update(readFileSync(this.opts.file)).digest('hex');
    } catch {
      return undefined;
    }
  }
}
