import { z } from 'zod';
import { headerValue, healthPolicy, httpTimeout, httpsUrl, nonEmpty } from '../../config/common.js';
import type { Clock } from '../../lib/clock.js';
import type { Dispatcher } from 'undici';
import type { RequestObserver } from '../../lib/http.js';
import { TokenSource } from '../avaya-common/oauth.js';

/** Account settings shared by the AXP kinds: https://{HOST-REGION}.api.avayacloud.com, a 6-letter account, an app key. */
export const axpAccountFields = {
  baseUrl: httpsUrl('baseUrl'),
  accountId: z.string().regex(/^[a-zA-Z]{6}$/, { message: 'accountId is the 6-letter AXP account id (e.g. ZWJJIQ)' }),
  // Sent as a header on every call.
  appKey: nonEmpty('appKey', 1024).pipe(headerValue('appKey')),
  clientId: nonEmpty('clientId', 256),
  clientSecret: nonEmpty('clientSecret', 1024),
  /** Overrides, for proxies. Default <baseUrl>/api/auth/v1/<accountId>/protocol/openid-connect/token. */
  tokenUrl: httpsUrl('tokenUrl').optional(),
  apiUrl: httpsUrl('apiUrl').optional(),
  timeout: httpTimeout().default(10),
  deleteOrphans: z.boolean().default(false),
  /** AXP's callback policy: unhealthy after repeated errors, disabled after 8 h, deleted a week later. */
  policy: healthPolicy,
};

export interface AxpAccount {
  baseUrl: string;
  accountId: string;
  appKey: string;
  clientId: string;
  clientSecret: string;
  tokenUrl?: string | undefined;
  apiUrl?: string | undefined;
  timeout: number;
}

export const axpTokenPath = (accountId: string) => `/api/auth/v1/${accountId}/protocol/openid-connect/token`;

/** The AXP token endpoint: client credentials, with the appkey header AXP wants on every call. */
export function axpTokens(acc: AxpAccount, deps: { dispatcher: Dispatcher; clock: Clock }, label: string, observe?: RequestObserver): TokenSource {
  const base = acc.baseUrl.replace(/\/+$/, '');
  return new TokenSource({
    dispatcher: deps.dispatcher,
    clock: deps.clock,
    tokenUrl: acc.tokenUrl ?? base + axpTokenPath(acc.accountId),
    form: { grant_type: 'client_credentials', client_id: acc.clientId, client_secret: acc.clientSecret },
    headers: { appkey: acc.appKey },
    timeoutMs: acc.timeout * 1000,
    operation: label,
    observe,
  });
}
