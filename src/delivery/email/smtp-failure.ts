import type { SendResult } from '../outbox/channel.ts';

/**
 * What a failed send means for the delivery (RFC 5321 §4.2.1, and nodemailer's error codes):
 *
 * - A 5yz reply is permanent: the same message would be refused again. The delivery fails at
 *   once, keeping the server's reply (`550 5.1.1 <x@y>: mailbox unavailable`) as its error.
 *   Two exceptions: 503 (bad sequence of commands) says the session was in the wrong state,
 *   not that the message was refused; and an authentication failure (EAUTH, 535) is the
 *   sender's configuration, not this message's fault. Both retry, so fixing the credentials
 *   sends the backlog.
 * - A 4yz reply (421 service not available, 450 mailbox busy, 451 greylisted) is transient:
 *   retry on the outbox schedule, or later when the reply says how long to wait.
 * - No reply at all (connection refused, reset, timed out, TLS failed) is transient too.
 * - A message nodemailer itself refuses to build or address (ECONFIG, EENVELOPE without a
 *   reply, EMAXLIMIT) fails: sending it again changes nothing.
 */

type MailError = { code?: string; responseCode?: number; response?: string; message?: string };

const permanentLocalCodes = new Set(['ECONFIG', 'EENVELOPE', 'EMAXLIMIT', 'EMAXRECIPIENTS']);

export function sendResultOfMailError(error: unknown): SendResult {
  const failure = (typeof error === 'object' && error !== null ? error : {}) as MailError;
  const message = failure.message ?? String(error);
  const reply = failure.response?.trim();
  const code = failure.responseCode;

  if (typeof code === 'number') {
    const detail = reply && reply.length > 0 ? reply : `${code} ${message}`;
    const base = { statusCode: code, responseSnippet: detail };
    if (code >= 500 && code < 600 && code !== 503 && failure.code !== 'EAUTH') {
      return { kind: 'fail', error: `SMTP ${detail}`, ...base };
    }
    const retryAfterMs = retryHintMs(detail);
    return { kind: 'retry', error: `SMTP ${detail}`, ...base, ...(retryAfterMs && { retryAfterMs }) };
  }
  if (failure.code && permanentLocalCodes.has(failure.code)) {
    return { kind: 'fail', error: `${failure.code}: ${message}` };
  }
  return { kind: 'retry', error: failure.code ? `${failure.code}: ${message}` : message };
}

/** "451 4.7.1 Greylisted, try again in 300 seconds" → 300 000 ms; servers phrase it this way or not at all. */
function retryHintMs(reply: string): number | undefined {
  const match =
    /\b(?:try|retry)(?: again)? (?:in|after) (\d{1,6}) ?(s|sec|secs|seconds?|m|min|mins|minutes?)\b/i.exec(
      reply,
    );
  if (!match) return undefined;
  const unit = match[2]!.toLowerCase().startsWith('m') ? 60_000 : 1_000;
  return Number(match[1]) * unit;
}
