import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import type { DesiredSubscription, HealthPolicy, RenewBefore } from '../domain/types.js';
import type { WatchEntry } from '../watchdog/targets.js';
import { normalUrl } from './common.js';
import { ConfigError, type ConfigIssue } from '../lib/errors.js';
import { providerKinds } from '../providers/registry.js';
import { topSchema } from './schema.js';

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
  defaults: { reconcileEverySeconds: number; renewBefore: RenewBefore; concurrency: number; probe: { everySeconds: number; timeoutSeconds: number }; deliveryPollEverySeconds: number };
  accounts: Record<string, AccountConfig>;
  /** Each account's callback policy. */
  policies: Record<string, HealthPolicy>;
  desired: DesiredSubscription[];
  watch: WatchEntry[];
  historyKeepSeconds: number;
}

export interface LoadOptions {
  env?: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

export function loadConfigFile(file: string, opts: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file, line: 0, col: 0, message: `cannot read the config: ${(err as Error).message}` }]);
  }
  return parseConfig(text, file, opts);
}

/**
 * YAML text -> Config. Nothing is applied anywhere until this returns: every problem found
 * is collected and thrown together as one ConfigError naming file:line:col.
 */
export function parseConfig(text: string, file: string, opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const readFile = opts.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined) => {
    const p = lineCounter.linePos(offset ?? 0);
    return { line: p.line, col: p.col };
  };
  const issues: ConfigIssue[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) issues.push({ file, ...pos(e.pos[0]), message: e.message.split('\n')[0]! });
  if (issues.length) throw new ConfigError(issues);
  if (!isMap(doc.contents)) throw new ConfigError([{ file, line: 1, col: 1, message: 'the config must be a YAML mapping (providers:, subscriptions: …)' }]);

  // ${VAR} and ${file:/path} are replaced after parsing, in values only, so a secret's
  // characters can never change the YAML's structure. "$${" stands for a literal "${".
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      node.value = node.value.replace(/\$?\$\{([^}]*)\}/g, (whole, ref: string) => {
        if (whole.startsWith('$$')) return whole.slice(1);
        const at = pos(node.range?.[0]);
        if (ref.startsWith('file:')) {
          try {
            return readFile(ref.slice(5)).replace(/\r?\n$/, '');
          } catch (err) {
            issues.push({ file, ...at, message: `\${${ref}}: cannot read ${ref.slice(5)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
            return '';
          }
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
  if (issues.length) throw new ConfigError(issues);

  const raw = doc.toJS() as Record<string, unknown>;
  const zodIssues = (prefix: (string | number)[], err: z.ZodError) => {
    for (const i of err.issues) issues.push(...issueAt(doc, pos, file, [...prefix, ...(i.path as (string | number)[])], i));
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
    const parsed = kind.subscriptionSchema.safeParse(rs);
    if (!parsed.success) {
      zodIssues(['subscriptions', i], parsed.error);
      return;
    }
    const key = `${s.provider}/${s.name}`;
    if (seen.has(key)) {
      issues.push(...issueAt(doc, pos, file, ['subscriptions', i, 'name'], { message: `subscription "${s.name}" is declared twice for provider ${s.provider} (first at subscriptions[${seen.get(key)}])` }));
      return;
    }
    seen.set(key, i);
    if (account) desired.push(kind.toDesired(s.provider, account, parsed.data, defaults));
  });
  if (issues.length) throw new ConfigError(dedupe(issues));

  const seenWatch = new Set<string>();
  cfg.watch.forEach((w, i) => {
    if (seenWatch.has(w.name)) issues.push(...issueAt(doc, pos, file, ['watch', i, 'name'], { message: `watch target "${w.name}" is declared twice` }));
    seenWatch.add(w.name);
  });
  if (issues.length) throw new ConfigError(dedupe(issues));

  const probe = { everySeconds: cfg.defaults.probe.every, timeoutSeconds: cfg.defaults.probe.timeout };
  const [host, port] = splitHostPort(cfg.server.listen);
  return {
    file,
    databaseUrl: cfg.database?.url,
    dataDir: resolve(dirname(resolve(file)), cfg.dataDir),
    listen: { host, port },
    defaults: { reconcileEverySeconds: cfg.defaults.reconcileEvery, renewBefore: defaults.renewBefore, concurrency: cfg.defaults.concurrency, probe, deliveryPollEverySeconds: cfg.defaults.deliveryPoll.every },
    accounts: Object.fromEntries(Object.entries(providers).map(([n, a]) => [n, { kind: a.kind, settings: a }])),
    policies: Object.fromEntries(Object.entries(providers).map(([n, a]) => [n, a.policy])),
    desired,
    historyKeepSeconds: cfg.history.keep,
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
