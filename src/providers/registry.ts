import type { ProviderKind } from './types.js';
import { avayaInfinity } from './avaya-infinity/index.js';
import { axpDigital } from './axp-digital/index.js';
import { axpNotification } from './axp-notification/index.js';
import { dixa } from './dixa/index.js';

/** Provider kinds by name. Adding a provider is a folder and one line here. */
export const providerKinds: Record<string, ProviderKind> = {
  [avayaInfinity.kind]: avayaInfinity,
  [axpDigital.kind]: axpDigital,
  [axpNotification.kind]: axpNotification,
  [dixa.kind]: dixa,
};
