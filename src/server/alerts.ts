/**
 * Prometheus alerting rules for hookwarden's metrics (`hookwarden alert-rules` prints them),
 * so a human hears of a failing callback hours before the provider disables anything.
 */
export function alertRules() {
  const rule = (alert: string, expr: string, forDuration: string, severity: string, summary: string, description: string) => ({
    alert,
    expr,
    for: forDuration,
    labels: { severity },
    annotations: { summary, description },
  });
  return {
    groups: [
      {
        name: 'hookwarden',
        rules: [
          rule('HookwardenCallbackDown', 'hookwarden_callback_up == 0', '10m', 'warning', 'Callback {{ $labels.target }} ({{ $labels.provider }}) is failing', 'Its probes fail; the provider will count it unhealthy. Check the receiver.'),
          rule('HookwardenCallbackDisableSoon', '(hookwarden_callback_disable_timestamp_seconds - time()) < 4 * 3600', '1m', 'critical', '{{ $labels.provider }} disables the subscriptions on {{ $labels.target }} in {{ $value | humanizeDuration }}', 'The callback has been unhealthy for hours; fix it before the provider disables every subscription that uses it.'),
          rule('HookwardenCallbackPresumedDisabled', 'time() >= hookwarden_callback_disable_timestamp_seconds', '1m', 'critical', 'Subscriptions on {{ $labels.target }} are presumed disabled by {{ $labels.provider }}', 'No events arrive. hookwarden recreates them as soon as the callback answers 200 again.'),
          rule('HookwardenCallbackDeleteSoon', '(hookwarden_callback_delete_timestamp_seconds - time()) < 24 * 3600', '1m', 'critical', '{{ $labels.provider }} deletes the subscriptions on {{ $labels.target }} in {{ $value | humanizeDuration }}', 'Disabled subscriptions are deleted a week after being disabled.'),
          rule('HookwardenSubscriptionExpiring', '(hookwarden_subscription_expiry_timestamp_seconds - time()) < 120', '1m', 'critical', '{{ $labels.subscription }} ({{ $labels.provider }}) expires in {{ $value | humanizeDuration }} without renewal', 'Renewals are not landing: see hookwarden_provider_errors_total and `hookwarden status`.'),
          rule('HookwardenSubscriptionNotActive', 'hookwarden_subscription_active == 0', '10m', 'warning', '{{ $labels.subscription }} ({{ $labels.provider }}) is not ACTIVE', 'See `hookwarden status` for its state and last error.'),
          rule('HookwardenDeliveriesFailing', 'hookwarden_delivery_last_success == 0', '15m', 'warning', "The provider's last delivery to {{ $labels.subscription }} failed", "The provider's own delivery status reports a failure; see `hookwarden status`."),
          rule('HookwardenReconcileStalled', 'time() - hookwarden_reconcile_last_success_timestamp_seconds > 900', '5m', 'warning', 'No clean reconcile pass over {{ $labels.provider }} for 15 minutes', 'Provider errors or a failing action: see hookwarden_provider_errors_total and the logs.'),
          rule('HookwardenMassDeleteRefused', 'hookwarden_mass_delete_refused == 1', '0m', 'warning', 'hookwarden refuses to delete most subscriptions of {{ $labels.provider }}', 'The config lost more than half of what hookwarden owns (a truncated file?). Fix it, or confirm with --allow-mass-delete.'),
          rule('HookwardenRateLimited', 'increase(hookwarden_provider_rate_limited_total[15m]) > 0', '0m', 'warning', '{{ $labels.provider }} answers 429 Too Many Requests', 'Another client may share the API token.'),
          rule('HookwardenOrphans', 'hookwarden_orphan_subscriptions > 0', '1h', 'info', '{{ $value }} subscriptions of {{ $labels.provider }} match nothing declared', 'Reported only; set deleteOrphans: true to delete them.'),
        ],
      },
    ],
  };
}
