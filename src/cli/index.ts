#!/usr/bin/env node
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { configJsonSchema } from '../config/schema.js';
import { alertRules } from '../server/alerts.js';
import { errorMessage } from '../lib/errors.js';
import type { ActionReport, PassReport } from '../reconcile/reconciler.js';
import { statusDocument } from '../server/status.js';
import { EXIT, loadOrExit, setLogOptions, withApp } from './common.js';
import { runDaemon } from './run.js';
import { runDemo } from './demo.js';
import { runGaps } from './gaps.js';
import { runSandbox } from './sandbox.js';
import { err, out, printJson, shownKey, table } from './output.js';

const program = new Command()
  .name('hookwarden')
  .description('Keeps webhook subscriptions on contact-center platforms alive.\nExit codes: 0 ok, 1 something failed, 2 invalid config, 3 deletions refused.')
  .version('0.1.0')
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: HOOKWARDEN_LOG_LEVEL, else info)')
  .option('--pretty', 'logs for people (colours, one readable line each) instead of JSON lines')
  .showHelpAfterError()
  .hook('preAction', () => {
    try {
      setLogOptions(program.opts<{ logLevel?: string; pretty?: boolean }>());
    } catch (e) {
      err(`${errorMessage(e)}\n`);
      process.exit(EXIT.invalidConfig);
    }
  });

const configOption = () => new Option('-c, --config <file>', 'the YAML config').makeOptionMandatory();

program
  .command('validate')
  .description('check a config file; exit 0, or 2 with every error as file:line:col')
  .addOption(configOption())
  .action((o: { config: string }) => {
    const c = loadOrExit(o.config);
    out(`${o.config}: valid (${c.desired.length} subscriptions, ${Object.keys(c.accounts).length} provider accounts)\n`);
  });

program
  .command('plan')
  .description('show what apply would do; writes nothing at the providers or in Postgres')
  .addOption(configOption())
  .option('--json', 'one JSON document on stdout')
  .option('--allow-mass-delete', 'plan as if deleting more than half of what hookwarden owns were confirmed')
  .action(async (o: { config: string; json?: boolean; allowMassDelete?: boolean }) => {
    const code = await withApp(o.config, { readOnly: true }, async (app) => {
      const reports: PassReport[] = [];
      for (const a of app.reconciler.accounts) reports.push(await app.reconciler.pass(a, { dryRun: true, allowMassDelete: o.allowMassDelete ?? false }));
      return report(reports, o.json ?? false);
    });
    process.exit(code);
  });

program
  .command('apply')
  .description('one reconcile pass over every provider account; non-zero exit when something failed')
  .addOption(configOption())
  .option('--json', 'one JSON document on stdout')
  .option('--allow-mass-delete', 'confirm deleting more than half of what hookwarden owns in an account')
  .action(async (o: { config: string; json?: boolean; allowMassDelete?: boolean }) => {
    const code = await withApp(o.config, {}, async (app) => {
      const reports: PassReport[] = [];
      for (const a of app.reconciler.accounts) reports.push(await app.reconciler.pass(a, { allowMassDelete: o.allowMassDelete ?? false }));
      return report(reports, o.json ?? false);
    });
    process.exit(code);
  });

program
  .command('run')
  .description('the daemon: reconcile continuously, serve /metrics, /healthz, /readyz and /status')
  .addOption(configOption())
  .option('--allow-mass-delete', 'confirm deleting more than half of what hookwarden owns in an account')
  .option('--watch', 'reload the config when the file changes (SIGHUP always reloads it)')
  .action(async (o: { config: string; allowMassDelete?: boolean; watch?: boolean }) => runDaemon(o.config, { allowMassDelete: o.allowMassDelete ?? false, watch: o.watch ?? false }));

