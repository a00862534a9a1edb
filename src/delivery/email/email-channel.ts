import type { ClaimedJob, Store, Subscriber, Subscription } from '../../store/store.ts';
import type { DeliveryChannel, SendResult } from '../outbox/channel.ts';
import { type RenderedEmail, renderAlertEmail } from './alert-email.ts';
import { renderDigestEmail } from './digest-email.ts';
import { type DigestCadence, lastEndedPeriod } from './digest-period.ts';
import type { EmailContext } from './email-view.ts';
import { headerText, isEmailAddress, type Mailbox } from './header-safety.ts';
import type { MailTransport, OutgoingEmail } from './mail-transport.ts';
import { createRecipientLimiter, rolledSnippetPrefix } from './recipient-limit.ts';
import { sendResultOfMailError } from './smtp-failure.ts';
import type { UnsubscribeTokens } from './unsubscribe-token.ts';

/**
 * The email channel: turns one claimed delivery job into one email.
 *
 * - kind `alert`: the alert email, unless the subscriber has had `hourlyLimit` immediate
 *   emails in the last hour: then the alert joins the subscription's next digest
 *   (`store.digests.add`) and the job completes without an email (its attempt says so).
 * - kind `digest`: the digest of the job's alerts (`store.digests.alerts`).
 *
 * Every email carries `Message-ID: <jobId@host>` (the same on every retry, so a receiving
 * server can drop the duplicate a crash between send and `complete` may cause), RFC 8058
 * one-click unsubscribe headers for the job's subscription and a `List-Id`. The channel never
 * sends for a subscription that is gone or unsubscribed: the job fails with that reason.
 */

export type EmailChannelDeps = {
  store: Pick<Store, 'alerts' | 'subscriptions' | 'subscribers' | 'digests' | 'deliveries' | 'attempts'>;
  transport: MailTransport;
  tokens: UnsubscribeTokens;
  from: Mailbox;
  /** TOCSIN_PUBLIC_URL, no trailing slash. */
  publicUrl: string;
  /** A bare address offered as `<mailto:…>` in List-Unsubscribe. */
  unsubscribeMailto?: string | undefined;
  /** Immediate emails per subscriber per hour; 0: no limit. */
  hourlyLimit: number;
  digestMaxAlerts: number;
  now?: () => Date;
};

export type EmailChannel = DeliveryChannel & { close(): Promise<void> };

