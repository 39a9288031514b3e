import type { DesiredSubscription, HealthPolicy, TargetSpec } from '../domain/types.js';

export interface WatchEntry {
  name: string;
  url: string;
  method: 'POST' | 'PUT';
  format: TargetSpec['format'];
  everySeconds: number;
  timeoutSeconds: number;
  event: TargetSpec['event'];
  headers: Record<string, string>;
  policy: HealthPolicy;
}

/**
 * The callback targets to watch: one per (provider account, callback URL) of the declared
 * subscriptions — however many subscriptions share the URL, the provider judges it as one —
 * plus the watch-only entries. A subscription whose probe is disabled adds no target.
 */
export function targetSpecs(
  desired: DesiredSubscription[],
  watch: WatchEntry[],
  probe: { everySeconds: number; timeoutSeconds: number },
  policies: Record<string, HealthPolicy>,
): TargetSpec[] {
  const byKey = new Map<string, TargetSpec>();
  for (const d of [...desired].sort((a, b) => a.name.localeCompare(b.name))) {
    const cb = d.callback;
    if (!cb || !cb.probe.enabled) continue;
    const k = `${d.provider}\u0000${cb.url}`;
    const t = byKey.get(k);
    if (t) {
      t.subscriptions.push(d.name);
      continue;
    }
    byKey.set(k, {
      provider: d.provider,
      name: d.name,
      url: cb.url,
      method: cb.method,
      format: cb.format,
      headers: cb.headers,
      event: cb.probe.event,
      everySeconds: probe.everySeconds,
      timeoutSeconds: probe.timeoutSeconds,
      policy: policies[d.provider]!,
      subscriptions: [d.name],
    });
  }
  const watched: TargetSpec[] = watch.map((w) => ({ provider: 'watch', ...w, subscriptions: [] }));
  return [...byKey.values(), ...watched];
}