program
  .command('status')
  .description('what Postgres records: provider, name, remote id, state, expiry, next check, last error')
  .addOption(configOption())
  .option('--json', 'one JSON document on stdout')
  .action(async (o: { config: string; json?: boolean }) => {
    await withApp(o.config, { readOnly: true }, async (app) => {
      const doc = app.migrated ? await statusDocument(app.store, app.clock.now()) : { subscriptions: [], leases: [], targets: [], deliveries: [], gaps: undefined };
      if (o.json) return printJson(doc);
      out(
        `${table(
          ['PROVIDER', 'NAME', 'STATE', 'REMOTE ID', 'EXPIRES AT', 'NEXT CHECK', 'LAST ERROR'],
          doc.subscriptions.map((s) => [s.provider, s.name, s.state, s.remoteId, s.expiresAt, s.nextCheckAt, s.lastError ? `${s.lastErrorCode}: ${s.lastError}` : '']),
        )}\n`,
      );
      if (doc.leases.some((l) => l.held)) {
        out(`\n${table(['PROVIDER', 'HELD BY', 'UNTIL'], doc.leases.filter((l) => l.held).map((l) => [l.provider, l.holder, l.expiresAt]))}\n`);
      }
      if (doc.targets.length) {
        out(
          `\n${table(
            ['PROVIDER', 'CALLBACK', 'HEALTH', 'FAILURES', 'UNHEALTHY SINCE', 'DISABLE AT', 'DELETE AT', 'LAST FAILURE'],
            doc.targets.map((t) => [t.provider, t.name, t.health, t.consecutiveFailures, t.unhealthySince, t.disableAt, t.deleteAt, t.lastFailureReason ? `${t.lastFailureClass}: ${t.lastFailureReason}` : '']),
          )}\n`,
        );
      }
      if (doc.deliveries.length) {
        out(
          `\n${table(
            ['PROVIDER', 'SUBSCRIPTION', 'EVENT', 'LAST DELIVERY', 'RESULT', 'LAST FAILURE'],
            doc.deliveries.map((d) => [d.provider, d.name, d.event, d.kind === 'none' ? 'no recent delivery' : d.deliveredAt, d.kind === 'none' ? '' : `${d.success ? 'ok' : 'failed'} ${d.responseCode}`, d.lastFailureAt ? `${d.lastFailureAt} ${d.lastFailureCode} ${d.lastFailureText ?? ''}` : '']),
          )}\n`,
        );
      }
      if (doc.gaps?.windows.length) {
        out(
          `\ncoverage gaps since ${doc.gaps.since} (hookwarden gaps -c FILE for each one and its backfill hook):\n${table(
            ['PROVIDER', 'NAME', 'FROM', 'TO', 'CAUSES', 'CONFIDENCE'],
            doc.gaps.windows.map((w) => [w.provider, w.name, w.from, w.to ?? 'open', w.causes.join(','), w.confidence]),
          )}\n`,
        );
      }
    });
    process.exit(EXIT.ok);
  });

program
  .command('show-secret')
  .description("print a secret the provider generated for a subscription (Dixa's secretKey, to verify signatures); never logged or stored")
  .addOption(configOption())
  .requiredOption('--provider <account>', 'the provider account')
  .requiredOption('--name <subscription>', 'the subscription name')
  .action(async (o: { config: string; provider: string; name: string }) => {
    const code = await withApp(o.config, { readOnly: true }, async (app) => {
      const provider = app.providers.get(o.provider);
      if (!provider) return fail(`no provider account named ${o.provider}`);
      if (!provider.secret) return fail(`${provider.kind} subscriptions have no provider-generated secret`);
      const row = app.migrated ? (await app.store.listSubscriptions(o.provider)).find((r) => r.name === o.name) : undefined;
      if (!row?.remoteId) return fail(`${o.provider}/${o.name} is not bound to a subscription at the provider yet (run apply first)`);
      const secret = await provider.secret(row.remoteId);
      if (!secret) return fail(`the provider returned no secret for ${o.provider}/${o.name}`);
      // The one output that is a secret on purpose (asked for by name): written as it is.
      process.stdout.write(`${secret}\n`);
      return EXIT.ok;
    });
    process.exit(code);
  });

program
  .command('gaps')
  .description('coverage gaps: windows in which events may not have reached a callback, newest first, with their backfill hooks')
  .addOption(configOption())
  .option('--since <duration>', 'closed gaps that ended within this long (open ones are always listed)', '7d')
  .option('--open', 'only the gaps open now')
  .option('--json', 'one JSON document on stdout')
  .option('--replay <id>', "send a closed gap's backfill hook again now; exit 1 if it fails, 2 for an unknown id")
  .action(async (o: { config: string; since: string; open?: boolean; json?: boolean; replay?: string }) => process.exit(await runGaps(o)));

