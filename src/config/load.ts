import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isCollection, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { DesiredSubscription, HealthPolicy, RenewBefore } from '../domain/types.js';
import type { WatchEntry } from '../watchdog/targets.js';
import { isLoopbackListenHost, normalUrl } from './common.js';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { providerKinds } from '../providers/registry.js';
import { gapHookTarget, gapHookKey, type GapHookTarget } from './hooks.js';
import { subscriptionHooks, topSchema } from './schema.js';

export interface AccountConfig {
  kind: string;
  /** The validated account block (holds secrets: never log it whole). */
  settings: { kind: string; deleteOrphans?: boolean; policy: HealthPolicy } & Record<string, unknown>;
}

export interface Config {
  file: string;
  databaseUrl: string | undefined;
  dataDir: string;
  listen: { host: string; port: number };
  defaults: {
    reconcileEverySeconds: number;
    renewBefore: RenewBefore;
    concurrency: number;
    /** Subscriptions of one account acted on at once within a pass. */
    actionConcurrency: number;
    probe: { everySeconds: number; timeoutSeconds: number };
    deliveryPollEverySeconds: number;
    /** How long a replica's hold on a provider account lasts without being renewed. */
    leaseTtlSeconds: number;
    /** The deadline of one reconcile pass over one account. */
    passTimeoutSeconds: number;
  };
  /** /healthz fails when the loop has not completed a wake-up for this long. */
  livenessTimeoutSeconds: number;
  /** The HTTP server's settings read at start besides listen (a secret: never log it). */
  server: {
    /** Bearer token for /status, /status.json and /metrics; always set when listen is not a loopback address. */
    token: string | undefined;
  };
  accounts: Record<string, AccountConfig>;
  /** Each account's callback policy. */
  policies: Record<string, HealthPolicy>;
  desired: DesiredSubscription[];
  watch: WatchEntry[];
  historyKeepSeconds: number;
  /** Webhooks hookwarden sends (they hold secrets: never log them whole). */
  hooks: {
    /** The backfill hook of a closed coverage gap, for every subscription and watch target without one of its own. */
    gapClosed?: GapHookTarget;
  };
  /**
   * Subscriptions ("provider/name") that set their own `hooks.gapClosed`: that hook, or null
   * when they switch it off (`gapClosed: false`). The others use `hooks.gapClosed`.
   */
  gapHooks: Record<string, GapHookTarget | null>;
  /** The HookwardenCoverageGapOpen alert fires for a gap open longer than this (defaults.gapAlertAfter). */
  gapAlertAfterSeconds: number;
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  /** Reads a ${file:…} secret; the default refuses what is not a regular file of at most 1 MiB. */
  readFile?: (path: string) => string;
}

/** A secret file holds one value: anything larger is a wrong path. */
export const SECRET_FILE_MAX_BYTES = 1024 * 1024;
/** The config file itself: far above any real config, low enough to parse in a moment. */
export const CONFIG_FILE_MAX_BYTES = 16 * 1024 * 1024;
/** Nesting deeper than this is no config hookwarden reads (the deepest real path is about 8). */
export const MAX_DEPTH = 64;
/**
 * Alias expansions allowed (the yaml package's own guard against "billion laughs"): enough
 * for a shared callback block referenced by many subscriptions.
 */
export const MAX_ALIAS_COUNT = 1000;

/** Why a read failed, as a problem the reader can act on. */
class UnusableFile extends Error {}

/**
 * Reads a file of at most `max` bytes; a directory is a wrong path. With `regularOnly` (the
 * secrets), only a regular file: a FIFO or a device could block or never end. It is opened
 * non-blocking and checked again once open, so what is read is what was checked. The config
 * file itself may come through a pipe (`-c <(envsubst < hookwarden.yaml)`).
 */
export function readBoundedFile(path: string, max: number, opts: { regularOnly?: boolean } = {}): string {
  const regularOnly = opts.regularOnly ?? true;
  if (statSync(path).isDirectory()) throw new UnusableFile(`${path} is a directory; name the file that holds the value`);
  const fd = openSync(path, constants.O_RDONLY | (regularOnly ? (constants.O_NONBLOCK ?? 0) : 0));
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new UnusableFile(`${path} is a directory; name the file that holds the value`);
    if (regularOnly && !st.isFile()) throw new UnusableFile(`${path} is not a regular file; name a file that holds the value`);
    if (st.size > max) throw new UnusableFile(`${path} is larger than ${formatBytes(max)} (${formatBytes(st.size)}); name the file that holds just the value`);
    // Read until the end or one byte past the limit: pipes, and some files (under /proc,
    // say), report a size of 0.
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - n));
      const r = readSync(fd, chunk, 0, chunk.length, null);
      if (r === 0) break;
      chunks.push(chunk.subarray(0, r));
      n += r;
      if (n > max) throw new UnusableFile(`${path} is larger than ${formatBytes(max)}; name the file that holds just the value`);
    }
    return Buffer.concat(chunks, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${+(n / (1024 * 1024)).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readBoundedFile(file, CONFIG_FILE_MAX_BYTES, { regularOnly: false });
  } catch (err) {
    const why = err instanceof UnusableFile ? err.message : oneLine(err);
    throw new ConfigError([{ file, line: 0, col: 0, message: `cannot read the config: ${why}` }]);
  }
  return parseConfig(text, file, opts);
}

