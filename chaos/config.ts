import { randomBytes } from 'node:crypto';
import { digitalIdentity, notificationIdentity } from '../src/sandbox/axp.js';
import { tenantTag } from '../src/sandbox/audit.js';
import { dixaIdentity } from '../src/sandbox/dixa.js';
import { infinityIdentity } from '../src/sandbox/infinity.js';

/**
 * The config every replica shares: `count` subscriptions spread over the four provider
 * kinds and several accounts of each, one callback URL per subscription, and a distinct
 * canary in every secret slot (passed through the environment, as in production).
 */
export type Kind = 'avaya-infinity' | 'axp-notification' | 'axp-digital' | 'dixa';

export interface Declared {
  name: string;
  kind: Kind;
  account: string;
  /** What the sandbox's audit calls this subscription (see src/sandbox/audit.ts). */
  identity: string;
  callbackPath: string;
}

export interface ChaosConfig {
  yaml: string;
  /** The password of the daemon's database role (a canary too). */
  dbPassword: string;
  /** Environment variables holding the secrets, by name. */
  env: Record<string, string>;
  /** Every secret that must never reach a log, by the slot it fills. */
  canaries: Map<string, string>;
  declared: Declared[];
  notes: string[];
}

export interface ConfigParams {
  count: number;
  urls: { infinity: string; axp: string; dixa: string; hooks: string };
  leaseTtl?: number;
  passTimeout?: number;
  reconcileEverySeconds: number;
  timeoutSeconds: number;
  axpPolicy: { unhealthyAfter: number; disableAfterSeconds: number; deleteAfterSeconds: number };
  /** Accounts per kind. */
  accounts: Record<Kind, number>;
}

/** Shares of the subscriptions per kind. */
const SHARE: Record<Kind, number> = { 'avaya-infinity': 0.34, 'axp-notification': 0.26, 'axp-digital': 0.2, dixa: 0.2 };
const INFINITY_FAMILIES = ['AGENT', 'INTERACTION', 'QUEUE'];
const AXP_ACCOUNT_IDS = ['CHAOSA', 'CHAOSB', 'CHAOSC', 'CHAOSD', 'CHAOSE', 'CHAOSF'];

