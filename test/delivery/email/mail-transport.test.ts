import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMailTransport,
  type MailTransport,
  type OutgoingEmail,
} from '../../../src/delivery/email/mail-transport.ts';
import { sendResultOfMailError } from '../../../src/delivery/email/smtp-failure.ts';
import { type SmtpReceiver, startSmtpReceiver } from './smtp-receiver.ts';

/** The SMTP transport against a real server: TLS when offered, connection failures, aborts. */

const email: OutgoingEmail = {
  jobId: 'dlv_transport_test',
  from: { name: 'Tocsin', address: 'alerts@tocsin.example.test' },
  to: 'desk@example.com',
  subject: 'Transport test',
  html: '<p>hello</p>',
  text: 'hello',
  messageId: '<dlv_transport_test@tocsin.example.test>',
  headers: { 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
};

let receiver: SmtpReceiver | undefined;
let transport: MailTransport | undefined;

afterEach(async () => {
  await transport?.close();
  await receiver?.close();
  transport = undefined;
  receiver = undefined;
});

const smtp = (url: string) =>
  createMailTransport({ smtpUrl: url, mailDir: '/nonexistent', poolSize: 1, ratePerSecond: 50 });
const never = () => new AbortController().signal;

describe('the SMTP transport', () => {
  it('upgrades to TLS when the server offers STARTTLS', async () => {
    receiver = await startSmtpReceiver({ startTls: true });
    // smtp-server's certificate is self-signed: this URL says to accept it.
    transport = smtp(`${receiver.url}/?tls.rejectUnauthorized=false`);
    const sent = await transport.send(email, never());
    expect(sent.statusCode).toBe(250);
    const [mail] = await receiver.waitForAccepted(1);
    expect(mail!.secure).toBe(true);
  });

  it('does not fall back to plain text when the offered certificate does not verify: the delivery retries', async () => {
    receiver = await startSmtpReceiver({ startTls: true });
    transport = smtp(receiver.url);
    const error = await transport.send(email, never()).catch((caught: unknown) => caught);
    expect(sendResultOfMailError(error)).toMatchObject({ kind: 'retry' });
    expect(receiver.deliveries).toHaveLength(0);
  });

  it('retries when nothing listens', async () => {
    const port = await freePort();
    transport = smtp(`smtp://127.0.0.1:${port}`);
    const error = await transport.send(email, never()).catch((caught: unknown) => caught);
    expect(sendResultOfMailError(error)).toMatchObject({ kind: 'retry' });
  });

  it('stops when the outbox aborts the send (the lease runs out)', async () => {
    receiver = await startSmtpReceiver();
    transport = smtp(receiver.url);
    const controller = new AbortController();
    controller.abort(new Error('the lease is running out'));
    const error = await transport.send(email, controller.signal).catch((caught: unknown) => caught);
    expect((error as { code?: string }).code).toBe('EABORT');
    expect(sendResultOfMailError(error).kind).toBe('retry');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