/**
 * YAML text -> Config. Nothing is applied anywhere until this returns: every problem found
 * is collected and thrown together as one ConfigError naming file:line:col.
 */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? ((p: string) => readBoundedFile(p, SECRET_FILE_MAX_BYTES));
  const lineCounter = new LineCounter();
  const pos = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  // The yaml package reports what it finds as errors, but a few inputs (aliases expanding too
  // far, say) surface as exceptions: every one of them is a rejected config, never a crash.
  const yamlFailure = (err: unknown, at: { line: number; col: number } = { line: 1, col: 1 }): ConfigError =>
    new ConfigError([{ file, ...at, message: `the YAML cannot be read: ${oneLine(err)}` }]);
  if (text.length > CONFIG_FILE_MAX_BYTES) {
    throw new ConfigError([{ file, line: 1, col: 1, message: `the config is larger than ${formatBytes(CONFIG_FILE_MAX_BYTES)}` }]);
  }
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  } catch (err) {
    throw yamlFailure(err);
  }
  const issues: ConfigIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const at = pos(e.pos[0]);
    // The parser turns a stack overflow on deeply nested input into an error of its own.
    const message = /call stack/i.test(e.message) ? `the YAML nests too deeply (at most ${MAX_DEPTH} levels)` : e.message.split('\n')[0]!;
    issues.push({ file, ...at, message });
  }
  if (issues.length) throw new ConfigError(dedupe(issues));
  if (!isMap(doc.contents)) throw new ConfigError([{ file, line: 1, col: 1, message: 'the config must be a YAML mapping (providers:, subscriptions: …)' }]);
  const tooDeep = deeperThan(doc.contents, MAX_DEPTH);
  if (tooDeep) throw new ConfigError([{ file, ...pos(tooDeep.range?.[0]), message: `the YAML nests too deeply here (at most ${MAX_DEPTH} levels)` }]);
  const badAlias = aliasProblem(doc);
  if (badAlias) throw new ConfigError([{ file, ...pos(badAlias.node.range?.[0]), message: badAlias.message }]);

  // ${VAR} and ${file:/path} are replaced after parsing, in values only, so a secret's
  // characters can never change the YAML's structure. "$${" stands for a literal "${".
  try {
    visit(doc, {
      Scalar(key, node) {
        if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
        node.value = node.value.replace(/\$?\$\{([^}]*)\}/g, (whole, ref: string) => {
          if (whole.startsWith('$$')) return whole.slice(1);
          const at = pos(node.range?.[0]);
          if (ref.startsWith('file:')) {
            const path = ref.slice(5);
            let content: string;
            try {
              content = readFile(path);
            } catch (err) {
              const why = err instanceof UnusableFile ? err.message : `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? oneLine(err)}`;
              issues.push({ file, ...at, message: `\${${ref}}: ${why}` });
              return '';
            }
            if (Buffer.byteLength(content) > SECRET_FILE_MAX_BYTES) {
              issues.push({ file, ...at, message: `\${${ref}}: ${path} is larger than ${formatBytes(SECRET_FILE_MAX_BYTES)}; name the file that holds just the value` });
              return '';
            }
            return content.replace(/\r?\n$/, '');
          }
          const [name, fallback] = ref.split(':-', 2) as [string, string | undefined];
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
            issues.push({ file, ...at, message: `\${${ref}} is not a valid reference (use \${NAME}, \${NAME:-default} or \${file:/path})` });
            return '';
          }
          const v = env[name];
          if (v === undefined || v === '') {
            if (fallback !== undefined) return fallback;
            issues.push({ file, ...at, message: `environment variable ${name} is not set` });
            return '';
          }
          return v;
        });
      },
    });
  } catch (err) {
    throw yamlFailure(err);
  }
  if (issues.length) throw new ConfigError(dedupe(issues));

  let raw: Record<string, unknown>;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as Record<string, unknown>;
  } catch (err) {
    // The alias guard throws without a position: point at the first alias.
    const alias = firstAlias(doc);
    const at = alias ? pos(alias.range?.[0]) : { line: 1, col: 1 };
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ConfigError([{ file, ...at, message: `the YAML's aliases expand too far (at most ${MAX_ALIAS_COUNT} expansions): write the values out, or use fewer aliases` }]);
    }
    throw yamlFailure(err, at);
  }
  const zodIssues = (prefix: (string | number)[], err: z.ZodError) => {
    for (const i of err.issues) {
      // A map key that fails its schema (an account name, say): zod's own message only says "Invalid key in record".
      const keyProblem = i.code === 'invalid_key' ? i.issues[0]?.message : undefined;
      const issue = keyProblem ? { message: `key "${String(i.path[i.path.length - 1] ?? '')}": ${keyProblem}` } : i;
      issues.push(...issueAt(doc, pos, file, [...prefix, ...(i.path as (string | number)[])], issue));
    }
  };

  const top = topSchema.safeParse(raw);
  if (!top.success) {
    zodIssues([], top.error);
    throw new ConfigError(dedupe(issues));
  }
  const cfg = top.data;
  // Each account against its kind's schema; all problems are collected before giving up.
  const providers: Record<string, AccountConfig['settings']> = {};
  for (const [acct, head] of Object.entries(cfg.providers)) {
    const parsed = providerKinds[head.kind]!.accountSchema.safeParse(head);
    if (parsed.success) providers[acct] = parsed.data as AccountConfig['settings'];
    else zodIssues(['providers', acct], parsed.error);
  }
  const kindOf = (acct: string) => cfg.providers[acct]?.kind;
  const defaults = { renewBefore: cfg.defaults.renewBefore as RenewBefore };
  const desired: DesiredSubscription[] = [];
  const gapHooks: Record<string, GapHookTarget | null> = {};
  const seen = new Map<string, number>();
  const rawSubs = (raw.subscriptions as unknown[] | undefined) ?? [];
  rawSubs.forEach((rs, i) => {
    const s = cfg.subscriptions[i]!;
    const kindName = kindOf(s.provider);
    if (!kindName) {
      const names = Object.keys(cfg.providers);
      issues.push(...issueAt(doc, pos, file, ['subscriptions', i, 'provider'], { message: `provider "${s.provider}" is not declared under providers (declared: ${names.join(', ') || 'none'})` }));
      return;
    }
    const kind = providerKinds[kindName]!;
    const account = providers[s.provider];
    // `hooks` belongs to every kind of subscription: checked here, and left out of what the provider kind reads.
    const { hooks: rawHooks, ...own } = (rs ?? {}) as Record<string, unknown>;
    const hooks = rawHooks === undefined ? undefined : subscriptionHooks.safeParse(rawHooks);
    if (hooks && !hooks.success) zodIssues(['subscriptions', i, 'hooks'], hooks.error);
    const parsed = kind.subscriptionSchema.safeParse(own);
    if (!parsed.success) {
      zodIssues(['subscriptions', i], parsed.error);
      return;
    }
    if (hooks && !hooks.success) return;
    const key = `${s.provider}/${s.name}`;
    if (seen.has(key)) {
      issues.push(...issueAt(doc, pos, file, ['subscriptions', i, 'name'], { message: `subscription "${s.name}" is declared twice for provider ${s.provider} (first at subscriptions[${seen.get(key)}])` }));
      return;
    }
    seen.set(key, i);
    const gapClosed = hooks?.data?.gapClosed;
    if (gapClosed !== undefined) gapHooks[gapHookKey(s.provider, s.name)] = gapClosed === false ? null : gapHookTarget(gapClosed);
    if (account) desired.push(kind.toDesired(s.provider, account, parsed.data, defaults));
  });
  if (issues.length) throw new ConfigError(dedupe(issues));

  const seenWatch = new Set<string>();
  cfg.watch.forEach((w, i) => {
    if (seenWatch.has(w.name)) issues.push(...issueAt(doc, pos, file, ['watch', i, 'name'], { message: `watch target "${w.name}" is declared twice` }));
    seenWatch.add(w.name);
  });
  if (issues.length) throw new ConfigError(dedupe(issues));

  // Off loopback, the status page and the metrics are reachable from elsewhere: they are
  // served only to holders of server.token, so one must be configured.
  const [host, port] = splitHostPort(cfg.server.listen);
  if (!isLoopbackListenHost(host) && cfg.server.token === undefined) {
    issues.push(
      ...issueAt(doc, pos, file, ['server', 'listen'], {
        message: `${host} is not a loopback address: set server.token (e.g. \${HOOKWARDEN_SERVER_TOKEN}); /status, /status.json and /metrics then require "Authorization: Bearer <token>"`,
      }),
    );
  }
  if (issues.length) throw new ConfigError(dedupe(issues));

  const probe = { everySeconds: cfg.defaults.probe.every, timeoutSeconds: cfg.defaults.probe.timeout };
  return {
    file,
    databaseUrl: cfg.database?.url,
    dataDir: resolve(dirname(resolve(file)), cfg.dataDir),
    listen: { host, port },
    defaults: { reconcileEverySeconds: cfg.defaults.reconcileEvery, renewBefore: defaults.renewBefore, concurrency: cfg.defaults.concurrency, actionConcurrency: cfg.defaults.actionConcurrency, probe, deliveryPollEverySeconds: cfg.defaults.deliveryPoll.every, leaseTtlSeconds: cfg.defaults.leaseTtl, passTimeoutSeconds: cfg.defaults.passTimeout },
    livenessTimeoutSeconds: cfg.server.livenessTimeout,
    server: { token: cfg.server.token },
    accounts: Object.fromEntries(Object.entries(providers).map(([n, a]) => [n, { kind: a.kind, settings: a }])),
    policies: Object.fromEntries(Object.entries(providers).map(([n, a]) => [n, a.policy])),
    desired,
    historyKeepSeconds: cfg.history.keep,
    hooks: cfg.hooks.gapClosed ? { gapClosed: gapHookTarget(cfg.hooks.gapClosed) } : {},
    gapHooks,
    gapAlertAfterSeconds: cfg.defaults.gapAlertAfter,
    watch: cfg.watch.map((w) => ({
      name: w.name,
      url: normalUrl(w.url),
      method: w.method,
      format: w.format,
      everySeconds: w.every ?? probe.everySeconds,
      timeoutSeconds: w.timeout ?? probe.timeoutSeconds,
      event: w.event,
      headers: w.headers,
      policy: w.policy,
    })),
  };
}