export function chaosConfig(p: ConfigParams): ChaosConfig {
  const canaries = new Map<string, string>();
  const env: Record<string, string> = {};
  const secret = (slot: string): string => {
    const value = `canary-${randomBytes(9).toString('hex')}`;
    const name = `CHAOS_${slot.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
    canaries.set(slot, value);
    env[name] = value;
    return `\${${name}}`;
  };
  const counts = split(p.count);
  const declared: Declared[] = [];
  const providers: string[] = [];
  const subs: string[] = [];
  const accountNames: Record<Kind, string[]> = { 'avaya-infinity': [], 'axp-notification': [], 'axp-digital': [], dixa: [] };
  const axpIds: Record<string, string> = {};
  const dixaTokens: Record<string, string> = {};
  let axpIndex = 0;
  for (const kind of Object.keys(SHARE) as Kind[]) {
    for (let a = 0; a < p.accounts[kind]; a++) {
      const name = `${kind.replace('avaya-', '')}-${a + 1}`;
      accountNames[kind].push(name);
      const common = [`  ${name}:`, `    kind: ${kind}`, `    timeout: ${p.timeoutSeconds}s`];
      if (kind === 'avaya-infinity') {
        providers.push(...common, `    baseUrl: ${p.urls.infinity}`, `    clientId: chaos-client-${a + 1}`, `    clientSecret: ${secret(`${name}.clientSecret`)}`);
      } else if (kind === 'dixa') {
        const token = secret(`${name}.apiToken`);
        dixaTokens[name] = canaries.get(`${name}.apiToken`)!;
        providers.push(...common, `    baseUrl: ${p.urls.dixa}`, `    apiToken: ${token}`);
      } else {
        const id = AXP_ACCOUNT_IDS[axpIndex++ % AXP_ACCOUNT_IDS.length]!;
        axpIds[name] = id;
        providers.push(
          ...common,
          `    baseUrl: ${p.urls.axp}`,
          `    accountId: ${id}`,
          `    appKey: ${secret(`${name}.appKey`)}`,
          `    clientId: chaos-${name}`,
          `    clientSecret: ${secret(`${name}.clientSecret`)}`,
          `    policy: { unhealthyAfter: ${p.axpPolicy.unhealthyAfter}, disableAfter: ${p.axpPolicy.disableAfterSeconds}s, deleteAfter: ${p.axpPolicy.deleteAfterSeconds}s }`,
        );
      }
    }
  }
  for (const kind of Object.keys(SHARE) as Kind[]) {
    for (let i = 0; i < counts[kind]; i++) {
      const account = accountNames[kind][i % accountNames[kind].length]!;
      const name = `${kind.replace('avaya-', '').replace('axp-', '')}-${String(i + 1).padStart(3, '0')}`;
      const path = `/hooks/${kind}/${name}`;
      const url = `${p.urls.hooks}${path}`;
      if (kind === 'avaya-infinity') {
        const family = [INFINITY_FAMILIES[i % 3]!];
        const events = ['ALL'];
        const token = i % 2 === 0 ? secret(`${name}.callback.authToken`) : undefined;
        subs.push(`  - name: ${name}`, `    provider: ${account}`, `    family: [${family.join(', ')}]`, `    events: [${events.join(', ')}]`, '    callback:', `      url: ${url}`, '      method: POST', ...(token ? [`      authToken: ${token}`, '      authTokenHeader: X-Hook-Token'] : []));
        declared.push({ name, kind, account, callbackPath: path, identity: infinityIdentity(`chaos-client-${accountNames[kind].indexOf(account) + 1}`, { family, events, transport: { method: 'POST', endpoint: url } }) });
      } else if (kind === 'axp-notification') {
        const family = i % 2 === 0 ? 'AGENT_ENGAGEMENT' : 'ANALYTICS';
        const events = ['ALL'];
        subs.push(`  - name: ${name}`, `    provider: ${account}`, `    family: ${family}`, `    events: [${events.join(', ')}]`, '    callback:', `      url: ${url}`, `      authToken: ${secret(`${name}.callback.authToken`)}`, '      authTokenHeader: X-Hook-Token');
        declared.push({ name, kind, account, callbackPath: path, identity: notificationIdentity(axpIds[account]!, { family, events, transport: { type: 'WEBHOOK', endpoint: url } }) });
      } else if (kind === 'axp-digital') {
        const events = ['MESSAGES', 'ENGAGEMENT_CREATED'];
        subs.push(`  - name: ${name}`, `    provider: ${account}`, '    channelProviderId: ChaosConnector01', `    events: [${events.join(', ')}]`, '    callback:', `      url: ${url}`);
        declared.push({ name, kind, account, callbackPath: path, identity: digitalIdentity(axpIds[account]!, { channelProviderId: 'ChaosConnector01', callbackUrl: url, eventTypes: events }) });
      } else {
        const auth =
          i % 2 === 0
            ? ['        type: basic', '        username: chaos', `        password: ${secret(`${name}.callback.password`)}`]
            : ['        type: token', `        value: ${secret(`${name}.callback.token`)}`];
        subs.push(`  - name: ${name}`, `    provider: ${account}`, '    events: [ConversationCreated, ConversationClosed]', '    callback:', `      url: ${url}`, '      authorization:', ...auth);
        declared.push({ name, kind, account, callbackPath: path, identity: dixaIdentity(tenantTag(dixaTokens[account]!), `hookwarden:${name}`) });
      }
    }
  }
  const yaml = [
    '# Written by the chaos harness: every replica runs this file; secrets come from the environment.',
    'database:',
    '  url: ${CHAOS_DATABASE_URL}',
    'server:',
    '  listen: 127.0.0.1:${CHAOS_LISTEN_PORT}',
    'defaults:',
    `  reconcileEvery: ${p.reconcileEverySeconds}s`,
    '  renewBefore: 33%',
    '  concurrency: 8',
    ...(p.leaseTtl ? [`  leaseTtl: ${p.leaseTtl}s`] : []),
    ...(p.passTimeout ? [`  passTimeout: ${p.passTimeout}s`] : []),
    '  probe: { every: 20s, timeout: 5s }',
    '  deliveryPoll: { every: 30s }',
    'providers:',
    ...providers,
    'subscriptions:',
    ...subs,
    '',
  ].join('\n');
  secret('database.password');
  return { yaml, env, canaries, declared, dbPassword: canaries.get('database.password')!, notes: [] };
}

/** The number of subscriptions of each kind (at least one of each). */
function split(count: number): Record<Kind, number> {
  const kinds = Object.keys(SHARE) as Kind[];
  const out = Object.fromEntries(kinds.map((k) => [k, Math.max(1, Math.floor(count * SHARE[k]))])) as Record<Kind, number>;
  let sum = kinds.reduce((n, k) => n + out[k], 0);
  for (let i = 0; sum < count; i++, sum++) out[kinds[i % kinds.length]!]++;
  return out;
}
