/**
 * Prometheus alerting rules for hookwarden's metrics (`hookwarden alert-rules` prints them;
 * deploy/prometheus/alerts.yaml is that output for the example config), so a human hears of
 * a failing callback hours before the provider disables anything.
 *
 * Gauges read from Postgres are reported alike by every replica, and counters per process:
 * rules aggregate them by provider (and subscription or target), so several replicas raise
 * one alert, not one each.
 */

export interface AlertRuleOptions {
  /** The config's defaults.reconcileEvery: "no clean pass" and "renewal overdue" are counted in intervals. */
  reconcileEverySeconds?: number;
  /** The Prometheus scrape job of hookwarden (its `up` series). */
  job?: string;
  /** The config's defaults.gapAlertAfter: a coverage gap open longer than this raises HookwardenCoverageGapOpen. */
  gapAlertAfterSeconds?: number;
}

/** The example config's defaults, which deploy/prometheus/alerts.yaml is built with. */
export const ALERT_RULE_DEFAULTS: Required<AlertRuleOptions> = { reconcileEverySeconds: 60, job: 'hookwarden', gapAlertAfterSeconds: 1800 };

export interface AlertRule {
  alert: string;
  expr: string;
  for: string;
  labels: { severity: 'critical' | 'warning' | 'info' };
  annotations: { summary: string; description: string };
}

