import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ManualClock } from '../../src/lib/clock.js';
import { createLogger } from '../../src/lib/logger.js';
import { createApp, type App } from '../../src/main.js';
import { AxpSandbox } from '../../src/sandbox/axp.js';
import { DixaSandbox } from '../../src/sandbox/dixa.js';
import { InfinitySandbox } from '../../src/sandbox/infinity.js';
import { startServer } from '../../src/server/http.js';
import { cli, writeTemp, type CliResult } from '../fixtures/cli.js';
import { freshDatabase, query } from '../fixtures/db.js';
import { T0 } from '../fixtures/stack.js';
import { EchoCallback, EchoProxy } from './echo.js';

/**
 * The canary test: a distinct value in every secret slot of the config, providers and
 * callbacks that echo them back in their error bodies, a daemon that creates, fails,
 * renews, probes and polls against them, and then a search for each value (raw, JSON-
 * escaped, base64, URL-encoded, HTML-escaped) in everything hookwarden wrote: its log
 * lines, every row of every table, /status in HTML and JSON, /metrics and the output of
 * the CLI. Remove the scrubber and this fails.
 */

const tag = () => randomBytes(4).toString('hex');
// Some values carry characters that change under JSON, URL and form encoding.
const CANARY = {
  INF_CLIENT_SECRET: `ic+S/"${tag()}=`,
  DIG_CLIENT_SECRET: `dcs-${tag()}`,
  DIG_APP_KEY: `dak-${tag()}`,
  NOT_CLIENT_SECRET: `ncs&${tag()}`,
  NOT_APP_KEY: `nak-${tag()}`,
  DIXA_API_TOKEN: `dxt.${tag()}`,
  INF_HOOK_TOKEN: `iht-${tag()}`,
  NOT_HOOK_TOKEN: `nht-${tag()}`,
  DIXA_BASIC_PASSWORD: `dbp:${tag()}`,
  DIXA_BEARER: `dbt-${tag()}`,
  DIXA_HEADER: `dxh-${tag()}`,
  WATCH_HEADER: `wh\\${tag()}`,
  DB_PASSWORD: `dbpw-${tag()}`,
};
const DIXA_USER = 'hookuser';

function yamlFor(p: { infinity: string; axp: string; dixa: string; hooks: string; dbUrl: string }): string {
  const axp = (kind: string, accountId: string, key: string, secret: string) => `    kind: ${kind}
    baseUrl: ${p.axp}
    accountId: ${accountId}
    appKey: \${${key}}
    clientId: canary-axp
    clientSecret: \${${secret}}`;
  return `database:
  url: ${p.dbUrl}
defaults:
  reconcileEvery: 60s
  renewBefore: 33%
  probe: { every: 10s, timeout: 2s }
  deliveryPoll: { every: 30s }
providers:
  infinity:
    kind: avaya-infinity
    baseUrl: ${p.infinity}
    clientId: canary-client
    clientSecret: \${INF_CLIENT_SECRET}
  digital:
${axp('axp-digital', 'ABCDEF', 'DIG_APP_KEY', 'DIG_CLIENT_SECRET')}
  notify:
${axp('axp-notification', 'GHIJKL', 'NOT_APP_KEY', 'NOT_CLIENT_SECRET')}
  dixa:
    kind: dixa
    baseUrl: ${p.dixa}
    apiToken: \${DIXA_API_TOKEN}
watch:
  - name: watched
    url: ${p.hooks}/hooks/watched
    format: mycontactcenter
    headers: { X-Api-Key: "\${WATCH_HEADER}" }
subscriptions:
  - name: agents
    provider: infinity
    family: [AGENT]
    events: [ALL]
    callback: { url: ${p.hooks}/hooks/agents, authToken: "\${INF_HOOK_TOKEN}", authTokenHeader: X-Hook-Token }
  - name: chat
    provider: digital
    channelProviderId: ChatConnector01
    events: [MESSAGES]
    callback: { url: ${p.hooks}/hooks/chat }
  - name: engagements
    provider: notify
    family: AGENT_ENGAGEMENT
    events: [ALL]
    callback: { url: ${p.hooks}/hooks/engagements, authToken: "\${NOT_HOOK_TOKEN}", authTokenHeader: X-Hook-Token }
  - name: conversations
    provider: dixa
    events: [ConversationCreated]
    callback:
      url: ${p.hooks}/hooks/conversations
      authorization: { type: basic, username: ${DIXA_USER}, password: "\${DIXA_BASIC_PASSWORD}" }
  - name: notes
    provider: dixa
    events: [ConversationNoteAdded]
    callback:
      url: ${p.hooks}/hooks/notes
      authorization: { type: token, value: "\${DIXA_BEARER}" }
      headers: { X-Custom: "\${DIXA_HEADER}" }
`;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const html = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The forms in which a secret would show up if it leaked (whole, or all but its last two characters). */
function leakForms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  return [...new Set([secret, ...(secret.length >= 10 ? [secret.slice(0, -2)] : []), json, JSON.stringify(json).slice(1, -1), b64(secret).replace(/=+$/, ''), Buffer.from(secret).toString('base64url'), encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2), html(secret)])];
}

