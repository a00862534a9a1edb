import { describe, expect, it } from 'vitest';
import { sendResultOfMailError } from '../../../src/delivery/email/smtp-failure.ts';

const smtpError = (responseCode: number, response: string, code = 'EENVELOPE') =>
  Object.assign(new Error(`Can't send mail - ${response}`), { responseCode, response, code });

describe('what an SMTP failure means for the delivery', () => {
  it.each([
    [550, '550 5.1.1 <a@b.c>: Recipient address rejected: User unknown', 'fail'],
    [552, '552 5.3.4 Message size exceeds fixed limit', 'fail'],
    [554, '554 5.7.1 Spam message rejected', 'fail'],
    [503, '503 5.5.1 Error: need MAIL command', 'retry'],
    [421, '421 4.3.2 Service shutting down', 'retry'],
    [450, '450 4.2.1 Mailbox busy', 'retry'],
    [451, '451 4.7.1 Greylisted', 'retry'],
  ])('%i → %s', (code, reply, kind) => {
    const result = sendResultOfMailError(smtpError(code, reply));
    expect(result.kind).toBe(kind);
    expect(result.statusCode).toBe(code);
    expect(result.kind === 'ok' ? '' : result.error).toBe(`SMTP ${reply}`);
  });

  it('retries an authentication failure (the sender is misconfigured, not the message)', () => {
    expect(sendResultOfMailError(smtpError(535, '535 5.7.8 Authentication failed', 'EAUTH')).kind).toBe(
      'retry',
    );
  });

  it('honours a greylisting hint', () => {
    const result = sendResultOfMailError(
      smtpError(451, '451 4.7.1 Greylisted, please try again in 300 seconds'),
    );
    expect(result).toMatchObject({ kind: 'retry', retryAfterMs: 300_000 });
    expect(sendResultOfMailError(smtpError(451, '451 try again in 5 minutes'))).toMatchObject({
      retryAfterMs: 300_000,
    });
  });

  it.each([
    ['ECONNECTION', 'connect ECONNREFUSED 127.0.0.1:25'],
    ['ETIMEDOUT', 'Connection timeout'],
    ['ESOCKET', 'read ECONNRESET'],
    ['ETLS', 'certificate has expired'],
    ['EABORT', 'Message sending aborted'],
  ])('retries %s', (code, message) => {
    expect(sendResultOfMailError(Object.assign(new Error(message), { code }))).toEqual({
      kind: 'retry',
      error: `${code}: ${message}`,
    });
  });

  it('fails what nodemailer refuses to build', () => {
    expect(
      sendResultOfMailError(Object.assign(new Error('No recipients defined'), { code: 'EENVELOPE' })).kind,
    ).toBe('fail');
  });

  it('retries anything unknown', () => {
    expect(sendResultOfMailError('boom')).toEqual({ kind: 'retry', error: 'boom' });
  });
});