/** A Prometheus duration: 3m rather than 180s. */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s > 0 && s % 3600 === 0) return `${s / 3600}h`;
  if (s > 0 && s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export function alertRules(opts: AlertRuleOptions = {}): { groups: { name: string; rules: AlertRule[] }[] } {
  const { reconcileEverySeconds: every, job, gapAlertAfterSeconds: gapAfter } = { ...ALERT_RULE_DEFAULTS, ...opts };
  const threeIntervals = 3 * every;
  const rule = (alert: string, expr: string, forDuration: string, severity: AlertRule['labels']['severity'], summary: string, description: string): AlertRule => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity },
    annotations: { summary, description },
  });
  const sub = '{{ $labels.subscription }} ({{ $labels.provider }})';
  const target = 'callback {{ $labels.target }} ({{ $labels.provider }})';
  return {
    groups: [
      {
        name: 'hookwarden',
        rules: [
          // The process.
          rule(
            'HookwardenDown',
            `up{job="${job}"} == 0`,
            '5m',
            'critical',
            'hookwarden {{ $labels.instance }} is down',
            'Prometheus cannot scrape it. While every replica is down nothing renews subscriptions or watches callbacks. Check the process or container (its logs, /healthz) and start it again.',
          ),
          rule(
            'HookwardenAbsent',
            `absent(up{job="${job}"})`,
            '10m',
            'critical',
            `Prometheus scrapes no hookwarden (job "${job}")`,
            `No target of the scrape job "${job}" exists, so no other hookwarden alert can fire. Check the scrape configuration (job name, address, port 9464, path /metrics) or the service discovery that finds hookwarden.`,
          ),
          rule(
            'HookwardenStoreDown',
            'hookwarden_store_up == 0',
            '2m',
            'critical',
            'hookwarden {{ $labels.instance }} cannot reach Postgres',
            'No reconcile pass starts while the database is unreachable, so nothing is renewed or recreated. Check that Postgres is up and reachable with database.url (network, credentials, connection limits); hookwarden reconnects by itself.',
          ),
          rule(
            'HookwardenConfigReloadFailed',
            'hookwarden_config_last_reload_success == 0',
            '0m',
            'warning',
            'hookwarden {{ $labels.instance }} refused its last configuration reload',
            'It keeps running with the previous configuration. Run `hookwarden validate -c FILE` to see the error (with file:line:col), fix the file and reload again.',
          ),
          // The reconcile loop.
          rule(
            'HookwardenReconcileStalled',
            `time() - max by (provider) (hookwarden_reconcile_last_success_timestamp_seconds) > ${threeIntervals}`,
            '0m',
            'warning',
            'No clean reconcile pass over {{ $labels.provider }} for {{ $value | humanizeDuration }}',
            `Three reconcile intervals (${duration(threeIntervals)}) went by without a pass free of failed actions. See hookwarden_provider_errors_total by code, \`hookwarden status\` and the logs (one line per failed action, with its reason).`,
          ),
          rule(
            'HookwardenReconcileNeverSucceeded',
            'max by (provider) (hookwarden_reconcile_last_pass_timestamp_seconds) unless on (provider) max by (provider) (hookwarden_reconcile_last_success_timestamp_seconds)',
            duration(threeIntervals),
            'warning',
            'No reconcile pass over {{ $labels.provider }} has succeeded since hookwarden started',
            'Passes complete, but each one fails (the listing or an action). See hookwarden_provider_errors_total by code, `hookwarden status` and the logs; `hookwarden plan -c FILE` shows the listing error at once.',
          ),
          // Subscriptions.
          rule(
            'HookwardenRenewalOverdue',
            `time() - max by (provider, subscription) (hookwarden_subscription_next_check_timestamp_seconds) > ${threeIntervals} and on (provider, subscription) max by (provider, subscription) (hookwarden_subscription_expiry_timestamp_seconds) > time()`,
            '0m',
            'warning',
            `${sub} is in its renewal window and has not been renewed`,
            'Its renewal was due {{ $value | humanizeDuration }} ago and no replica has acted on it: no replica holds the account (hookwarden_lease_held), or passes over it do not complete (hookwarden_reconcile_last_pass_timestamp_seconds). Check the replicas and their logs before the subscription expires.',
          ),
          rule(
            'HookwardenSubscriptionExpiring',
            `(min by (provider, subscription) (hookwarden_subscription_expiry_timestamp_seconds) - time()) < ${5 * every} > 0`,
            '1m',
            'critical',
            `${sub} expires in {{ $value | humanizeDuration }} without renewal`,
            'Renewals are not landing. See hookwarden_renewals_total{result="failure"}, hookwarden_provider_errors_total by code and `hookwarden status` for its last error; fix the cause (credentials, provider outage) and hookwarden renews it on its next try.',
          ),
          rule(
            'HookwardenSubscriptionExpired',
            'time() - min by (provider, subscription) (hookwarden_subscription_expiry_timestamp_seconds) >= 0',
            '1m',
            'critical',
            `${sub} expired {{ $value | humanizeDuration }} ago`,
            'The provider delivers no events for it. hookwarden renews it (a renew reactivates an INACTIVE subscription) or creates it again; if that keeps failing, see `hookwarden status` for its last error and hookwarden_provider_errors_total by code.',
          ),
          rule(
            'HookwardenSubscriptionNotActive',
            'max by (provider, subscription) (hookwarden_subscription_active) == 0',
            '10m',
            'warning',
            `${sub} is not ACTIVE`,
            'It is pending, inactive, failing, rejected or presumed disabled. `hookwarden status` shows its state and last error; a rejected one waits for a config change (`hookwarden validate`, then fix the subscription).',
          ),
          rule(
            'HookwardenRenewalsFailing',
            'sum by (provider) (increase(hookwarden_renewals_total{result="failure"}[15m])) > 0',
            '0m',
            'warning',
            'Renewals fail on {{ $labels.provider }}',
            'Renewals failed in the last 15 minutes; hookwarden retries with backoff, always before expiry. See hookwarden_provider_errors_total by code and `hookwarden status` for each subscription\'s last error.',
          ),
          rule(
            'HookwardenRecreationsFailing',
            'sum by (provider) (increase(hookwarden_recreations_total{result="failure"}[15m])) > 0',
            '0m',
            'critical',
            'Recreating subscriptions fails on {{ $labels.provider }}',
            'Recreations failed in the last 15 minutes: a subscription the provider lost or disabled is not back, and its events are not delivered. See hookwarden_provider_errors_total by code and `hookwarden status`; a rejected spec needs a config change.',
          ),
          rule(
            'HookwardenDeliveriesFailing',
            'max by (provider, subscription) (hookwarden_delivery_last_success) == 0',
            '15m',
            'warning',
            `The provider's last delivery to ${sub} failed`,
            "The provider's own delivery status reports a failure. Check the receiver at the subscription's callback URL; `hookwarden status` shows the response code and text the provider got.",
          ),
          // Coverage gaps.
          rule(
            'HookwardenCoverageGapOpen',
            `time() - min by (provider, subscription, cause) (hookwarden_coverage_gap_start_timestamp_seconds) > ${Math.round(gapAfter)}`,
            '0m',
            'warning',
            `Events of ${sub} may be missing for {{ $value | humanizeDuration }} ({{ $labels.cause }})`,
            `A coverage gap has been open for more than ${duration(gapAfter)}: events since its start may not have reached the callback. \`hookwarden gaps -c FILE --open\` shows it and its cause; fix what the cause names (the callback, the credentials, the provider). Once it closes, the backfill hook (hooks.gapClosed) tells the consumer which window to fetch again.`,
          ),
          rule(
            'HookwardenGapHookFailing',
            'sum(increase(hookwarden_gap_hook_deliveries_total{result="failure"}[30m])) > 0 and sum(increase(hookwarden_gap_hook_deliveries_total{result="success"}[30m])) == 0',
            '0m',
            'warning',
            'Backfill hooks of closed coverage gaps are not delivered',
            'Every backfill hook tried in the last 30 minutes failed; hookwarden keeps retrying (up to every 10 minutes) and nothing else waits for them. `hookwarden gaps -c FILE` shows each gap\'s hook state and last error; check the receiver at hooks.gapClosed.url (it must answer 2xx, and verify the signature with the same signingSecret).',
          ),
          // Callbacks.
          rule(
            'HookwardenCallbackUnhealthy',
            'time() - min by (provider, target) (hookwarden_callback_unhealthy_since_timestamp_seconds) >= 0',
            '0m',
            'warning',
            `The provider counts ${target} unhealthy for {{ $value | humanizeDuration }}`,
            'Its probes (or the provider\'s delivery reports) fail. The provider disables every subscription on it at hookwarden_callback_disable_timestamp_seconds. Fix the receiver at the callback URL (`hookwarden status` shows it and the last failure); once it answers 200, hookwarden recreates whatever was disabled.',
          ),
          rule(
            'HookwardenCallbackDisableSoon',
            '(min by (provider, target) (hookwarden_callback_disable_timestamp_seconds) - time()) < 2 * 3600 > 0',
            '0m',
            'critical',
            '{{ $labels.provider }} disables the subscriptions on {{ $labels.target }} in {{ $value | humanizeDuration }}',
            'The callback has been unhealthy for hours. Fix the receiver now (`hookwarden status` shows the URL and the last failure): one 200 resets the provider\'s count, and nothing is disabled.',
          ),
          rule(
            'HookwardenCallbackPresumedDisabled',
            'time() - min by (provider, target) (hookwarden_callback_disable_timestamp_seconds) >= 0',
            '1m',
            'critical',
            'Subscriptions on {{ $labels.target }} are presumed disabled by {{ $labels.provider }}',
            'No events arrive on this callback. Fix the receiver: as soon as it answers 200 again, hookwarden deletes the disabled subscriptions and creates them again (the provider\'s documented procedure).',
          ),
          rule(
            'HookwardenCallbackDeleteSoon',
            '(min by (provider, target) (hookwarden_callback_delete_timestamp_seconds) - time()) < 24 * 3600 > 0',
            '0m',
            'critical',
            '{{ $labels.provider }} deletes the subscriptions on {{ $labels.target }} in {{ $value | humanizeDuration }}',
            'They were disabled; the provider deletes disabled subscriptions a week later. Fix the receiver: hookwarden creates them again once it answers 200, but what the provider held for them is lost with the deletion.',
          ),
          // Providers.
          rule(
            'HookwardenRateLimited',
            'sum by (provider) (increase(hookwarden_provider_rate_limited_total[15m])) > 0',
            '0m',
            'warning',
            '{{ $labels.provider }} answers 429 Too Many Requests',
            'hookwarden waits as Retry-After asks, which delays renewals. Another client may share the API token or credentials; give hookwarden its own, or lower the load on the account.',
          ),
          rule(
            'HookwardenProviderAuthFailing',
            'sum by (provider) (increase(hookwarden_provider_errors_total{code=~"PROVIDER_AUTH_FAILED|PROVIDER_UNAUTHORIZED|PROVIDER_FORBIDDEN"}[15m])) > 0',
            '0m',
            'critical',
            '{{ $labels.provider }} refuses hookwarden\'s credentials',
            'The token request or API calls are refused (400/401/403), so no renewal can land. Check the account\'s clientId and clientSecret (apiToken for Dixa), appKey and scope, and whether they were rotated or revoked; `hookwarden plan -c FILE` shows the error at once.',
          ),
          rule(
            'HookwardenMassDeleteRefused',
            'max by (provider) (hookwarden_mass_delete_refused) == 1',
            '0m',
            'warning',
            'hookwarden refuses to delete most subscriptions of {{ $labels.provider }}',
            'The config lost more than half of what hookwarden owns (a truncated file?). Fix the config, or confirm the deletion with --allow-mass-delete.',
          ),
          rule(
            'HookwardenOrphans',
            'max by (provider) (hookwarden_orphan_subscriptions) > 0',
            '1h',
            'info',
            '{{ $value }} subscriptions of {{ $labels.provider }} match nothing declared',
            'They are reported only (`hookwarden status` lists them). Declare them, delete them at the provider, or set deleteOrphans: true on the account to let hookwarden delete them.',
          ),
        ],
      },
    ],
  };
}
