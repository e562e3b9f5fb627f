// One pino logger. Logs say what happened; they never carry codes, tokens, secrets or query strings.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'sesame', ...bindings },
    redact: {
      paths: ['code', 'otp', 'token', 'secret', 'password', '*.code', '*.otp', '*.token', '*.secret', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
