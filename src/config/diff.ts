import { isDeepStrictEqual } from 'node:util';
import type { Config } from './load.js';

/** What a reloaded config changes, by name: never values (they may hold secrets). */
export interface ConfigChanges {
  subscriptions: { added: string[]; removed: string[]; changed: string[] };
  accounts: { added: string[]; removed: string[]; changed: string[] };
  watch: boolean;
  defaults: boolean;
  /** The backfill hooks (`hooks.gapClosed`, per subscription or at the top) or the gap alert's threshold. */
  hooks: boolean;
  /** Settings read only at start: they take effect at the next restart. */
  needRestart: string[];
  /** Accounts whose passes should run at once. */
  touched: string[];
  /** True when nothing differs. */
  none: boolean;
}

/** Compares two loaded configs (pure). */
export function diffConfig(before: Config, after: Config): ConfigChanges {
  const key = (d: { provider: string; name: string }) => `${d.provider}/${d.name}`;
  const b = new Map(before.desired.map((d) => [key(d), d]));
  const a = new Map(after.desired.map((d) => [key(d), d]));
  const subscriptions = {
    added: [...a.keys()].filter((k) => !b.has(k)),
    removed: [...b.keys()].filter((k) => !a.has(k)),
    changed: [...a.keys()].filter((k) => b.has(k) && !isDeepStrictEqual(a.get(k), b.get(k))),
  };
  const accounts = {
    added: Object.keys(after.accounts).filter((n) => !before.accounts[n]),
    removed: Object.keys(before.accounts).filter((n) => !after.accounts[n]),
    changed: Object.keys(after.accounts).filter((n) => before.accounts[n] && !isDeepStrictEqual(before.accounts[n], after.accounts[n])),
  };
  const needRestart: string[] = [];
  if (before.databaseUrl !== after.databaseUrl) needRestart.push('database.url');
  if (before.dataDir !== after.dataDir) needRestart.push('dataDir');
  if (!isDeepStrictEqual(before.listen, after.listen)) needRestart.push('server.listen');
  if (before.livenessTimeoutSeconds !== after.livenessTimeoutSeconds) needRestart.push('server.livenessTimeout');
  if (before.defaults.leaseTtlSeconds !== after.defaults.leaseTtlSeconds) needRestart.push('defaults.leaseTtl');
  const server = (c: Config) => (c as unknown as { server?: unknown }).server;
  if (!isDeepStrictEqual(server(before), server(after))) needRestart.push('server');
  const watch = !isDeepStrictEqual(before.watch, after.watch);
  const { leaseTtlSeconds: _b, ...db } = before.defaults;
  const { leaseTtlSeconds: _a, ...da } = after.defaults;
  const defaults = !isDeepStrictEqual(db, da) || !isDeepStrictEqual(before.policies, after.policies) || before.historyKeepSeconds !== after.historyKeepSeconds;
  const hooks =
    !isDeepStrictEqual(before.hooks, after.hooks) || !isDeepStrictEqual(before.gapHooks, after.gapHooks) || before.gapAlertAfterSeconds !== after.gapAlertAfterSeconds;
  const touched = new Set<string>();
  for (const k of [...subscriptions.added, ...subscriptions.removed, ...subscriptions.changed]) touched.add((a.get(k) ?? b.get(k))!.provider);
  for (const n of [...accounts.added, ...accounts.changed]) touched.add(n);
  if (defaults) for (const n of Object.keys(after.accounts)) touched.add(n);
  const none =
    !subscriptions.added.length && !subscriptions.removed.length && !subscriptions.changed.length &&
    !accounts.added.length && !accounts.removed.length && !accounts.changed.length && !watch && !defaults && !hooks && !needRestart.length;
  return { subscriptions, accounts, watch, defaults, hooks, needRestart, touched: [...touched].filter((n) => after.accounts[n]), none };
}
