import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config.ts';
import { AppError } from '../../errors.ts';
import type { Store } from '../../store/store.ts';
import type { DigestMetrics } from './digest-metrics.ts';
import { createDigestScheduler, type DigestSchedulerLogger } from './digest-scheduler.ts';
import { createEmailChannel } from './email-channel.ts';
import { parseMailbox } from './header-safety.ts';
import { createMailTransport, type DkimSettings } from './mail-transport.ts';
import { unsubscribeRoutes } from './unsubscribe-routes.ts';
import { createUnsubscribeTokens } from './unsubscribe-token.ts';

/**
 * Email, assembled from the configuration: the channel the outbox sends through, the digest
 * scheduler, and the unsubscribe routes. Nothing connects here (the SMTP pool opens on the
 * first send); a DKIM key given as a file path is read now, so a bad path stops the start.
 *
 * Lifecycle (app.ts): start the scheduler after the outbox; on close, stop the scheduler
 * first (it creates jobs), then the outbox (it finishes sends in flight), then the channel
 * (it closes the SMTP pool).
 */

export type EmailDeliveryDeps = {
  config: Pick<Config, 'smtpUrl' | 'smtpFrom' | 'publicUrl' | 'dataDir' | 'email'>;
  store: Store;
  /** The server secret (TOCSIN_SECRET or the generated one): unsubscribe tokens are signed with it. */
  secret: string;
  logger: DigestSchedulerLogger;
  /** Called when digests were built: wake the outbox. */
  wake: () => void;
  digestMetrics?: DigestMetrics;
  now?: () => Date;
};

export function createEmailDelivery(deps: EmailDeliveryDeps) {
  const { config, store } = deps;
  const from = parseMailbox(config.smtpFrom);
  if (!from) throw new AppError('TOCSIN_INVALID_CONFIG', 'SMTP_FROM: expected one email address');
  const tokens = createUnsubscribeTokens(deps.secret);
  const transport = createMailTransport({
    smtpUrl: config.smtpUrl,
    mailDir: join(config.dataDir, 'mail'),
    poolSize: config.email.poolSize,
    ratePerSecond: config.email.ratePerSecond,
    dkim: config.email.dkim && dkimSettings(config.email.dkim),
  });
  const channel = createEmailChannel({
    store,
    transport,
    tokens,
    from,
    publicUrl: config.publicUrl,
    unsubscribeMailto: config.email.unsubscribeMailto,
    hourlyLimit: config.email.hourlyLimit,
    digestMaxAlerts: config.email.digestMaxAlerts,
    ...(deps.now && { now: deps.now }),
  });
  const scheduler = createDigestScheduler({
    store,
    logger: deps.logger,
    onBuilt: () => deps.wake(),
    ...(deps.digestMetrics && { metrics: deps.digestMetrics }),
    ...(deps.now && { now: deps.now }),
  });
  return { channel, scheduler, routes: unsubscribeRoutes({ store, tokens }), transport };
}

export type EmailDelivery = ReturnType<typeof createEmailDelivery>;

/**
 * The start's warning when links are not https: Gmail and Yahoo honour RFC 8058 one-click
 * unsubscribe only for an https URL, and show no unsubscribe button otherwise.
 */
export function publicUrlWarning(publicUrl: string): string | undefined {
  return publicUrl.startsWith('https://')
    ? undefined
    : `TOCSIN_PUBLIC_URL (${publicUrl}) is not https: mailbox providers ignore one-click unsubscribe (RFC 8058) on http links; set it to the https address users reach`;
}

/** The key is PEM text (an environment variable may carry its line breaks as `\n`) or a PEM file's path. */
function dkimSettings(dkim: NonNullable<Config['email']['dkim']>): DkimSettings {
  let privateKey = dkim.privateKey.replace(/\\n/g, '\n');
  if (!privateKey.includes('-----BEGIN')) {
    try {
      privateKey = readFileSync(dkim.privateKey, 'utf8');
    } catch (error) {
      throw new AppError(
        'TOCSIN_INVALID_CONFIG',
        `TOCSIN_DKIM_PRIVATE_KEY: neither a PEM key nor a readable file (${(error as Error).message})`,
        { cause: error },
      );
    }
  }
  return { domainName: dkim.domain, keySelector: dkim.selector, privateKey };
}
