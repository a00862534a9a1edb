import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../errors.ts';
import { type Principal, principalOf } from '../../http/auth.ts';
import { errorBody, errorBodySchema } from '../../http/error-handler.ts';
import { severities } from '../../rules/rule-schema.ts';
import { isWellFormedCursor } from './cursor-order.ts';
import { splitCommaList } from './stream-filter.ts';
import type { KeyStatus, StreamHub } from './stream-hub.ts';
import { streamCloseCodes } from './stream-messages.ts';
import type { StreamTokens } from './stream-tokens.ts';

const streamQuery = z.object({
  token: z.string().min(1).optional().describe('a token from POST /v1/stream/tokens, instead of the header'),
  since: z
    .string()
    .min(1)
    .refine(isWellFormedCursor, 'not a cursor of the alert log')
    .optional()
    .describe('resume after this cursor: the backlog first, then live alerts'),
  rules: z.string().optional().describe('comma-separated rule ids'),
  tags: z.string().optional().describe('comma-separated tags; an alert with any of them passes'),
  minSeverity: z.enum(severities).optional(),
});

const tokenOf = (request: FastifyRequest) => (request.query as { token?: string } | undefined)?.token;

/**
 * `GET /v1/stream` (the WebSocket, shared/spec/contracts.md) and `POST /v1/stream/tokens`.
 * Credentials, the query and the per-key connection limit are checked before the upgrade, so
 * a refusal is a plain HTTP answer (401, 400, 429); everything after is the hub's.
 */
export function streamRoutes(deps: {
  hub: StreamHub;
  tokens: StreamTokens;
  /** A token of a revoked key is refused (the key's REST calls already are). */
  keys: KeyStatus;
  heartbeatMs: number;
}): FastifyPluginAsyncZod {
  const { hub, tokens, keys } = deps;

  /** `?token=`: only consulted without an Authorization header (see http/auth.ts); a refusal says why. */
  const tokenCredential = async (request: FastifyRequest): Promise<Principal | undefined> => {
    const token = tokenOf(request);
    if (token === undefined) return undefined;
    const verified = tokens.inspect(token);
    if ('problem' in verified) throw new AppError('TOCSIN_UNAUTHORIZED', verified.problem);
    const { keyId } = verified.principal;
    if (keyId !== null && (await keys.revokedAmong([keyId])).length > 0) {
      throw new AppError('TOCSIN_UNAUTHORIZED', 'the API key this stream token was issued to is revoked');
    }
    return verified.principal;
  };

  return async (app) => {
    app.post(
      '/v1/stream/tokens',
      {
        config: { access: 'read' },
        schema: {
          summary: 'Issue a short-lived stream token',
          description:
            'For browsers, which cannot set headers on a WebSocket: open `/v1/stream?token=<token>`. ' +
            'A stream opened with it closes with code 4001 when it expires; get a new token and reconnect with `since`. ' +
            'Revoking the API key refuses its tokens and closes their streams with 4003.',
          tags: ['stream'],
          response: {
            200: z.object({
              token: z.string(),
              expiresAt: z.iso.datetime(),
              heartbeatMs: z.number().int().describe('interval of the server heartbeat messages'),
            }),
            401: errorBodySchema,
          },
        },
      },
      async (request) => {
        const { token, expiresAt } = tokens.issue(principalOf(request));
        return { token, expiresAt: new Date(expiresAt).toISOString(), heartbeatMs: deps.heartbeatMs };
      },
    );

    app.get(
      '/v1/stream',
      {
        websocket: true,
        config: { access: 'read', credential: tokenCredential },
        schema: { querystring: streamQuery },
        preHandler: async (request, reply) => {
          if (!hub.canConnect(principalOf(request))) {
            return reply
              .code(429)
              .send(
                errorBody(
                  'TOCSIN_TOO_MANY_CONNECTIONS',
                  'this API key holds the most streams allowed (TOCSIN_STREAM_MAX_CONNECTIONS_PER_KEY)',
                ),
              );
          }
        },
      },
      (socket, request) => {
        const query = request.query as z.infer<typeof streamQuery>;
        const principal = principalOf(request);
        // A token's expiry ends the stream; an API key's stream lasts (the header wins over a token).
        let expiresAt: number | undefined;
        if (request.headers.authorization === undefined) {
          expiresAt = tokens.verify(query.token)?.expiresAt;
          if (expiresAt === undefined) {
            socket.close(streamCloseCodes.tokenExpired, 'token expired');
            return;
          }
        }
        hub.attach(socket, {
          principal,
          filter: {
            rules: splitCommaList(query.rules),
            tags: splitCommaList(query.tags),
            minSeverity: query.minSeverity,
          },
          since: query.since,
          expiresAt,
        });
      },
    );
  };
}
