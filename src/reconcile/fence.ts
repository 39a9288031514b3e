import type { Provider } from '../providers/types.js';
import { withinSendWindow } from '../lib/send-window.js';
import type { AccountLease } from '../store/lease.js';

/**
 * The provider, with every mutating call preceded by proof that this replica still holds
 * the account (the lease is checked and extended in Postgres right before the call).
 * The request itself leaves only while the lease, as last proven, cannot have expired: a
 * process paused between the proof and the request refuses to send it when it resumes.
 * Reads go straight through: they change nothing at the provider.
 */
export function fenced(p: Provider, lease: AccountLease): Provider {
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      await lease.assert();
      return withinSendWindow(lease, () => fn(...args));
    };
  return {
    kind: p.kind,
    account: p.account,
    capabilities: p.capabilities,
    list: (signal) => p.list(signal),
    get: (id, signal) => p.get(id, signal),
    create: guard((d, signal) => p.create(d, signal)),
    update: guard((id, d, signal) => p.update(id, d, signal)),
    renew: guard((id, d, signal) => p.renew(id, d, signal)),
    delete: guard((id, signal) => p.delete(id, signal)),
    ...(p.deliveryStatus ? { deliveryStatus: p.deliveryStatus.bind(p) } : {}),
    ...(p.deliveryLogs ? { deliveryLogs: p.deliveryLogs.bind(p) } : {}),
    ...(p.secret ? { secret: p.secret.bind(p) } : {}),
  };
}
