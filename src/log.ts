// One pino logger. Logs say what happened; they never carry codes, tokens, secrets or query strings.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'sesame', ...bindings },
    redact: {
      paths: ['code', 'otp', 'token', 'secret', 'password', '*.code', '*.otp', '*.token', '*.secret', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  });
}
