import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError, type ErrorCode, isAppError } from '../errors.ts';

/**
 * One error shape for every HTTP answer that is not a success:
 * `{"error": {"code": "TOCSIN_…", "message": "…", "details"?: {…}}}`.
 * Clients branch on `code`; `message` is for people; `details` carries structure (the field
 * of a bad request, the problems of an invalid rule with their line and column).
 */

export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.string().describe('TOCSIN_… error code'),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .meta({ id: 'Error' });

export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The HTTP status of each application error code: adding a code to errors.ts forces a choice here. */
const statusOfCode: Record<ErrorCode, number> = {
  TOCSIN_INVALID_CONFIG: 500,
  TOCSIN_INVALID_EVENT: 400,
  TOCSIN_INVALID_RULE: 400,
  TOCSIN_RULE_CONFLICT: 409,
  TOCSIN_MESSAGE_TOO_LARGE: 413,
  TOCSIN_NOT_FOUND: 404,
  TOCSIN_UNAUTHORIZED: 401,
  TOCSIN_FORBIDDEN: 403,
  TOCSIN_RATE_LIMITED: 429,
  TOCSIN_STORE_UNAVAILABLE: 503,
  TOCSIN_KAFKA_UNAVAILABLE: 503,
  TOCSIN_DELIVERY_FAILED: 502,
  TOCSIN_INVALID_REQUEST: 400,
  TOCSIN_CONFLICT: 409,
  TOCSIN_TOO_MANY_CONNECTIONS: 429,
  TOCSIN_SHUTTING_DOWN: 503,
  TOCSIN_INTERNAL: 500,
};

/** A 400 naming the field at fault, e.g. `invalidRequest('body.endpointId', 'no such webhook endpoint')`. */
export function invalidRequest(field: string, message: string): AppError {
  return new AppError('TOCSIN_INVALID_REQUEST', `${field}: ${message}`, { details: { field } });
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

type ValidationIssue = {
  instancePath: string;
  message?: string;
  keyword: string;
  params: Record<string, unknown>;
};

/** `body.threshold.count`, from Fastify's part (body, querystring, params) and the issue's path. */
function fieldOf(context: string | undefined, issue: ValidationIssue): string {
  const part = context === 'querystring' ? 'query' : (context ?? 'body');
  const path = issue.instancePath.split('/').filter(Boolean);
  // An unknown key is reported on its parent; name the key itself.
  const keys =
    issue.keyword === 'unrecognized_keys' ? (issue.params.keys as string[] | undefined) : undefined;
  if (keys?.[0] !== undefined) path.push(keys[0]);
  return [part, ...path].join('.');
}

/** What to answer for an error: status and body. Exported for tests and for the WebSocket refusal. */
export function describeError(error: unknown): { status: number; body: ErrorBody; isBug: boolean } {
  if (isAppError(error)) {
    return {
      status: statusOfCode[error.code],
      body: errorBody(error.code, error.message, error.details),
      isBug: false,
    };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const context = (error as { validationContext?: string }).validationContext;
    const issues = error.validation.map((issue) => ({
      field: fieldOf(context, issue),
      message: issue.message ?? issue.keyword,
    }));
    const message = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    return {
      status: 400,
      body: errorBody('TOCSIN_INVALID_REQUEST', message, { field: issues[0]!.field, issues }),
      isBug: false,
    };
  }
  if (typeof error === 'object' && error !== null && !isResponseSerializationError(error as Error)) {
    // Fastify's own client errors: bad JSON, empty JSON body, unsupported media type, too large.
    const { statusCode, message } = error as { statusCode?: unknown; message?: unknown };
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      const code = statusCode === 413 ? 'TOCSIN_MESSAGE_TOO_LARGE' : 'TOCSIN_INVALID_REQUEST';
      return { status: statusCode, body: errorBody(code, String(message)), isBug: false };
    }
  }
  return { status: 500, body: errorBody('TOCSIN_INTERNAL', 'internal error'), isBug: true };
}

/** The Fastify error handler: `app.setErrorHandler(errorHandler)` before the routes are registered. */
export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  const { status, body, isBug } = describeError(error);
  if (isBug) request.log.error({ err: error }, 'request failed');
  else if (status >= 500) request.log.warn({ err: error }, 'request failed');
  if (status === 401) reply.header('www-authenticate', 'Bearer');
  if (status === 503 && isAppError(error) && error.retryable) reply.header('retry-after', '5');
  return reply.code(status).send(body);
}

/** `app.setNotFoundHandler(notFoundHandler)`: unknown routes answer in the same shape. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  const path = request.url.split('?')[0];
  return reply.code(404).send(errorBody('TOCSIN_NOT_FOUND', `no route ${request.method} ${path}`));
}

/**
 * Fastify's `frameworkErrors`: errors of the router, before any route or hook runs — a URL
 * whose percent-encoding does not decode (`FST_ERR_BAD_URL`), a path parameter past the
 * router's length limit (`FST_ERR_MAX_PARAM_LENGTH`). Answered in the one error shape; the
 * message never repeats the URL (it may hold a credential, see logger.ts).
 */
export function frameworkErrorHandler(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  if (error.code === 'FST_ERR_BAD_URL') {
    return reply
      .code(400)
      .send(
        errorBody('TOCSIN_INVALID_REQUEST', 'the URL is not valid: a %-escape does not decode (RFC 3986)'),
      );
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return reply.code(414).send(errorBody('TOCSIN_INVALID_REQUEST', 'a path segment of the URL is too long'));
  }
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
  const code = status >= 500 ? 'TOCSIN_INTERNAL' : 'TOCSIN_INVALID_REQUEST';
  return reply.code(status).send(errorBody(code, STATUS_CODES[status] ?? 'error'));
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses before there is a request —
 * headers (or a request line, e.g. `/u/<60 KB token>`) over the header size limit (431), a
 * request that is not HTTP (400), one that took too long (408). Written straight to the socket,
 * in the one error shape, and the connection is closed: its state is unknown.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'the request line and headers are larger than the server accepts (16 KB)']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'the request took too long to arrive']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify(errorBody('TOCSIN_INVALID_REQUEST', message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
