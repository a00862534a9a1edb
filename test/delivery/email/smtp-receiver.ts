import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

/** A message that reached DATA: accepted or not, with what the server answered. */
export type SmtpDelivery = {
  raw: string;
  parsed: ParsedMail;
  envelope: { from: string; to: string[] };
  /** The Message-ID header as written (`<…>`). */
  messageId: string;
  accepted: boolean;
  /** Whether the session was upgraded to TLS (STARTTLS). */
  secure: boolean;
};

/** A reply that refuses: `{ code: 421, message: '…' }`. */
export type SmtpRefusal = { code: number; message: string };

/**
 * A real SMTP server (smtp-server) on 127.0.0.1:0 that parses what it receives with mailparser.
 * It offers no AUTH, and no STARTTLS unless `startTls` (then with smtp-server's self-signed
 * certificate), so by default nodemailer talks plain SMTP to it. `onData` decides
 * the reply to the n-th message with a given Message-ID (1-based); `onRcptTo` may refuse a
 * recipient before DATA.
 */
export async function startSmtpReceiver(options: { startTls?: boolean } = {}) {
  const deliveries: SmtpDelivery[] = [];
  const waiters = new Set<() => void>();
  const receiver = {
    url: '',
    /** Every message that reached DATA, refused ones included, in arrival order. */
    deliveries,
    /** Accepted messages only. */
    get accepted(): SmtpDelivery[] {
      return deliveries.filter((delivery) => delivery.accepted);
    },
    onData: (_messageId: string, _n: number): SmtpRefusal | undefined => undefined,
    onRcptTo: (_address: string): SmtpRefusal | undefined => undefined,

    /** Resolves once `count` messages were accepted; rejects after `timeoutMs`. */
    async waitForAccepted(count: number, timeoutMs = 10_000): Promise<SmtpDelivery[]> {
      const deadline = Date.now() + timeoutMs;
      while (receiver.accepted.length < count) {
        if (Date.now() > deadline) {
          throw new Error(
            `expected ${count} accepted messages, got ${receiver.accepted.length} in ${timeoutMs} ms`,
          );
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 50);
        });
      }
      return receiver.accepted;
    },

    async close(): Promise<void> {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const refusal = (reply: SmtpRefusal) =>
    Object.assign(new Error(reply.message), { responseCode: reply.code });

  const server = new SMTPServer({
    disabledCommands: options.startTls ? ['AUTH'] : ['STARTTLS', 'AUTH'],
    authOptional: true,
    logger: false,
    // A 421 closes the connection: nodemailer's pool opens another on the next try.
    closeTimeout: 1_000,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const reply = receiver.onRcptTo(address.address);
      callback(reply ? refusal(reply) : null);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then(
          (parsed) => {
            const messageId = /^message-id:\s*(.+)$/im.exec(raw)?.[1]?.trim() ?? '';
            const n = deliveries.filter((delivery) => delivery.messageId === messageId).length + 1;
            const reply = receiver.onData(messageId, n);
            deliveries.push({
              raw,
              parsed,
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
                to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              },
              messageId,
              accepted: reply === undefined,
              secure: session.secure,
            });
            for (const wake of [...waiters]) wake();
            callback(reply ? refusal(reply) : null);
          },
          (error: unknown) => callback(error as Error),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  receiver.url = `smtp://127.0.0.1:${port}`;
  return receiver;
}

export type SmtpReceiver = Awaited<ReturnType<typeof startSmtpReceiver>>;

/** The raw header lines of a message (unfolded), e.g. `List-Unsubscribe: <https://…>`. */
export function headerLines(raw: string): string[] {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  return head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/);
}

/** The value of the one header named `name` (case-insensitive); throws when there is not exactly one. */
export function headerValue(raw: string, name: string): string {
  const prefix = `${name.toLowerCase()}:`;
  const lines = headerLines(raw).filter((line) => line.toLowerCase().startsWith(prefix));
  if (lines.length !== 1) throw new Error(`expected one ${name} header, found ${lines.length}`);
  return lines[0]!.slice(prefix.length).trim();
}
