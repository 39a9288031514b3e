import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Dispatcher } from 'undici';
import { diffConfig, type ConfigChanges } from './config/diff.js';
import { gapHookOf, hasGapHook } from './config/hooks.js';
import { GapHookSender } from './hooks/gap-hook.js';
import type { Config } from './config/load.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createDispatcher } from './lib/http.js';
import type { Logger } from './lib/logger.js';
import { Metrics } from './lib/metrics.js';
import { registerConfigSecrets } from './lib/scrub.js';
import { declaredEvents } from './policy/gaps.js';
import { healthOf } from './policy/health.js';
import { providerKinds } from './providers/registry.js';
import type { Provider } from './providers/types.js';
import { GapRecorder } from './reconcile/gaps.js';
import { Reconciler } from './reconcile/reconciler.js';
import { Scheduler } from './schedule/scheduler.js';
import { startEmbeddedPostgres } from './store/embedded.js';
import { isMigrated, migrate } from './store/migrate.js';
import { PrismaStore } from './store/prisma.js';
import { scrubStore } from './store/scrubbed.js';
import type { Store } from './store/types.js';
import { createProbeDispatcher } from './watchdog/probe.js';
import { DeliveryPoller } from './watchdog/deliveries.js';
import { Prober } from './watchdog/prober.js';
import { targetSpecs } from './watchdog/targets.js';

/**
 * The composition root: clock, logger, store, HTTP dispatcher and providers are built here
 * and nowhere else; everything below receives them.
 */
export interface AppOptions {
  logger: Logger;
  clock?: Clock;
  dispatcher?: Dispatcher;
  /** Dispatcher for callback probes (no retries). */
  probeDispatcher?: Dispatcher;
  rand?: () => number;
  allowMassDelete?: boolean;
  /** plan: read Postgres but never write it (no migrations either). */
  readOnly?: boolean;
  /**
   * This process as a lease holder: by default host, pid and a random part, unique to the
   * process (replicas on one host network may share host name and pid). A restarted
   * process takes its accounts back once its old leases expire.
   */
  holder?: string;
}

export interface App {
  config: Config;
  store: Store;
  providers: Map<string, Provider>;
  reconciler: Reconciler;
  scheduler: Scheduler;
  prober: Prober;
  deliveries: DeliveryPoller;
  metrics: Metrics;
  clock: Clock;
  /** The coverage-gap ledger the reconciler, the prober and the delivery poller write (absent in read-only mode). */
  gaps: GapRecorder | undefined;
  /** Sends the backfill hooks of closed gaps that are due (the scheduler runs it from its wake-ups). */
  gapHooks: GapHookSender;
  /** False in read-only mode when the database has never been migrated (nothing recorded). */
  migrated: boolean;
  /**
   * Applies a reloaded (already validated) config: subscriptions, watch targets, provider
   * accounts and defaults take effect at the next pass; the accounts it changes are due at
   * once. Settings read only at start are reported and left as they are.
   */
  reload(next: Config): Promise<ConfigChanges>;
  close(): Promise<void>;
}

export interface Database {
  url: string;
  stop(): Promise<void>;
}

/** database.url from the config, or an embedded Postgres under dataDir. */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  if (config.databaseUrl) return { url: config.databaseUrl, stop: async () => {} };
  const db = await startEmbeddedPostgres(config.dataDir, logger);
  logger.info({ dataDir: config.dataDir }, 'no database.url configured: using the embedded Postgres under dataDir');
  return db;
}