export function createEmailChannel(deps: EmailChannelDeps): EmailChannel {
  const { store, transport, tokens } = deps;
  const now = deps.now ?? (() => new Date());
  const host = new URL(deps.publicUrl).hostname;
  const limiter = createRecipientLimiter({ store, limit: deps.hourlyLimit, now });

  function contextOf(subscription: Subscription, subscriber: Subscriber & { email: string }): EmailContext {
    return {
      subscription,
      recipient: { address: subscriber.email, timeZone: subscriber.timeZone },
      unsubscribeUrl: `${deps.publicUrl}/u/${tokens.sign(subscription.id)}`,
      publicUrl: deps.publicUrl,
    };
  }

  function emailOf(job: ClaimedJob, context: EmailContext, rendered: RenderedEmail): OutgoingEmail {
    const unsubscribe = [`<${context.unsubscribeUrl}>`];
    if (deps.unsubscribeMailto) {
      unsubscribe.push(
        `<mailto:${deps.unsubscribeMailto}?subject=unsubscribe%20${encodeURIComponent(context.subscription.id)}>`,
      );
    }
    const listLabel = context.subscription.id.replace(/[^A-Za-z0-9-]/g, '-');
    const listHost = host.replace(/[^A-Za-z0-9.-]/g, '-');
    return {
      jobId: job.id,
      from: deps.from,
      to: context.recipient.address,
      subject: rendered.subject,
      html: rendered.html,
      text: rendered.text,
      messageId: `<${job.id}@${host}>`,
      headers: {
        'List-Unsubscribe': headerText(unsubscribe.join(', '), 2_000),
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
        'List-Id': headerText(`Tocsin alerts <${listLabel}.${listHost}>`, 300),
      },
    };
  }

  async function deliver(email: OutgoingEmail, signal: AbortSignal): Promise<SendResult> {
    const startedAt = performance.now();
    try {
      const sent = await transport.send(email, signal);
      return {
        kind: 'ok',
        ...(sent.statusCode !== undefined && { statusCode: sent.statusCode }),
        responseSnippet: sent.response,
        durationMs: performance.now() - startedAt,
      };
    } catch (error) {
      return { ...sendResultOfMailError(error), durationMs: performance.now() - startedAt };
    }
  }

  async function sendAlert(
    job: ClaimedJob & { alertId: string },
    subscription: Subscription,
    subscriber: Subscriber & { email: string },
    signal: AbortSignal,
  ): Promise<SendResult> {
    const alert = await store.alerts.get(job.alertId);
    if (!alert) return { kind: 'fail', error: `alert ${job.alertId} no longer exists (retention)` };
    const context = contextOf(subscription, subscriber);

    return limiter.withAllowance(subscriber, async (sentInLastHour) => {
      if (limiter.isLimited && sentInLastHour >= limiter.limit) {
        await store.digests.add([
          {
            tenantId: job.tenantId,
            subscriptionId: subscription.id,
            alertId: alert.id,
            receivedAt: now().toISOString(),
          },
        ]);
        limiter.markRolled(job.id);
        return {
          kind: 'ok',
          responseSnippet: `${rolledSnippetPrefix} (${limiter.limit} per hour): added to the next hourly digest`,
        };
      }
      const isLastAllowed = limiter.isLimited && sentInLastHour + 1 === limiter.limit;
      const limitNote = isLastAllowed
        ? `This is alert email ${limiter.limit} of at most ${limiter.limit} per hour. Further alerts in the coming hour are collected and sent together in an hourly digest.`
        : null;
      const result = await deliver(
        emailOf(job, context, renderAlertEmail({ ...context, alert, limitNote })),
        signal,
      );
      if (result.kind === 'ok') limiter.markEmailed(subscriber.id, job.id);
      return result;
    });
  }

  async function sendDigest(
    job: ClaimedJob,
    subscription: Subscription,
    subscriber: Subscriber & { email: string },
    signal: AbortSignal,
  ): Promise<SendResult> {
    const alerts = await store.digests.alerts(job.id);
    if (alerts.length === 0)
      return { kind: 'ok', responseSnippet: 'not emailed: the digest has no alerts left' };
    // The job was created just after its period ended: the last period ended by then is its own.
    const cadence: DigestCadence =
      subscription.mode === 'daily'
        ? { mode: 'daily', dailyHour: subscription.dailyHour ?? 0 }
        : { mode: 'hourly' };
    const period = lastEndedPeriod(cadence, subscriber.timeZone, new Date(job.createdAt));
    const context = contextOf(subscription, subscriber);
    const rendered = renderDigestEmail({
      ...context,
      alerts,
      period,
      maxAlerts: deps.digestMaxAlerts,
      hourlyLimit: deps.hourlyLimit,
    });
    return deliver(emailOf(job, context, rendered), signal);
  }

  return {
    name: 'email',

    async send(job, signal) {
      const subscription = await store.subscriptions.get(job.subscriptionId);
      if (!subscription)
        return { kind: 'fail', error: `subscription ${job.subscriptionId} no longer exists` };
      if (subscription.unsubscribed) return { kind: 'fail', error: 'not sent: the recipient unsubscribed' };
      const subscriber = await store.subscribers.get(subscription.subscriberId);
      if (!subscriber)
        return { kind: 'fail', error: `subscriber ${subscription.subscriberId} no longer exists` };
      if (subscriber.email === null)
        return { kind: 'fail', error: `subscriber ${subscriber.id} has no email address` };
      if (!isEmailAddress(subscriber.email)) {
        return { kind: 'fail', error: `subscriber ${subscriber.id} has an invalid email address` };
      }
      const recipient = { ...subscriber, email: subscriber.email };
      if (job.kind === 'digest') return sendDigest(job, subscription, recipient, signal);
      if (job.alertId === null) return { kind: 'fail', error: 'an alert job without an alert' };
      return sendAlert({ ...job, alertId: job.alertId }, subscription, recipient, signal);
    },

    close: () => transport.close(),
  };
}
