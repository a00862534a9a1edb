import { pino } from 'pino';

/**
 * One pino logger for the process. Credentials never reach a log line: API keys travel in
 * the Authorization header and stream tokens in `?token=`, both redacted here.
 */
export function createLogger(level: string) {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.apiKey',
        '*.secret',
        '*.token',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string }) {
        return {
          method: request.method,
          url: request.url.replace(/([?&]token=)[^&]*/g, '$1[redacted]'),
          ip: request.ip,
        };
      },
    },
  });
}

export type Logger = ReturnType<typeof createLogger>;
