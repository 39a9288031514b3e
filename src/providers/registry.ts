import type { ProviderKind } from './types.js';
import { avayaInfinity } from './avaya-infinity/index.js';

/** Provider kinds by name. Adding a provider is a folder and one line here. */
export const providerKinds: Record<string, ProviderKind> = {
  [avayaInfinity.kind]: avayaInfinity,
};
