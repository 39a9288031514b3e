import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { TargetSpec } from '../../src/domain/types.js';
import { systemClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Store, TargetKey } from '../../src/store/types.js';
import { Prober, type ProberDeps } from '../../src/watchdog/prober.js';

const spec = (provider: string): TargetSpec =>
  ({ provider, name: `${provider}-s1`, url: `http://127.0.0.1:9/${provider}`, method: 'POST', format: 'json', headers: {}, event: {}, everySeconds: 60, timeoutSeconds: 5, policy: {}, subscriptions: [`${provider}-s1`] }) as unknown as TargetSpec;

/** A store that records each sync of the targets; a sync takes 30 ms, and fails when told to. */
function store() {
  const syncs: string[][] = [];
  let failNext = false;
  const s = {
    async syncTargets(targets: TargetKey[]) {
      syncs.push(targets.map((t) => t.provider));
      await sleep(30);
      if (failNext) {
        failNext = false;
        throw new Error('database away');
      }
      return [];
    },
    async listTargets() {
      return [];
    },
  } as unknown as Store;
  return { s, syncs, failNext: () => (failNext = true) };
}

describe('prober, syncing the targets to Postgres', () => {
  it('every pass of a first start asks for the targets at once: one sync serves them all', async () => {
    const st = store();
    const prober = new Prober({ store: st.s, clock: systemClock, logger: silentLogger } as unknown as ProberDeps, [spec('a'), spec('b')]);
    await Promise.all(Array.from({ length: 50 }, (_, i) => prober.targets(`acct-${i}`)));
    expect(st.syncs).toEqual([['a', 'b']]);
    await prober.targets();
    expect(st.syncs).toHaveLength(1);
  });

  it('a config reloaded during a sync is synced after it, before its callers go on; a failed sync is tried again by the next caller', async () => {
    const st = store();
    const prober = new Prober({ store: st.s, clock: systemClock, logger: silentLogger } as unknown as ProberDeps, [spec('a')]);
    const first = prober.targets();
    await sleep(5);
    prober.reconfigure([spec('a'), spec('c')]);
    const second = prober.targets();
    await Promise.all([first, second]);
    expect(st.syncs).toEqual([['a'], ['a', 'c']]);

    prober.reconfigure([spec('d')]);
    st.failNext();
    await expect(prober.targets()).rejects.toThrow('database away');
    await prober.targets();
    expect(st.syncs.slice(2)).toEqual([['d'], ['d']]);
  });
});
