import { deadline } from '../lib/deadline.js';
import { randomUUID } from 'node:crypto';
import { Agent, request, type Dispatcher } from 'undici';
import type { Clock } from '../lib/clock.js';
import type { FailureClass, ProbeResult, TargetSpec } from '../domain/types.js';
import { PROBE_HEADER, probePayload } from './payloads.js';

/** Probes get a dispatcher of their own: no retries (one attempt is one measurement), no keep-alive reuse across targets. */
export function createProbeDispatcher(): Dispatcher {
  return new Agent({ connections: 4, keepAliveTimeout: 1000, connectTimeout: 5000 });
}

/**
 * One POST (or PUT) of a probe event to a callback. Healthy only on 200 within the timeout,
 * the providers' own rule; 429/502/503/504 are "unavailable", other statuses "http-error";
 * timeouts, refused or reset connections, DNS and TLS failures have classes of their own.
 */
export async function probeOnce(dispatcher: Dispatcher, spec: TargetSpec, clock: Clock, signal?: AbortSignal): Promise<ProbeResult> {
  const at = clock.now();
  const probeId = randomUUID();
  const body = JSON.stringify(probePayload(spec.format, spec.event, { probeId, at }));
  const timeout = deadline(spec.timeoutSeconds * 1000, signal);
  const started = performance.now();
  try {
    const res = await request(spec.url, {
      dispatcher,
      method: spec.method,
      headers: { 'content-type': 'application/json', 'user-agent': 'hookwarden-probe/0.1', [PROBE_HEADER]: probeId, ...spec.headers },
      body,
      signal: timeout.signal,
    });
    await res.body.dump({ limit: 64 * 1024 }).catch(() => {});
    const latencyMs = performance.now() - started;
    if (res.statusCode === 200) return { at, ok: true, status: 200, reason: 'HTTP 200', latencyMs };
    const unavailable = [429, 502, 503, 504].includes(res.statusCode);
    return { at, ok: false, status: res.statusCode, failureClass: unavailable ? 'unavailable' : 'http-error', reason: `HTTP ${res.statusCode}`, latencyMs };
  } catch (err) {
    const latencyMs = performance.now() - started;
    if (timeout.timedOut) return { at, ok: false, failureClass: 'timeout', reason: `no answer within ${spec.timeoutSeconds} s`, latencyMs };
    const { failureClass, reason } = classify(err);
    return { at, ok: false, failureClass, reason, latencyMs };
  } finally {
    timeout.dispose();
  }
}

function classify(err: unknown): { failureClass: FailureClass; reason: string } {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code ?? '';
  const message = e.cause?.message ?? e.message ?? String(err);
  if (code === 'ECONNREFUSED') return { failureClass: 'connection-refused', reason: 'connection refused' };
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE') return { failureClass: 'connection-reset', reason: `connection reset (${code})` };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { failureClass: 'dns', reason: `DNS lookup failed (${code})` };
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code) || /certificate|tls|ssl/i.test(message)) return { failureClass: 'tls', reason: `TLS: ${code || message}` };
  return { failureClass: 'network', reason: `${code || 'network error'}: ${message}` };
}