export async function createApp(config: Config, databaseUrl: string, opts: AppOptions): Promise<App> {
  registerConfigSecrets(config, providerKinds);
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger;
  let migrated = true;
  if (opts.readOnly) migrated = await isMigrated(databaseUrl);
  else {
    const applied = await migrate(databaseUrl);
    if (applied.length) logger.info({ migrations: applied }, 'database migrated');
  }
  // Every string written to Postgres passes through the scrubber (log lines do too: lib/logger.ts).
  // A dropped database connection is an ordinary event: logged, never the end of the process.
  let lastDbError = 0;
  const store = scrubStore(
    new PrismaStore(databaseUrl, {
      onError: (err) => {
        const now = Date.now();
        if (now - lastDbError > 5000) logger.warn({ err: err.message }, 'database connection lost; it is reopened on the next query');
        lastDbError = now;
      },
    }),
  );
  const holder = opts.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const dispatcher = opts.dispatcher ?? createDispatcher();
  // Scrapes read Postgres only while it answers: while it is away they are served from the
  // last rows read at once, instead of waiting on a query past Prometheus' scrape timeout.
  let scheduler: Scheduler | undefined;
  const read = <T>(fn: () => Promise<T[]>) => (): Promise<T[]> =>
    !migrated ? Promise.resolve([]) : scheduler && !scheduler.storeUp ? Promise.reject(new Error('database unreachable')) : fn();
  const metrics = new Metrics(read(() => store.subscriptionGauges()), {
      readTargets: read(() => store.listTargets()),
      readDeliveries: read(() => store.listDeliveries()),
      leases: { read: read(() => store.listLeases()), holder },
      readOpenGaps: read(() => store.openGaps()),
      targetUp: (t) => {
        const h = healthOf(t, clock.now());
        return h === 'unknown' ? undefined : h === 'healthy' ? 1 : 0;
      },
    });
  const providers = new Map<string, Provider>();
  const makeProvider = (account: string, a: Config['accounts'][string]) =>
    providerKinds[a.kind]!.create(account, a.settings, { dispatcher, clock, logger: logger.child({ provider: account }), metrics });
  for (const [account, a] of Object.entries(config.accounts)) providers.set(account, makeProvider(account, a));
  const probeDispatcher = opts.probeDispatcher ?? createProbeDispatcher();
  const readStore = migrated ? store : emptyStore(store);
  // Coverage gaps and their backfill hooks follow the config in force (a reload replaces it).
  let live = config;
  const gaps = opts.readOnly ? undefined : new GapRecorder({ store, clock, logger, metrics, hookFor: (p, n) => hasGapHook(live, p, n) });
  const gapHooks = new GapHookSender({
    store: readStore,
    dispatcher,
    resolve: (row) => gapHookOf(live, row.provider, row.name, row.subject),
    clock,
    ...(opts.rand ? { rand: opts.rand } : {}),
    logger,
    onAttempt: (o) => metrics.gapHookAttempt(o.ok),
  });
  const eventsOf = (provider: string, name: string) => {
    const d = live.desired.find((x) => x.provider === provider && x.name === name);
    return d ? declaredEvents(d.spec) : [];
  };
  const prober = new Prober(
    { store: readStore, clock, logger, metrics, dispatcher: probeDispatcher, readOnly: opts.readOnly ?? false, ...(gaps ? { gaps, eventsOf } : {}) },
    targetSpecs(config.desired, config.watch, config.defaults.probe, config.policies),
  );
  const settingsOf = (c: Config) => ({
    desired: c.desired,
    reconcileEverySeconds: c.defaults.reconcileEverySeconds,
    actionConcurrency: c.defaults.actionConcurrency,
    deleteOrphans: Object.fromEntries(Object.entries(c.accounts).map(([n, a]) => [n, Boolean(a.settings.deleteOrphans)])),
  });
  const reconciler = new Reconciler(
    { store: readStore, providers, clock, logger, metrics, prober, holder, leaseTtlSeconds: config.defaults.leaseTtlSeconds, ...(opts.rand ? { rand: opts.rand } : {}), ...(gaps ? { gaps } : {}) },
    settingsOf(config),
  );
  const deliveries = new DeliveryPoller({ store: readStore, providers, clock, logger, metrics, prober, desired: config.desired, everySeconds: config.defaults.deliveryPollEverySeconds, holds: (a) => reconciler.holds(a), ...(gaps ? { gaps } : {}) });
  scheduler = new Scheduler({
    reconciler,
    store,
    clock,
    logger,
    reconcileEverySeconds: config.defaults.reconcileEverySeconds,
    concurrency: config.defaults.concurrency,
    passTimeoutSeconds: config.defaults.passTimeoutSeconds,
    leaseTtlSeconds: config.defaults.leaseTtlSeconds,
    metrics,
    allowMassDelete: opts.allowMassDelete ?? false,
    historyKeepSeconds: config.historyKeepSeconds,
    prober,
    ...(opts.readOnly ? {} : { deliveries, hooks: gapHooks }),
  });
  let closing: Promise<void> | undefined;
  const app: App = {
    config,
    store,
    providers,
    reconciler,
    scheduler,
    prober,
    deliveries,
    metrics,
    clock,
    gaps,
    gapHooks,
    migrated,
    async reload(next) {
      const before = app.config;
      const changes = diffConfig(before, next);
      registerConfigSecrets(next, providerKinds);
      // Which gaps get a backfill hook, and where it goes: from the next gap closed or hook sent.
      live = next;
      gaps?.setHookFor((p, n) => hasGapHook(next, p, n));
      // Accounts whose settings changed get a new client (credentials, URLs, limits); the others keep theirs.
      for (const n of [...changes.accounts.added, ...changes.accounts.changed]) providers.set(n, makeProvider(n, next.accounts[n]!));
      for (const n of changes.accounts.removed) {
        providers.delete(n);
        await reconciler.forget(n);
      }
      reconciler.configure(settingsOf(next));
      prober.reconfigure(targetSpecs(next.desired, next.watch, next.defaults.probe, next.policies));
      deliveries.reconfigure(next.desired, next.defaults.deliveryPollEverySeconds);
      scheduler!.reconfigure({
        reconcileEverySeconds: next.defaults.reconcileEverySeconds,
        concurrency: next.defaults.concurrency,
        passTimeoutSeconds: next.defaults.passTimeoutSeconds,
        historyKeepSeconds: next.historyKeepSeconds,
      });
      scheduler!.force(changes.touched);
      // What is read only at start keeps its old value, so that `config` says what runs.
      app.config = { ...next, databaseUrl: before.databaseUrl, dataDir: before.dataDir, listen: before.listen, server: before.server, livenessTimeoutSeconds: before.livenessTimeoutSeconds, defaults: { ...next.defaults, leaseTtlSeconds: before.defaults.leaseTtlSeconds } };
      return changes;
    },
    close() {
      // Idempotent: a second close waits for the first.
      closing ??= (async () => {
        await scheduler.stop();
        await reconciler.releaseAll();
        await store.close();
        if (!opts.dispatcher) await dispatcher.close();
        if (!opts.probeDispatcher) await probeDispatcher.close();
      })();
      return closing;
    },
  };
  return app;
}

