import { z } from 'zod';
import { alertRecord } from '../../http/routes/alert-routes.ts';
import { silenceRecord } from '../../http/routes/silence-routes.ts';
import { severities } from '../../rules/rule-schema.ts';
import type { StoredAlert } from '../../store/store.ts';
import { encodeTextFrame } from './send-queue.ts';

/**
 * The messages of `/v1/stream`, both ways (shared/spec/contracts.md, WebSocket). The client
 * schema validates what clients send; the server schema documents what the server sends
 * (`schemas/stream-messages.schema.json` is generated from both).
 */

/** Replaces the connection's filter; an absent or empty field selects everything. */
export const subscribeMessageSchema = z
  .strictObject({
    type: z.literal('subscribe'),
    rules: z.array(z.string().min(1).max(200)).max(1000).optional().describe('rule ids (any of them)'),
    tags: z.array(z.string().min(1).max(200)).max(1000).optional().describe('the alert has at least one'),
    minSeverity: z.enum(severities).optional().describe('this severity or a higher one'),
  })
  .meta({ id: 'StreamSubscribe' });

export const streamClientMessageSchema = z
  .discriminatedUnion('type', [subscribeMessageSchema])
  .meta({ id: 'StreamClientMessage' });

export type StreamClientMessage = z.infer<typeof streamClientMessageSchema>;

/** Codes of `{"type": "error"}` messages; the connection stays open unless a close follows. */
export const streamErrorCodes = {
  cursor_expired: 'the `since` cursor is older than the retention: alerts were lost; live alerts follow',
  cursor_invalid:
    'the `since` cursor is ahead of the alert log (the store was reset or restored): live alerts follow; forget the old cursor',
  invalid_message: 'a client message was not JSON or not a valid message; it was ignored',
  rate_limited: 'the client sent more messages per second than allowed; the server closes with 1008',
} as const;

export type StreamErrorCode = keyof typeof streamErrorCodes;

export const streamServerMessageSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('alert'),
        cursor: z.string().describe('opaque position in the alert log: reconnect with ?since=<cursor>'),
        alert: alertRecord,
      })
      .meta({ id: 'StreamAlert' }),
    z
      .object({
        type: z.literal('state'),
        change: z
          .enum(['acknowledged', 'silenced', 'unsilenced'])
          .describe('an alert was acknowledged; a silence was created; a silence was expired'),
        ack: z
          .object({
            alertId: z.string(),
            ruleId: z.string(),
            group: z.string().nullable(),
            ackedBy: z.string(),
            ackedAt: z.string(),
          })
          .optional()
          .describe('with acknowledged'),
        silence: silenceRecord
          .optional()
          .describe('with silenced and unsilenced: the silence as GET /v1/silences/:id'),
      })
      .describe('an alert state change, sent to every stream of the tenant whatever its filter')
      .meta({ id: 'StreamState' }),
    z
      .object({ type: z.literal('heartbeat'), time: z.iso.datetime().describe('server time') })
      .meta({ id: 'StreamHeartbeat' }),
    z
      .object({
        type: z.literal('error'),
        code: z.enum(Object.keys(streamErrorCodes) as [StreamErrorCode, ...StreamErrorCode[]]),
        message: z.string(),
      })
      .meta({ id: 'StreamError' }),
  ])
  .meta({ id: 'StreamServerMessage' });

export type StreamServerMessage = z.infer<typeof streamServerMessageSchema>;

/** Both directions, for the published JSON Schema (`$defs` names each message). */
export const streamMessagesSchema = z
  .union([streamClientMessageSchema, streamServerMessageSchema])
  .describe(
    'A message of the /v1/stream WebSocket: StreamClientMessage from the client, StreamServerMessage from the server',
  );

/**
 * Close codes the server uses (RFC 6455 §7.4 and the private range 4000-4999). A client
 * resumes with `?since=<last cursor>` after any of them but 1008, 4001 without a new token,
 * and 4003 (the key is revoked).
 */
export const streamCloseCodes = {
  /** The server shuts down: reconnect (to another instance). */
  goingAway: 1001,
  /** Too many connections for the key, or too many messages per second. */
  policyViolation: 1008,
  /** A client message larger than the limit. */
  messageTooBig: 1009,
  /** The client fell behind: its unsent data passed the bound. Reconnect with `since`. */
  tryAgainLater: 1013,
  /** The token the connection was opened with expired: get a new one and reconnect. */
  tokenExpired: 4001,
  /** The API key of the connection (or of its token) was revoked: do not reconnect with it. */
  keyRevoked: 4003,
} as const;

/**
 * The wire form of an alert message, a WebSocket frame built once per alert and written to
 * every connection that takes it. The alert is the REST API's record (`GET /v1/alerts/:id`):
 * the tenant id stays inside.
 */
export function alertFrame(alert: StoredAlert): Buffer {
  const { tenantId: _tenantId, ...record } = alert;
  return encodeTextFrame(Buffer.from(JSON.stringify({ type: 'alert', cursor: alert.cursor, alert: record })));
}

export function messageFrame(message: StreamServerMessage): Buffer {
  return encodeTextFrame(Buffer.from(JSON.stringify(message)));
}