/** Every place a secret may be found: [where, text]. */
type Sources = [string, string][];

function leaks(sources: Sources, secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    const forms = leakForms(secret);
    for (const [where, text] of sources) for (const f of forms) if (text.includes(f)) found.push(`${name} (${JSON.stringify(f)}) in ${where}: …${text.slice(Math.max(0, text.indexOf(f) - 80), text.indexOf(f) + f.length + 20)}…`);
  }
  return found;
}

async function dumpDatabase(url: string): Promise<Sources> {
  const tables = await query<{ table_name: string }>(url, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`);
  const out: Sources = [];
  for (const { table_name } of tables) {
    const rows = await query<{ row: string }>(url, `SELECT row_to_json(t)::text AS row FROM "${table_name}" t`);
    out.push([`table ${table_name} (${rows.length} rows)`, rows.map((r) => r.row).join('\n')]);
  }
  return out;
}

describe('no secret leaks (canary values in every secret slot, echoed back by providers and callbacks)', () => {
  const clock = new ManualClock(T0);
  const infinity = new InfinitySandbox({ clock, subscriptionLifetimeSeconds: 600 });
  const axp = new AxpSandbox({ clock, subscriptionLifetimeSeconds: 600 });
  const dixa = new DixaSandbox({ clock, timeoutMs: 2000 });
  const infProxy = new EchoProxy(() => infinity.url);
  const axpProxy = new EchoProxy(() => axp.url);
  const dixaProxy = new EchoProxy(() => dixa.url);
  const hooks = new EchoCallback();
  const lines: string[] = [];
  let app: App;
  let db: { url: string; drop(): Promise<void> };
  let dbUrl = '';
  let configFile = '';
  const env: Record<string, string> = { ...CANARY };
  /** What was written before any legacy row was planted. */
  const written: Sources = [];
  /** What is shown: /status, /metrics, CLI output (checked with a legacy row holding secrets too). */
  const shown: Sources = [];
  const cliRuns: Record<string, CliResult> = {};
  const dixaKeys: string[] = [];
  let role: string | undefined;

  beforeAll(async () => {
    await Promise.all([infinity.listen(), axp.listen(), dixa.listen(), infProxy.listen(), axpProxy.listen(), dixaProxy.listen(), hooks.listen()]);
    db = await freshDatabase();
    // A role of its own whose password is the canary: the connection works whether the
    // server checks passwords (the embedded one) or trusts loopback.
    role = `hw_canary_${randomBytes(4).toString('hex')}`;
    await query(`${inject('pgServerUrl')}/postgres`, `CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD '${CANARY.DB_PASSWORD.replace(/'/g, "''")}'`);
    const u = new URL(db.url);
    u.username = role;
    u.password = CANARY.DB_PASSWORD;
    dbUrl = u.toString();
    const yaml = yamlFor({ infinity: infProxy.url, axp: axpProxy.url, dixa: dixaProxy.url, hooks: hooks.url, dbUrl: '${DATABASE_URL_WITH_PASSWORD}' });
    env.DATABASE_URL_WITH_PASSWORD = dbUrl;
    const config = parseConfig(yaml, 'canary.yaml', { env });
    configFile = writeTemp('canary.yaml', yaml);
    const destination = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const logger = createLogger({ level: 'debug', destination });
    app = await createApp(config, dbUrl, { logger, clock, rand: () => 0.5 });
    const passAll = async () => {
      for (const a of app.reconciler.accounts) await app.reconciler.pass(a);
    };

    // 1. Token endpoints and lists answer errors echoing the credentials.
    infProxy.echo({ path: '/openid-connect/token', status: 401, parts: ['body'], shape: 'oauth' });
    axpProxy.echo({ path: '/openid-connect/token', status: 400, parts: ['appkey', 'body'], shape: 'text', count: 2 });
    dixaProxy.echo({ method: 'GET', path: '/v1/webhooks', status: 401, parts: ['authorization'], shape: 'message' });
    await passAll();

    // 2. Creates fail with the request (bearer token, appkey, body with callback tokens and passwords) echoed.
    infProxy.echo({ method: 'POST', path: '/subscriptions', status: 500, parts: ['authorization', 'body'], shape: 'problem' });
    axpProxy.echo({ method: 'POST', path: '/subscriptions', status: 500, parts: ['authorization', 'appkey', 'body'], shape: 'problem', count: 2 });
    dixaProxy.echo({ method: 'POST', path: '/v1/webhooks', status: 500, parts: ['authorization', 'body'], shape: 'message', count: 2 });
    await passAll();

    // 3. Then they succeed.
    clock.advance(120);
    await passAll();
    expect((await app.store.listSubscriptions()).filter((r) => r.remoteId).map((r) => r.name).sort()).toEqual(['agents', 'chat', 'conversations', 'engagements', 'notes']);
    for (const org of dixa.orgs.values()) for (const w of org.values()) dixaKeys.push(w.secretKey);

    // 4. Probes: every callback (and the watch target) answers 500 echoing the headers it got.
    await app.prober.probeDue();
    expect(hooks.hits).toBeGreaterThanOrEqual(5);

    // 5. Dixa delivers, records the callback's answer text (the echoed credentials), and hookwarden polls it.
    await dixa.deliver();
    await app.deliveries.pollAccount('dixa');

    // 6. Renewals fail with the request echoed (the sandbox's own fault bodies, and the proxy).
    clock.advance(450);
    infinity.addFault({ path: ':renew', status: 400, body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: `authToken ${CANARY.INF_HOOK_TOKEN} rejected for a client whose secret is ${CANARY.INF_CLIENT_SECRET}` } });
    axpProxy.echo({ method: 'POST', path: ':renew', status: 500, parts: ['authorization', 'appkey', 'body'], shape: 'text' });
    dixa.addFault({ method: 'GET', path: '/v1/webhooks', status: 500, echoRequest: true });
    await passAll();
    // …and a list whose error names the subscriptions' signing keys and the API token.
    dixa.addFault({ method: 'GET', path: '/v1/webhooks', status: 400, body: { message: `bad request from ${CANARY.DIXA_API_TOKEN}; webhook keys ${dixaKeys.join(', ')}` } });
    await app.reconciler.pass('dixa');
    // …a provider that names the callback token (and, why not, the database password) in a problem document…
    axp.addFault({ method: 'GET', path: '/api/notification/v1/accounts/GHIJKL/subscriptions', status: 400, body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: `transport.authToken ${CANARY.NOT_HOOK_TOKEN} is not accepted (database password ${CANARY.DB_PASSWORD})` } });
    await app.reconciler.pass('notify');
    // …and an error text cut to its first 300 characters in the middle of a secret: no part of it may remain.
    dixa.addFault({ method: 'GET', path: '/v1/webhooks', status: 400, body: `${'y'.repeat(290)}${CANARY.DIXA_API_TOKEN}` });
    await app.reconciler.pass('dixa');
    await app.prober.probeDue();
    clock.advance(60);
    await app.prober.probeDue();

    // What was written: log lines and every row of every table.
    written.push(['logs', lines.join('')], ...(await dumpDatabase(db.url)));

    // A row written before scrubbing existed: what is shown must be scrubbed all the same.
    // (Config secrets only: a CLI process knows a run-time secret only if it fetched it.)
    await query(db.url, `UPDATE subscription SET "lastError" = $1 WHERE name = 'agents'`, [`legacy: Bearer ${CANARY.DIXA_BEARER} / ${CANARY.INF_CLIENT_SECRET} / ${b64(CANARY.WATCH_HEADER)}`]);
    await query(db.url, `UPDATE delivery_status SET "responseText" = $1`, [`legacy: ${encodeURIComponent(CANARY.DIXA_BASIC_PASSWORD)}`]);

    const server = await startServer('127.0.0.1', 0, { store: app.store, metrics: app.metrics, clock, logger, ready: () => true });
    try {
      for (const path of ['/status', '/status?format=json', '/metrics']) shown.push([`GET ${path}`, await (await fetch(server.url + path)).text()]);
    } finally {
      await server.close();
    }

    // The CLI, as a user runs it, against the same database and providers.
    infProxy.echo({ path: '/openid-connect/token', status: 401, parts: ['body'], shape: 'oauth' });
    dixaProxy.echo({ method: 'GET', path: '/v1/webhooks', status: 401, parts: ['authorization'], shape: 'text' });
    axpProxy.echo({ method: 'GET', path: '/subscriptions', status: 400, parts: ['authorization', 'appkey'], shape: 'problem' });
    for (const args of [['validate'], ['status'], ['status', '--json'], ['plan'], ['plan', '--json']]) {
      const r = await cli([...args, '-c', configFile], env);
      cliRuns[args.join(' ')] = r;
      shown.push([`hookwarden ${args.join(' ')} (stdout)`, r.stdout], [`hookwarden ${args.join(' ')} (stderr)`, r.stderr]);
    }
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await Promise.all([infinity.close(), axp.close(), dixa.close(), infProxy.close(), axpProxy.close(), dixaProxy.close(), hooks.close()]);
    await db?.drop();
    if (role) await query(`${inject('pgServerUrl')}/postgres`, `DROP ROLE IF EXISTS ${role}`);
  });

  it('the providers and callbacks really echoed the secrets back', () => {
    expect(infProxy.echoed + axpProxy.echoed + dixaProxy.echoed).toBeGreaterThanOrEqual(12);
    // Scrubbed text is where the echoes went: the markers of each path are there.
    const all = [...written, ...shown].map(([, t]) => t).join('\n');
    expect(all).toContain('[redacted]');
    expect(lines.join('')).toMatch(/echo of POST .*subscriptions/);
    const deliveries = written.find(([w]) => w.startsWith('table delivery_status'))![1];
    expect(deliveries).toContain('rejected authorization: ');
    expect(cliRuns.validate!.code).toBe(0);
    expect(cliRuns.status!.code).toBe(0);
    expect(cliRuns['status --json']!.stdout).toContain('"subscriptions"');
    expect(cliRuns.plan!.stderr).toContain('echo of');
  });

  it('no config secret in the logs or in any row of any table', () => {
    expect(leaks(written, CANARY)).toEqual([]);
  });

  it('no config secret in /status (HTML, JSON), /metrics or the CLI output, even from a row written unscrubbed', () => {
    expect(shown.length).toBe(13);
    expect(leaks(shown, CANARY)).toEqual([]);
    expect(leaks([...written, ...shown], { 'Basic credential': b64(`${DIXA_USER}:${CANARY.DIXA_BASIC_PASSWORD}`) })).toEqual([]);
  });

  it('no secret issued at run time (OAuth access tokens, Dixa signing keys) in anything written or shown', () => {
    const runtime: Record<string, string> = {};
    [...infProxy.bearerTokens, ...axpProxy.bearerTokens].forEach((t, i) => (runtime[`access token ${i}`] = t));
    dixaKeys.forEach((k, i) => (runtime[`Dixa secretKey ${i}`] = k));
    expect(Object.keys(runtime).length).toBeGreaterThanOrEqual(4);
    expect(leaks([...written, ...shown], runtime)).toEqual([]);
  });
});