/** A never-migrated database read by plan: nothing is recorded yet. */
function emptyStore(store: Store): Store {
  const readOnly = () => Promise.reject(new Error('the database is read-only here (plan)'));
  return {
    listSubscriptions: async () => [],
    subscriptionGauges: async () => [],
    history: async () => [],
    pruneHistory: readOnly,
    dueProviders: async () => [],
    markDue: readOnly,
    insertSubscription: readOnly,
    updateSubscription: readOnly,
    appendHistory: readOnly,
    ping: () => store.ping(),
    acquireLease: readOnly,
    renewLease: readOnly,
    releaseLease: readOnly,
    extendLeases: readOnly,
    announce: readOnly,
    holderAbsent: readOnly,
    takeOverLease: readOnly,
    listLeases: async () => [],
    openIntents: async () => new Map(),
    syncTargets: readOnly,
    listTargets: async () => [],
    findTarget: async () => undefined,
    updateTarget: readOnly,
    listDeliveries: async () => [],
    saveDelivery: readOnly,
    openGap: readOnly,
    closeGaps: readOnly,
    listGaps: async () => [],
    openGaps: async () => [],
    dueHooks: async () => [],
    recordHookAttempt: readOnly,
    requeueHook: readOnly,
    pruneGaps: readOnly,
    close: () => store.close(),
  };
}
