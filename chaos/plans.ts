import type { Kind } from './config.js';

/** What one run does: its size, how long, and how much it breaks. */
export type DbEvent = 'restart' | 'cut' | 'partition';

export interface Plan {
  form: 'short' | 'long';
  replicas: number;
  subscriptions: number;
  accounts: Record<Kind, number>;
  chaosSeconds: number;
  kills: number;
  /** Postgres restarts, cuts of every connection, and one replica cut off past its lease. */
  dbEvents: DbEvent[];
  /** SIGSTOPs past the lease. */
  freezes: number;
  settleSeconds: number;
  /** Whatever happens, everything is stopped after this long. */
  hardLimitSeconds: number;
  /**
   * Scaled like production: a 60 s lease against a 900 s lifetime renewed a third before
   * expiry leaves a standby most of the renewal window after the holder dies.
   */
  leaseTtl: number;
  lifetimes: { infinity: number; axpNotification: number };
}

export const PLANS: Record<'short' | 'long', Plan> = {
  short: {
    form: 'short',
    replicas: 2,
    subscriptions: 60,
    accounts: { 'avaya-infinity': 2, 'axp-notification': 1, 'axp-digital': 1, dixa: 1 },
    chaosSeconds: 90,
    kills: 8,
    dbEvents: ['restart'],
    freezes: 1,
    settleSeconds: 40,
    hardLimitSeconds: 178,
    leaseTtl: 5,
    lifetimes: { infinity: 60, axpNotification: 45 },
  },
  long: {
    form: 'long',
    replicas: 3,
    subscriptions: 320,
    accounts: { 'avaya-infinity': 3, 'axp-notification': 2, 'axp-digital': 2, dixa: 3 },
    chaosSeconds: 660,
    kills: 55,
    dbEvents: ['restart', 'cut', 'partition', 'restart'],
    freezes: 2,
    settleSeconds: 120,
    hardLimitSeconds: 1200,
    leaseTtl: 5,
    lifetimes: { infinity: 60, axpNotification: 45 },
  },
};

/** The daemon's HTTP timeout per provider call (injected delays outlast it). */
export const HTTP_TIMEOUT_SECONDS = 3;
/** AXP's callback policy, scaled from 8 hours and 7 days to seconds. */
export const AXP_POLICY = { unhealthyAfter: 3, disableAfterSeconds: 30, deleteAfterSeconds: 60 };

export function log(msg: string): void {
  process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}