function splitHostPort(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}

type Pos = (offset: number | undefined) => { line: number; col: number };

/** The first node nested deeper than `max` collections, without recursion (the input may be hostile). */
function deeperThan(root: unknown, max: number): Node | undefined {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (isPair(node)) {
      stack.push([node.key, depth], [node.value, depth]);
    } else if (isCollection(node)) {
      if (depth > max) return node;
      for (const item of node.items) stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Aliases the yaml package's expansion guard does not catch: one inside the node it refers
 * to (a cycle, which the guard counts as free), and more alias nodes than the guard allows
 * expansions (each costs a search of the document, so thousands take seconds).
 */
function aliasProblem(doc: Document): { node: Node; message: string } | undefined {
  let found: { node: Node; message: string } | undefined;
  let count = 0;
  visit(doc, {
    Alias(_key, node, path) {
      if (++count > MAX_ALIAS_COUNT) {
        found = { node, message: `the YAML has more than ${MAX_ALIAS_COUNT} aliases: write the values out, or use fewer aliases` };
        return visit.BREAK;
      }
      // Anchor names can be reused: an ancestor of the same name is confirmed by resolving.
      if (path.some((p) => (p as { anchor?: string }).anchor === node.source) && path.includes(node.resolve(doc) as never)) {
        found = { node, message: `alias *${node.source} is inside the node it refers to: a YAML value cannot contain itself` };
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

function firstAlias(doc: Document): Node | undefined {
  let found: Node | undefined;
  visit(doc, {
    Alias(_key, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found;
}

/** The first line of an error's message, kept short. */
function oneLine(err: unknown): string {
  const m = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
  return m.length > 200 ? `${m.slice(0, 200)}…` : m;
}

/** Where in the file an issue belongs: the node at its path, else the nearest existing parent. */
function issueAt(doc: Document, pos: Pos, file: string, path: (string | number)[], issue: { message: string; code?: string; keys?: string[] }): ConfigIssue[] {
  const where = path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') : '(top level)';
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    const map = doc.getIn(path, true) as Node | undefined;
    return issue.keys.map((k) => {
      const pair = isMap(map) ? map.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === k) : undefined;
      const keyNode = pair && isPair(pair) ? (pair.key as Node) : map;
      return { file, ...pos(keyNode?.range?.[0]), message: `${where === '(top level)' ? '' : `${where}: `}unknown key "${k}"` };
    });
  }
  let node: unknown;
  let depth = path.length;
  for (; depth >= 0; depth--) {
    node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    if (node && (isScalar(node) || isMap(node) || isSeq(node))) break;
  }
  const missing = depth < path.length && issue.code === 'invalid_type' && /received undefined/.test(issue.message);
  const parent = path.slice(0, -1).map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '') || '(top level)';
  const message = missing ? `${parent}: required key "${path[path.length - 1]}" is missing` : `${where}: ${issue.message}`;
  return [{ file, ...pos((node as Node | undefined)?.range?.[0]), message }];
}

/** One line per problem, in file order. */
function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return [...issues].sort((a, b) => a.line - b.line || a.col - b.col).filter((i) => {
    const k = `${i.line}:${i.col}:${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
