import { pino, type Logger, type LoggerOptions } from 'pino';

/** Paths that never reach a log line; tests/log-redaction.test.ts asserts it. */
export const REDACT_PATHS = ['password', 'secret', 'token', '*.password', '*.secret', '*.token', 'req.headers.authorization', 'headers.authorization'];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'arena-hub' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
