import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEmailChannel } from '../../../src/delivery/email/email-channel.ts';
import { createMailTransport } from '../../../src/delivery/email/mail-transport.ts';
import { createUnsubscribeTokens } from '../../../src/delivery/email/unsubscribe-token.ts';
import { type EmailApp, onApp, publicUrl, secret, seedEvent, sleep, startEmailApp } from './email-harness.ts';
import { headerLines, headerValue, type SmtpReceiver, startSmtpReceiver } from './smtp-receiver.ts';

/**
 * Email through the real app: subscriber and subscription made with the HTTP API, the seed
 * event posted to /v1/events, the rule `rare-earth-export-controls` (rules/) fires, and the
 * outbox sends through nodemailer to a real SMTP server (smtp-server), read with mailparser.
 */

const ruleId = 'rare-earth-export-controls';

let receiver: SmtpReceiver;
let app: EmailApp | undefined;

beforeEach(async () => {
  receiver = await startSmtpReceiver();
});

afterEach(async () => {
  await app?.close();
  app = undefined;
  await receiver.close();
});

describe('an immediate alert email', () => {
  it('arrives once with both parts, the highlighted match, RFC 8058 headers and a working one-click unsubscribe', async () => {
    app = await startEmailApp({ SMTP_URL: receiver.url });
    const { subscriptionId } = await app.subscribe({ ruleIds: [ruleId] });
    await app.postEvent(seedEvent());

    const [mail] = await receiver.waitForAccepted(1);
    const [job] = await app.jobsOfRule(ruleId);
    await app.waitForJob(job.id, (current) => current.status === 'sent');
    await sleep(300);
    expect(receiver.deliveries).toHaveLength(1);

    const { parsed, raw } = mail!;
    expect(mail!.envelope.to).toEqual(['analyst@example.com']);
    expect(parsed.subject).toBe(
      '[HIGH] Rare-earth export-control change: Rare-earth race heats up: Japan’s e-waste push and India-Japan mineral pact—who secures the next supply?',
    );
    expect(parsed.messageId).toBe(`<${job.id}@tocsin.example.test>`);

    // Both parts; the title's match ("Rare-earth", offsets 0–10) marked, the body's listed.
    expect(parsed.text).toContain('*Rare-earth* race heats up');
    expect(parsed.text).toContain('body: *export controls*');
    expect(parsed.html).toContain(
      '<mark style="background:#fde68a;color:inherit;padding:0 1px;">Rare-earth</mark> race heats up',
    );
    expect(parsed.html).toContain('>export controls</mark>');
    // Published 09:30 UTC, shown in the subscriber's zone; why it was sent.
    expect(parsed.text).toContain('Thu 2 Jul 2026, 11:30 CEST');
    expect(parsed.text).toContain(`subscription ${subscriptionId} sends alerts of rule ${ruleId}`);

    // RFC 8058: exactly these two headers, https, and a List-Id.
    const unsubscribe = headerValue(raw, 'List-Unsubscribe');
    expect(unsubscribe).toMatch(/^<https:\/\/tocsin\.example\.test\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{32}>$/);
    expect(headerValue(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    expect(headerValue(raw, 'List-Id')).toMatch(/^Tocsin alerts <[A-Za-z0-9-]+\.tocsin\.example\.test>$/);
    // The same link is visible in the body.
    const link = unsubscribe.slice(1, -1);
    expect(parsed.text).toContain(link);
    expect(parsed.html).toContain(`href="${link}"`);

    // One click, as a mailbox provider does it: POST, form body, no cookies, no redirect.
    const clicked = await fetch(onApp(app, link), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
      redirect: 'manual',
    });
    expect(clicked.status).toBe(200);
    expect(clicked.headers.get('set-cookie')).toBeNull();
    expect(clicked.headers.get('location')).toBeNull();
    expect((await app.api('GET', `/v1/subscriptions/${subscriptionId}`)).body.unsubscribed).toBe(true);

    // The next alert of the rule is not emailed.
    await app.postEvent(
      seedEvent({
        id: 'brief-2026-07-03-rare-earth-follow-up',
        title: 'Rare-earth export controls tighten again',
      }),
    );
    const alerts = (await app.api('GET', `/v1/alerts?ruleId=${ruleId}`)).body.items;
    expect(alerts).toHaveLength(2);
    await sleep(500);
    expect(await app.jobsOfRule(ruleId)).toHaveLength(1);
    expect(receiver.deliveries).toHaveLength(1);
  });

  it('is delivered once, with one Message-ID, when the server answers 421 twice and then accepts', async () => {
    app = await startEmailApp({ SMTP_URL: receiver.url });
    receiver.onData = (_messageId, n) =>
      n <= 2 ? { code: 421, message: '4.3.2 Service shutting down, try later' } : undefined;
    await app.subscribe({ ruleIds: [ruleId] });
    await app.postEvent(seedEvent());

    await receiver.waitForAccepted(1);
    const [job] = await app.jobsOfRule(ruleId);
    const done = await app.waitForJob(job.id, (current) => current.status === 'sent');
    await sleep(300);

    expect(receiver.accepted).toHaveLength(1);
    expect(receiver.deliveries.map((delivery) => delivery.accepted)).toEqual([false, false, true]);
    expect(new Set(receiver.deliveries.map((delivery) => delivery.messageId))).toEqual(
      new Set([`<${job.id}@tocsin.example.test>`]),
    );
    expect(done.attempts).toBe(3);
    expect(done.attemptLog.map((attempt: { statusCode: number }) => attempt.statusCode)).toEqual([
      250, 421, 421,
    ]);
    expect(done.attemptLog[2].error).toContain('421');
  });

  it("fails permanently on a 550, with the server's reply in the API", async () => {
    app = await startEmailApp({ SMTP_URL: receiver.url });
    receiver.onRcptTo = () => ({
      code: 550,
      message: '5.1.1 <analyst@example.com>: Recipient address rejected: User unknown',
    });
    await app.subscribe({ ruleIds: [ruleId] });
    await app.postEvent(seedEvent());

    const [job] = await waitForJobs(app, 1);
    const failed = await app.waitForJob(job.id, (current) => current.status === 'failed');
    expect(failed.attempts).toBe(1);
    expect(failed.lastError).toContain(
      '550 5.1.1 <analyst@example.com>: Recipient address rejected: User unknown',
    );
    expect(failed.attemptLog[0]).toMatchObject({ statusCode: 550 });
    expect(failed.attemptLog[0].responseSnippet).toContain('Recipient address rejected');
    expect(receiver.deliveries).toHaveLength(0);
  });
});

describe('header injection', () => {
  it('a rule name and an event title with CR LF add no header', async () => {
    const rulesDir = mkdtempSync(join(tmpdir(), 'tocsin-email-rules-'));
    writeFileSync(
      join(rulesDir, 'injected.yaml'),
      [
        'id: injected',
        'name: "Rare earths\\r\\nBcc: x@y"',
        'severity: high',
        'query: \'"rare earth*" AND "export control*"\'',
        '',
      ].join('\n'),
    );
    try {
      app = await startEmailApp({ SMTP_URL: receiver.url, TOCSIN_RULES_DIR: rulesDir });
      await app.subscribe({ ruleIds: ['injected'] });
      await app.postEvent(seedEvent({ title: 'Rare-earth export controls\r\nX-Injected: yes\nBcc: z@y' }));

      const [mail] = await receiver.waitForAccepted(1);
      const lines = headerLines(mail!.raw);
      expect(lines.filter((line) => /^(bcc|x-injected):/i.test(line))).toEqual([]);
      expect(mail!.envelope.to).toEqual(['analyst@example.com']);
      expect(mail!.parsed.bcc).toBeUndefined();
      expect(mail!.parsed.subject).toBe(
        '[HIGH] Rare earths Bcc: x@y: Rare-earth export controls X-Injected: yes Bcc: z@y',
      );
      expect(headerValue(mail!.raw, 'Subject')).not.toMatch(/[\r\n]/);
    } finally {
      rmSync(rulesDir, { recursive: true, force: true });
    }
  });
});

describe('without SMTP_URL', () => {
  it('writes an .eml file under TOCSIN_DATA_DIR/mail that parses with mailparser', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tocsin-email-data-'));
    try {
      app = await startEmailApp({ TOCSIN_DATA_DIR: dataDir });
      await app.subscribe({ ruleIds: [ruleId] });
      await app.postEvent(seedEvent());
      const [job] = await waitForJobs(app, 1);
      await app.waitForJob(job.id, (current) => current.status === 'sent');

      const parsed = await simpleParser(readFileSync(join(dataDir, 'mail', `${job.id}.eml`)));
      expect(parsed.messageId).toBe(`<${job.id}@tocsin.example.test>`);
      expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toBe('analyst@example.com');
      expect(parsed.subject).toContain('[HIGH] Rare-earth export-control change');
      expect(parsed.text).toContain('*Rare-earth* race heats up');
      expect(parsed.html).toContain('>Rare-earth</mark>');
      const raw = readFileSync(join(dataDir, 'mail', `${job.id}.eml`), 'utf8');
      expect(headerValue(raw, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
      expect(headerValue(raw, 'List-Unsubscribe')).toMatch(/^<https:\/\/tocsin\.example\.test\/u\/[^>]+>$/);
    } finally {
      await app?.close();
      app = undefined;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the .eml file has the same content as the email SMTP delivers', async () => {
    app = await startEmailApp({ SMTP_URL: receiver.url });
    await app.subscribe({ ruleIds: [ruleId] });
    await app.postEvent(seedEvent());
    const [smtp] = await receiver.waitForAccepted(1);
    const [job] = await app.jobsOfRule(ruleId);
    await app.waitForJob(job.id, (current) => current.status === 'sent');

    // The same job, through the embedded default's transport (files) instead of SMTP.
    const mailDir = mkdtempSync(join(tmpdir(), 'tocsin-mail-'));
    try {
      const fileChannel = createEmailChannel({
        store: app.app.store,
        transport: createMailTransport({ smtpUrl: undefined, mailDir, poolSize: 1, ratePerSecond: 10 }),
        tokens: createUnsubscribeTokens(secret),
        from: { name: 'Tocsin', address: 'alerts@localhost' },
        publicUrl,
        hourlyLimit: 0,
        digestMaxAlerts: 50,
      });
      const result = await fileChannel.send({ ...job, leaseToken: 'x' }, new AbortController().signal);
      expect(result.kind).toBe('ok');
      const file = await simpleParser(readFileSync(join(mailDir, `${job.id}.eml`)));
      const viaSmtp = smtp!.parsed;
      expect(file.subject).toBe(viaSmtp.subject);
      expect(file.text).toBe(viaSmtp.text);
      expect(file.html).toBe(viaSmtp.html);
      expect(file.messageId).toBe(viaSmtp.messageId);
      expect(file.from?.text).toBe(viaSmtp.from?.text);
      expect(JSON.stringify(file.to)).toBe(JSON.stringify(viaSmtp.to));
      // Everything but the Date and the MIME boundary (random per build) is byte for byte the same.
      const comparable = (raw: string) =>
        headerLines(raw)
          .filter((line) => !/^date:/i.test(line))
          .map((line) => line.replace(/boundary="[^"]+"/, 'boundary=…'));
      expect(comparable(fileText(mailDir, job.id))).toEqual(comparable(smtp!.raw));
    } finally {
      rmSync(mailDir, { recursive: true, force: true });
    }
  });
});

// biome-ignore lint/suspicious/noExplicitAny: JSON records
async function waitForJobs(target: EmailApp, count: number): Promise<any[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const jobs = await target.jobsOfRule(ruleId);
    if (jobs.length >= count) return jobs;
    if (Date.now() > deadline) throw new Error(`expected ${count} jobs, got ${jobs.length}`);
    await sleep(50);
  }
}

function fileText(mailDir: string, jobId: string): string {
  return readFileSync(join(mailDir, `${jobId}.eml`), 'utf8');
}
