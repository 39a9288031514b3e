import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';
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

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The level to log at: the option, else HOOKWARDEN_LOG_LEVEL, else info; an unknown name is refused, naming where it came from. */
export function logLevel(option?: string, env: Record<string, string | undefined> = process.env): string {
  const [value, from] = option !== undefined ? [option, '--log-level'] : env.HOOKWARDEN_LOG_LEVEL ? [env.HOOKWARDEN_LOG_LEVEL, 'HOOKWARDEN_LOG_LEVEL'] : ['info', 'default'];
  const level = value.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`${from}: unknown log level "${value}" (one of ${LOG_LEVELS.join(', ')})`);
  return level;
}

/**
 * Secrets are redacted by path, and every serialized line then passes through the
 * scrubber (lib/scrub.ts), which also catches a secret inside free text such as a
 * provider's error body. Lines are JSON, one per line, on stderr; `pretty` renders them for
 * people instead (pino-pretty), after the scrubber.
 */
export function createLogger(opts: { level?: string; destination?: DestinationStream; pretty?: boolean } = {}): Logger {
  const destination =
    opts.destination ?? (opts.pretty ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level: opts.level ?? logLevel(),
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    scrubbedDestination(destination),
  );
}

export const silentLogger: Logger = pino({ level: 'silent' });
