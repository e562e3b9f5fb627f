// One pino logger. Logs say what happened; they never carry codes, tokens, secrets, query strings
// or request bodies (a body parser's error keeps the raw body in `body`).
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'sesame', ...bindings },
    redact: {
      paths: [...['code', 'otp', 'token', 'secret', 'password', 'body', 'rawBody'].flatMap((key) => [key, `*.${key}`]), 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
