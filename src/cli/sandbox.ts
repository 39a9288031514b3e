import { startSandboxes } from '../sandbox/stack.js';
import { cliLogger } from './common.js';
import { stopOnSignal } from './run.js';

export async function runSandbox(o: { listen: string; axpListen: string; dixaListen?: string; lifetime: string; tokenLifetime: string; deliverEvery: string }): Promise<void> {
  const logger = cliLogger();
  const [host, port] = splitListen(o.listen);
  const [axpHost, axpPort] = splitListen(o.axpListen);
  const dixaListen = o.dixaListen ? splitListen(o.dixaListen) : undefined;
  const lifetime = Number(o.lifetime);
  const tokenLifetime = Number(o.tokenLifetime);
  const deliverEveryMs = Number(o.deliverEvery) * 1000;
  const stack = await startSandboxes({
    infinity: { host, port, subscriptionLifetimeSeconds: lifetime, tokenLifetimeSeconds: tokenLifetime },
    axp: { host: axpHost, port: axpPort, subscriptionLifetimeSeconds: lifetime, tokenLifetimeSeconds: tokenLifetime, deliverEveryMs },
    ...(dixaListen ? { dixa: { host: dixaListen[0], port: dixaListen[1], deliverEveryMs } } : {}),
  });
  const url = stack.infinity.url;
  const axpUrl = stack.axp.url;
  logger.info({ url, lifetimeSeconds: lifetime }, 'Avaya Infinity sandbox listening');
  logger.info({ url: axpUrl }, 'AXP sandbox listening');
  if (stack.dixa) logger.info({ url: stack.dixa.url }, 'Dixa sandbox listening');
  const admin = (u: string) => `  admin:  GET ${u}/_sandbox/state, GET ${u}/_sandbox/audit, GET|POST|DELETE ${u}/_sandbox/faults`;
  process.stdout.write(
    [
      `Avaya Infinity sandbox: ${url}`,
      '  any client_id with a non-empty client_secret gets a token; each client_id is a tenant of its own',
      `  token:  POST ${url}/auth/realms/avaya/protocol/openid-connect/token`,
      `  API:    ${url}/api/events/v1/subscriptions`,
      admin(url),
      `  fault:  POST ${url}/_sandbox/faults {"method":"POST","path":":renew","status":503,"count":2}`,
      `          (also: body, headers, echoRequest, html, malformed, reset, afterCommit, probability, delayMs, delayAfterMs)`,
      '  in a config:  kind: avaya-infinity, baseUrl: ' + url,
      '',
      `AXP sandbox (Digital and Notification): ${axpUrl}`,
      '  any 6-letter accountId, any appkey, any client_id with a non-empty client_secret',
      `  delivers an event to every live subscription every ${o.deliverEvery} s and applies AXP's callback policy (8 h, then 7 days)`,
      admin(axpUrl),
      `  deliver now, move the clock:  POST ${axpUrl}/_sandbox/deliver, POST ${axpUrl}/_sandbox/clock {"advanceSeconds":28800}`,
      '  in a config:  kind: axp-digital (or axp-notification), baseUrl: ' + axpUrl,
      '',
      ...(stack.dixa
        ? [`Dixa sandbox: ${stack.dixa.url}`, '  any API token; each token is an organisation of its own; 10 requests/s, burst 4', admin(stack.dixa.url), '  in a config:  kind: dixa, baseUrl: ' + stack.dixa.url, '']
        : []),
    ].join('\n'),
  );
  await stopOnSignal(logger, () => stack.close());
}

export function splitListen(listen: string): [string, number] {
  const i = listen.lastIndexOf(':');
  if (i < 0) throw new Error(`--listen must be host:port, got ${listen}`);
  return [listen.slice(0, i).replace(/^\[|\]$/g, ''), Number(listen.slice(i + 1))];
}
