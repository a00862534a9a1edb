import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import nodemailer from 'nodemailer';
import type { Mailbox } from './header-safety.ts';

/**
 * Where emails go: SMTP through a nodemailer connection pool when SMTP_URL is set, else
 * `.eml` files in `TOCSIN_DATA_DIR/mail` (the embedded default: `npm start` needs no mail
 * server, and a developer opens the files in a mail client).
 *
 * Both build the message with the same nodemailer composer and the same DKIM signer, so a
 * file is byte for byte what SMTP would have carried, bar the Date header.
 */

/** One email, ready to send. Header values are already single-line (see header-safety.ts). */
export type OutgoingEmail = {
  /** The delivery job id: the Message-ID's left part and the `.eml` file name. */
  jobId: string;
  from: Mailbox;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** `<jobId@host>`, the same on every retry. */
  messageId: string;
  /** Extra headers (List-Unsubscribe, List-Unsubscribe-Post, List-Id), ASCII, sent exactly as given. */
  headers: Record<string, string>;
};

/** A send that the server accepted: its reply (`250 …`) or where the file went. */
export type SentEmail = { response: string; statusCode?: number };

export type MailTransport = {
  readonly kind: 'smtp' | 'file';
  /** Resolves when accepted; rejects with nodemailer's error (responseCode, response, code) otherwise. */
  send(email: OutgoingEmail, signal: AbortSignal): Promise<SentEmail>;
  /** Closes pooled connections (messages in flight finish first). */
  close(): Promise<void>;
};

export type DkimSettings = { domainName: string; keySelector: string; privateKey: string };

/**
 * Headers the DKIM signature covers. RFC 8058 one-click unsubscribe counts only when both
 * List-Unsubscribe headers are signed; nodemailer's default list has them too, but the rule
 * is ours, so it is spelled out here rather than left to a library default.
 */
export const dkimSignedHeaders = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
].join(':');

export type MailTransportOptions = {
  /** `smtp://user:pass@host:port` (STARTTLS when the server offers it) or `smtps://…` (TLS from the start). */
  smtpUrl: string | undefined;
  /** Where `.eml` files go without SMTP. */
  mailDir: string;
  poolSize: number;
  ratePerSecond: number;
  dkim?: DkimSettings | undefined;
};

export function createMailTransport(options: MailTransportOptions): MailTransport {
  const dkim = options.dkim && { ...options.dkim, headerFieldNames: dkimSignedHeaders };
  return options.smtpUrl === undefined
    ? createFileTransport(options.mailDir, dkim)
    : createSmtpTransport(options.smtpUrl, options, dkim);
}

function createSmtpTransport(
  url: string,
  options: MailTransportOptions,
  dkim: (DkimSettings & { headerFieldNames: string }) | undefined,
): MailTransport {
  const transporter = nodemailer.createTransport({
    url,
    pool: true,
    maxConnections: options.poolSize,
    // The rate is over the whole pool: nodemailer counts messages per rateDelta across connections.
    rateLimit: options.ratePerSecond,
    rateDelta: 1_000,
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
    ...(dkim && { dkim }),
  });
  return {
    kind: 'smtp',
    async send(email, signal) {
      const info = await transporter.sendMail({ ...messageOf(email), signal });
      const response = String(info.response ?? '');
      const code = /^(\d{3})\b/.exec(response);
      return { response, ...(code && { statusCode: Number(code[1]) }) };
    },
    async close() {
      transporter.close();
    },
  };
}

function createFileTransport(
  mailDir: string,
  dkim: (DkimSettings & { headerFieldNames: string }) | undefined,
): MailTransport {
  const transporter = nodemailer.createTransport({
    streamTransport: true,
    buffer: true,
    newline: 'windows',
    ...(dkim && { dkim }),
  });
  return {
    kind: 'file',
    async send(email, signal) {
      const info = await transporter.sendMail({ ...messageOf(email), signal });
      await mkdir(mailDir, { recursive: true });
      // Named by the job: a retry or a replay rewrites the same file instead of adding one.
      const path = join(mailDir, `${email.jobId.replace(/[^A-Za-z0-9_-]/g, '_')}.eml`);
      // Written aside and renamed, so a reader never sees half a message.
      const partial = `${path}.${randomBytes(4).toString('hex')}.part`;
      await writeFile(partial, info.message as Buffer);
      await rename(partial, path);
      return { response: `written to ${path}` };
    },
    async close() {
      transporter.close();
    },
  };
}

function messageOf(email: OutgoingEmail) {
  return {
    from: { name: email.from.name, address: email.from.address },
    to: email.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: email.messageId,
    // `prepared`: nodemailer writes the value as given (no re-encoding or folding), so the
    // headers arrive exactly as RFC 8058 spells them. Values are single-line ASCII by then.
    headers: Object.fromEntries(
      Object.entries(email.headers).map(([name, value]) => [name, { prepared: true, value }]),
    ),
    textEncoding: 'quoted-printable' as const,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
}