function fail(message: string): number {
  err(`hookwarden: ${message}\n`);
  return EXIT.failed;
}

program
  .command('demo')
  .description('the sandboxes, an embedded Postgres and the daemon with a demo config; Ctrl-C stops it')
  .option('--listen <host:port>', 'status page and metrics', '127.0.0.1:9464')
  .option('--data-dir <dir>', 'where the embedded Postgres keeps its data', './.hookwarden/demo')
  .option('--lifetime <seconds>', 'subscription lifetime granted by the sandbox', '30')
  .action(async (o: { listen: string; dataDir: string; lifetime: string }) => runDemo(o));

program
  .command('sandbox')
  .description('run the provider sandboxes on their own, to try a config without touching Avaya')
  .option('--listen <host:port>', 'where the Infinity sandbox listens', '127.0.0.1:8787')
  .option('--axp-listen <host:port>', 'where the AXP sandbox listens', '127.0.0.1:8788')
  .option('--lifetime <seconds>', 'subscription lifetime', '900')
  .option('--token-lifetime <seconds>', 'access token lifetime', '900')
  .option('--deliver-every <seconds>', 'how often the AXP sandbox delivers an event to each subscription', '60')
  .option('--dixa-listen <host:port>', 'also run the Dixa sandbox here')
  .action(async (o: { listen: string; axpListen: string; lifetime: string; tokenLifetime: string; deliverEvery: string; dixaListen?: string }) => runSandbox(o));

program
  .command('alert-rules')
  .description('print Prometheus alerting rules for the metrics hookwarden exports')
  .option('-c, --config <file>', "use this config's defaults.reconcileEvery and defaults.gapAlertAfter (default: the example config's)")
  .action((o: { config?: string }) => {
    const c = o.config ? loadOrExit(o.config) : undefined;
    const opts = c ? { reconcileEverySeconds: c.defaults.reconcileEverySeconds, gapAlertAfterSeconds: c.gapAlertAfterSeconds } : {};
    out(`# Prometheus alerting rules for hookwarden (check them with: promtool check rules FILE)\n${stringify(alertRules(opts))}`);
  });

program
  .command('schema')
  .description('print the JSON Schema of the config file (for editors)')
  .action(() => printJson(configJsonSchema()));

function report(reports: PassReport[], json: boolean): number {
  const actions = reports.flatMap((r) => r.actions);
  const orphans = reports.flatMap((r) => r.orphans).map((o) => ({ ...o, matchKey: shownKey(o.matchKey) }));
  const errors = reports.filter((r) => r.error).map((r) => ({ provider: r.provider, error: r.error }));
  if (json) printJson({ actions: actions.map(actionJson), orphans, errors });
  else {
    out(`${table(['PROVIDER', 'NAME', 'ACTION', 'REASON', 'OUTCOME', 'MESSAGE'], actions.map((a) => [a.provider, a.name, a.action, a.reason, a.outcome, a.error ? `${a.message} — ${a.error}` : a.message]))}\n`);
    for (const o of orphans) out(`orphan: ${o.provider} ${o.remoteId} (${o.matchKey})${o.deleted ? ' — deleting' : ' — reported only'}\n`);
    for (const e of errors) err(`${e.provider}: ${e.error}\n`);
  }
  if (errors.length || actions.some((a) => a.outcome === 'failed')) return EXIT.failed;
  if (actions.some((a) => a.reason === 'mass-delete-refused')) return EXIT.refused;
  return EXIT.ok;
}

function actionJson(a: ActionReport) {
  return {
    provider: a.provider,
    name: a.name,
    action: a.action,
    reason: a.reason,
    message: a.message,
    outcome: a.outcome,
    ...(a.remoteId ? { remoteId: a.remoteId } : {}),
    ...(a.newRemoteId ? { newRemoteId: a.newRemoteId } : {}),
    ...(a.changes ? { changes: a.changes } : {}),
    ...(a.error ? { error: a.error, errorCode: a.errorCode } : {}),
  };
}

program.parseAsync(process.argv).catch((e: unknown) => {
  err(`hookwarden: ${errorMessage(e)}\n`);
  process.exit(EXIT.failed);
});
