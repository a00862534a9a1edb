import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import Handlebars from 'handlebars';
import { z } from 'zod';
import type { Store } from '../../store/store.ts';
import type { UnsubscribeTokens } from './unsubscribe-token.ts';

/**
 * Unsubscribe links (`/u/:token`), open routes (no API key: the token is the credential).
 *
 * - `POST /u/:token` is RFC 8058 one-click: a mailbox provider posts
 *   `List-Unsubscribe=One-Click` (form-urlencoded or multipart) and the subscription stops at
 *   once — routing skips it from the next batch on and the email channel refuses its pending
 *   jobs. With `scope=all` in the body, every email subscription of the subscriber stops.
 *   No cookies, no redirects, no confirmation step; repeating it is harmless. Any body is
 *   accepted: RFC 8058 lets the sender ignore it, and the token alone decides.
 * - `GET /u/:token` only shows a page with both choices as buttons: link scanners and
 *   prefetchers follow GETs, so a GET must never unsubscribe.
 */

export type UnsubscribeRoutesDeps = {
  store: Pick<Store, 'subscriptions' | 'subscribers'>;
  tokens: UnsubscribeTokens;
};

const page = Handlebars.create().compile(
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{heading}} · Tocsin</title>
</head>
<body style="margin:0;padding:40px 16px;background:#f3f4f6;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827;">
<main style="max-width:520px;margin:0 auto;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:24px;">
<p style="margin:0 0 12px;font-size:13px;color:#6b7280;letter-spacing:0.04em;"><strong style="color:#111827;">TOCSIN</strong></p>
<h1 style="margin:0 0 12px;font-size:20px;">{{heading}}</h1>
{{#each lines}}<p style="margin:0 0 12px;font-size:15px;line-height:22px;">{{this}}</p>{{/each}}
{{#if forms}}
<form method="post" action="{{token}}" style="margin:16px 0 8px;"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit" style="padding:8px 14px;font-size:15px;border-radius:6px;border:1px solid #111827;background:#111827;color:#fff;cursor:pointer;">Unsubscribe from this subscription</button></form>
<form method="post" action="{{token}}" style="margin:0;"><input type="hidden" name="scope" value="all"><button type="submit" style="padding:8px 14px;font-size:15px;border-radius:6px;border:1px solid #9ca3af;background:#fff;color:#111827;cursor:pointer;">Unsubscribe from all Tocsin email</button></form>
{{/if}}
</main>
</body>
</html>
`,
  { strict: true },
);

type PageView = { heading: string; lines: string[]; forms: boolean; token: string };

function sendPage(reply: FastifyReply, status: number, view: PageView) {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-robots-tag', 'noindex')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    .send(page(view));
}

const invalidLink: PageView = {
  heading: 'This link is not valid',
  lines: [
    'The unsubscribe link is incomplete or was changed. Copy the whole link from the email and try again.',
  ],
  forms: false,
  token: '',
};

/** Whether a POST body asks for every email subscription (`scope=all`), in either form encoding. */
function wantsAll(body: unknown, contentType: string | undefined): boolean {
  if (typeof body !== 'string' || body === '') return false;
  if (contentType?.startsWith('multipart/form-data')) {
    return /name="scope"\r?\n(?:[^\r\n]+\r?\n)*\r?\nall\r?\n/i.test(body);
  }
  return new URLSearchParams(body).get('scope') === 'all';
}

const params = z.object({ token: z.string().max(600) });

export function unsubscribeRoutes(deps: UnsubscribeRoutesDeps): FastifyPluginAsyncZod {
  const { store, tokens } = deps;

  return async (app) => {
    // Encapsulated: only these routes take any body as text (RFC 8058 posts forms).
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) =>
      done(null, body),
    );

    /**
     * The subscription a link's token names. When there is none, answers the request itself and
     * returns undefined: the invalid-link page (404) for a token that does not verify, the same
     * "Nothing to unsubscribe" page for GET and POST when the subscription was deleted since the
     * email was sent (a POST must not claim to have unsubscribed anything).
     */
    const linkedSubscription = async (token: string, reply: FastifyReply) => {
      const subscriptionId = tokens.verify(token);
      if (!subscriptionId) {
        sendPage(reply, 404, invalidLink);
        return undefined;
      }
      const subscription = await store.subscriptions.get(subscriptionId);
      if (!subscription) {
        sendPage(reply, 200, {
          heading: 'Nothing to unsubscribe',
          lines: ['This subscription no longer exists: it sends you nothing.'],
          forms: false,
          token,
        });
      }
      return subscription;
    };

    app.get(
      '/u/:token',
      {
        config: { access: 'open' },
        schema: {
          summary: 'Unsubscribe confirmation page',
          description:
            'An HTML page offering to stop this subscription or all email. Never unsubscribes by itself (link scanners follow GETs).',
          tags: ['unsubscribe'],
          params,
        },
      },
      async (request, reply) => {
        const { token } = request.params;
        const subscription = await linkedSubscription(token, reply);
        if (!subscription) return reply;
        const subscriber = await store.subscribers.get(subscription.subscriberId);
        const address = subscriber?.email ?? 'your address';
        return sendPage(reply, 200, {
          heading: subscription.unsubscribed ? 'Already unsubscribed' : 'Unsubscribe?',
          lines: subscription.unsubscribed
            ? [`Subscription ${subscription.id} no longer emails ${address}.`]
            : [`Stop the Tocsin alerts that subscription ${subscription.id} emails to ${address}?`],
          forms: true,
          token,
        });
      },
    );

    app.post(
      '/u/:token',
      {
        config: { access: 'open' },
        schema: {
          summary: 'One-click unsubscribe (RFC 8058)',
          description:
            'Posted by mailbox providers with the body `List-Unsubscribe=One-Click`; stops the subscription at once. ' +
            '`scope=all` in the body stops every email subscription of the subscriber. No cookies, no redirect.',
          tags: ['unsubscribe'],
          params,
        },
      },
      async (request, reply) => {
        const { token } = request.params;
        const subscription = await linkedSubscription(token, reply);
        if (!subscription) return reply;
        if (wantsAll(request.body, request.headers['content-type'])) {
          const count = await store.subscriptions.unsubscribeAll(subscription.subscriberId, 'email');
          request.log.info({ subscriberId: subscription.subscriberId, count }, 'unsubscribed from all email');
          return sendPage(reply, 200, {
            heading: 'Unsubscribed from all Tocsin email',
            lines: ['You will receive no more Tocsin emails at this address.'],
            forms: false,
            token,
          });
        }
        await store.subscriptions.unsubscribe(subscription.id);
        request.log.info({ subscriptionId: subscription.id }, 'unsubscribed (one-click)');
        return sendPage(reply, 200, {
          heading: 'Unsubscribed',
          lines: [`Subscription ${subscription.id} will send you no more email.`],
          forms: false,
          token,
        });
      },
    );
  };
}
