import { AxpSandbox } from '../sandbox/axp.js';
import { InfinitySandbox } from '../sandbox/infinity.js';
import { cliLogger } from './common.js';
import { stopOnSignal } from './run.js';

export async function runSandbox(o: { listen: string; axpListen: string; lifetime: string; tokenLifetime: string; deliverEvery: string }): Promise<void> {
  const logger = cliLogger();
  const [host, port] = splitListen(o.listen);
  const infinity = new InfinitySandbox({ subscriptionLifetimeSeconds: Number(o.lifetime), tokenLifetimeSeconds: Number(o.tokenLifetime) });
  const url = await infinity.listen(port, host);
  logger.info({ url, lifetimeSeconds: Number(o.lifetime) }, 'Avaya Infinity sandbox listening');
  const [axpHost, axpPort] = splitListen(o.axpListen);
  const axp = new AxpSandbox({ subscriptionLifetimeSeconds: Number(o.lifetime), tokenLifetimeSeconds: Number(o.tokenLifetime), deliverEveryMs: Number(o.deliverEvery) * 1000 });
  const axpUrl = await axp.listen(axpPort, axpHost);
  logger.info({ url: axpUrl }, 'AXP sandbox listening');
  process.stdout.write(
    [
      `Avaya Infinity sandbox: ${url}`,
      '  any client_id with a non-empty client_secret gets a token; each client_id is a tenant of its own',
      `  token:  POST ${url}/auth/realms/avaya/protocol/openid-connect/token`,
      `  API:    ${url}/api/events/v1/subscriptions`,
      `  admin:  GET ${url}/_sandbox/state, POST ${url}/_sandbox/faults {"method":"POST","path":":renew","status":503,"count":2}`,
      '  in a config:  kind: avaya-infinity, baseUrl: ' + url,
      '',
      `AXP sandbox (Digital and Notification): ${axpUrl}`,
      '  any 6-letter accountId, any appkey, any client_id with a non-empty client_secret',
      `  delivers an event to every live subscription every ${o.deliverEvery} s and applies AXP's callback policy (8 h, then 7 days)`,
      `  admin:  GET ${axpUrl}/_sandbox/state, POST ${axpUrl}/_sandbox/deliver, POST ${axpUrl}/_sandbox/clock {"advanceSeconds":28800}`,
      '  in a config:  kind: axp-digital (or axp-notification), baseUrl: ' + axpUrl,
      '',
    ].join('\n'),
  );
  await stopOnSignal(logger, async () => {
    await infinity.close();
    await axp.close();
  });
}

export function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  if (i < 0) throw new Error(`--listen must be host:port, got ${listen}`);
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
