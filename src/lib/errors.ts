import { scrub } from './scrub.js';

/**
 * Typed errors, each with a stable `code` that callers branch on (as undici does).
 * `retry` tells the reconciler what to do next:
 *  - retryable: back off and try again;
 *  - terminal: the provider rejected what we asked (usually the config); recorded and not
 *    retried until the desired spec changes;
 *  - auth: credentials are wrong; retried slowly, since an operator must act.
 */
export type RetryClass = 'retryable' | 'terminal' | 'auth';

export type ProviderErrorCode =
  | 'PROVIDER_BAD_REQUEST'
  | 'PROVIDER_UNAUTHORIZED'
  | 'PROVIDER_FORBIDDEN'
  | 'PROVIDER_NOT_FOUND'
  | 'PROVIDER_CONFLICT'
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_SERVER_ERROR'
  | 'PROVIDER_TIMEOUT'
  | 'PROVIDER_NETWORK'
  | 'PROVIDER_BAD_RESPONSE'
  | 'PROVIDER_AUTH_FAILED';

export interface ProblemDetails {
  type?: string;
  title?: string | null;
  status?: number | null;
  detail?: string | null;
  violations?: { field?: string; message?: string; code?: number }[] | null;
}

export class ProviderError extends Error {
  override readonly name = 'ProviderError';
  constructor(
    readonly code: ProviderErrorCode,
    message: string,
    readonly retry: RetryClass,
    readonly details: { status?: number; problem?: ProblemDetails; retryAfterSeconds?: number; operation?: string } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function classifyStatus(status: number): { code: ProviderErrorCode; retry: RetryClass } {
  if (status === 400 || status === 422) return { code: 'PROVIDER_BAD_REQUEST', retry: 'terminal' };
  if (status === 401) return { code: 'PROVIDER_UNAUTHORIZED', retry: 'auth' };
  if (status === 403) return { code: 'PROVIDER_FORBIDDEN', retry: 'auth' };
  if (status === 404) return { code: 'PROVIDER_NOT_FOUND', retry: 'terminal' };
  if (status === 409) return { code: 'PROVIDER_CONFLICT', retry: 'retryable' };
  if (status === 429) return { code: 'PROVIDER_RATE_LIMITED', retry: 'retryable' };
  if (status >= 500) return { code: 'PROVIDER_SERVER_ERROR', retry: 'retryable' };
  return { code: 'PROVIDER_BAD_RESPONSE', retry: 'retryable' };
}

export interface ConfigIssue {
  file: string;
  line: number;
  col: number;
  message: string;
}

/** A rejected config: every issue names file:line:col. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col}: ${i.message}`;
}

/** An error's message as it may be written anywhere: secrets the provider echoed back are scrubbed. */
export function errorMessage(err: unknown): string {
  return scrub(err instanceof Error ? err.message : String(err));
}
