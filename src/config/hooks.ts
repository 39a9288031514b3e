import type { GapHookTarget } from '../hooks/gap-hook.js';
import type { Config } from './load.js';

export type { GapHookTarget };

/** What the gap hooks need of a config. */
export type GapHookConfig = Pick<Config, 'hooks' | 'gapHooks'>;

/** The key of a declared subscription in `Config.gapHooks`. */
export const gapHookKey = (provider: string, name: string): string => `${provider}/${name}`;

/**
 * The backfill hook of a gap: a declared subscription's own `hooks.gapClosed` when it sets
 * one (none when it sets `false`), else the top-level `hooks.gapClosed`. A watch-only target
 * (subject `target`) always uses the top-level one. Undefined: no hook for it.
 */
export function gapHookOf(config: GapHookConfig, provider: string, name: string, subject: string = 'subscription'): GapHookTarget | undefined {
  const top = config.hooks.gapClosed;
  if (subject === 'target') return top;
  const key = gapHookKey(provider, name);
  if (Object.prototype.hasOwnProperty.call(config.gapHooks, key)) return config.gapHooks[key] ?? undefined;
  return top;
}

/** Whether the gaps of this subscription (or watch target) are sent once closed. */
export function hasGapHook(config: GapHookConfig, provider: string, name: string, subject?: string): boolean {
  return gapHookOf(config, provider, name, subject) !== undefined;
}

/** A hook as configured, without the keys left out (so that comparing two configs compares what is set). */
export function gapHookTarget(h: { url: string; authToken?: string | undefined; authTokenHeader?: string | undefined; signingSecret?: string | undefined }): GapHookTarget {
  return {
    url: h.url,
    ...(h.authToken !== undefined ? { authToken: h.authToken } : {}),
    ...(h.authTokenHeader !== undefined ? { authTokenHeader: h.authTokenHeader } : {}),
    ...(h.signingSecret !== undefined ? { signingSecret: h.signingSecret } : {}),
  };
}
