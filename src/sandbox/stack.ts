import { AxpSandbox, type AxpSandboxOptions } from './axp.js';
import { DixaSandbox, type DixaSandboxOptions } from './dixa.js';
import { InfinitySandbox, type InfinitySandboxOptions } from './infinity.js';
import type { Sandbox } from './server.js';

/**
 * The provider sandboxes started together on loopback, as `hookwarden sandbox` and the chaos
 * harness run them. Dixa is started only when asked for.
 */
export interface SandboxStackOptions {
  host?: string;
  infinity?: InfinitySandboxOptions & { port?: number; host?: string };
  axp?: AxpSandboxOptions & { port?: number; host?: string };
  dixa?: DixaSandboxOptions & { port?: number; host?: string };
}

export interface SandboxStack {
  infinity: InfinitySandbox;
  axp: AxpSandbox;
  dixa: DixaSandbox | undefined;
  /** Every sandbox started, by provider. */
  all(): [string, Sandbox][];
  close(): Promise<void>;
}

export async function startSandboxes(o: SandboxStackOptions = {}): Promise<SandboxStack> {
  const host = o.host ?? '127.0.0.1';
  const infinity = new InfinitySandbox(o.infinity);
  const axp = new AxpSandbox(o.axp);
  const dixa = o.dixa ? new DixaSandbox(o.dixa) : undefined;
  const started: Sandbox[] = [];
  try {
    await infinity.listen(o.infinity?.port ?? 0, o.infinity?.host ?? host);
    started.push(infinity);
    await axp.listen(o.axp?.port ?? 0, o.axp?.host ?? host);
    started.push(axp);
    if (dixa) {
      await dixa.listen(o.dixa?.port ?? 0, o.dixa?.host ?? host);
      started.push(dixa);
    }
  } catch (err) {
    await Promise.all([infinity, axp, ...(dixa ? [dixa] : [])].map((s) => s.close()));
    throw err;
  }
  return {
    infinity,
    axp,
    dixa,
    all: () => [['avaya-infinity', infinity], ['axp', axp], ...(dixa ? [['dixa', dixa] as [string, Sandbox]] : [])],
    async close() {
      await Promise.all(started.map((s) => s.close()));
    },
  };
}
