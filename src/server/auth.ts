import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isLoopbackListenHost } from '../config/common.js';

/**
 * Who may read /status, /status.json and /metrics. On a loopback address without a token,
 * anyone on the host (as for any local port). With a token, and always off loopback,
 * only requests carrying `Authorization: Bearer <token>`. /healthz and /readyz stay open:
 * orchestrators probe them without credentials, and they tell nothing but ok or not.
 */

/** Why the server must not start as configured, or undefined. */
export function listenProblem(host: string, token: string | undefined): string | undefined {
  if (token === undefined && !isLoopbackListenHost(host)) {
    return `${host} is not a loopback address and no server.token is configured: /status and /metrics would be open to the network`;
  }
  return undefined;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks a request's bearer token against `token` in constant time: both sides are hashed
 * first, so neither the comparison nor its length check depends on how much of the token
 * a caller guessed right.
 */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return false;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  const given = m?.[1] ?? '';
  const ok = timingSafeEqual(digest(given), digest(token));
  return ok && m !== null;
}

/** The WWW-Authenticate challenge of a 401 (RFC 6750). */
export function challenge(presented: boolean): string {
  return presented ? 'Bearer realm="hookwarden", error="invalid_token"' : 'Bearer realm="hookwarden"';
}
