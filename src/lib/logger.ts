import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import { scrubbedDestination } from './scrub.js';

export type Logger = PinoLogger;

/** Secrets are redacted by path, wherever they appear in a log object. */
export const REDACT_PATHS = [
  'clientSecret', '*.clientSecret', 'client_secret', '*.client_secret',
  'authToken', '*.authToken', '*.*.authToken',
  'access_token', '*.access_token', 'token', '*.token',
  'password', '*.password', 'apiToken', '*.apiToken', 'secretKey', '*.secretKey',
  'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
];

/**
 * Secrets are redacted by path, and every serialized line then passes through the
 * scrubber (lib/scrub.ts), which also catches a secret inside free text such as a
 * provider's error body.
 */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.HOOKWARDEN_LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    scrubbedDestination(opts.destination ?? pino.destination({ dest: 2, sync: true })),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
