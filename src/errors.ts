/**
 * One table of coded errors. Callers branch on `code` and `retryable`, never on message text.
 */
export const errorCodes = {
  TOCSIN_INVALID_CONFIG: 'configuration is invalid',
  TOCSIN_INVALID_EVENT: 'an event failed validation',
  TOCSIN_INVALID_RULE: 'a rule failed validation',
  TOCSIN_RULE_CONFLICT: 'two rules share an id',
  TOCSIN_MESSAGE_TOO_LARGE: 'a message is larger than TOCSIN_MAX_BODY',
  TOCSIN_NOT_FOUND: 'the resource does not exist',
  TOCSIN_UNAUTHORIZED: 'missing or invalid credentials',
  TOCSIN_FORBIDDEN: "the key's role does not allow the request",
  TOCSIN_RATE_LIMITED: 'an API key sent more requests than its rate limit allows',
  TOCSIN_STORE_UNAVAILABLE: 'the store cannot be reached',
  TOCSIN_KAFKA_UNAVAILABLE: 'the Kafka cluster cannot be reached',
  TOCSIN_DELIVERY_FAILED: 'a delivery attempt failed',
  TOCSIN_INVALID_REQUEST: 'an HTTP request is malformed (the message names the field)',
  TOCSIN_CONFLICT: 'the request conflicts with the state of a resource',
  TOCSIN_TOO_MANY_CONNECTIONS: 'an API key holds the most streams allowed',
  TOCSIN_SHUTTING_DOWN: 'the instance is draining after SIGTERM and takes no new requests',
  TOCSIN_INTERNAL: 'a bug: the message is never shown to clients',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export type AppErrorOptions = {
  cause?: unknown;
  retryable?: boolean;
  /** Extra structured detail (field, line, column, …) for clients and logs. */
  details?: Record<string, unknown>;
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
