import type { Fault } from '../src/sandbox/faults.js';

/**
 * The faults every sandbox injects during the chaos phase, in random mode: about a fifth of
 * all calls get one. Faults are tried in order and each fires on its own share of the calls
 * it matches, so the shares add up. Some hit writes after the provider committed them (the
 * answer is lost, not the change); timeouts are delays longer than the daemon's HTTP timeout.
 */
export function faultPlan(timeoutSeconds: number): Fault[] {
  const slow = (timeoutSeconds + 1.5) * 1000;
  const writes = ['POST', 'PUT', 'PATCH', 'DELETE'];
  return [
    // Writes whose answer is lost after the provider committed them.
    ...writes.flatMap((method): Fault[] => [
      { method, status: 500, afterCommit: true, probability: 0.03 },
      { method, status: 503, retryAfterSeconds: 1, afterCommit: true, probability: 0.015 },
      { method, reset: true, afterCommit: true, probability: 0.015 },
      { method, delayAfterMs: slow, probability: 0.01 },
    ]),
    { method: 'POST', malformed: true, afterCommit: true, probability: 0.005 },
    // Rate limits, with a sensible Retry-After, and with absurd ones.
    { status: 429, retryAfterSeconds: 1, probability: 0.03 },
    { status: 429, retryAfterSeconds: 3, probability: 0.015 },
    { status: 429, retryAfterSeconds: 86_400, probability: 0.004 },
    { status: 429, headers: { 'retry-after': 'Fri, 31 Dec 2100 23:59:59 GMT' }, probability: 0.003 },
    { status: 429, headers: { 'retry-after': '-5' }, probability: 0.003 },
    { status: 429, headers: { 'retry-after': 'soon' }, probability: 0.003 },
    // Server errors, gateways answering HTML, careless error bodies that echo the request.
    // (No random 4xx: the daemon rightly treats a 400 as final until the config changes.)
    { status: 500, probability: 0.025 },
    { status: 503, retryAfterSeconds: 2, probability: 0.02 },
    { status: 504, probability: 0.01 },
    { status: 502, html: true, probability: 0.015 },
    { status: 500, echoRequest: true, probability: 0.01 },
    // Broken answers and broken connections.
    { malformed: true, probability: 0.01 },
    { reset: true, probability: 0.015 },
    { delayMs: slow, probability: 0.01 },
  ];
}
