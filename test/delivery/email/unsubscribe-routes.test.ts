import { afterEach, describe, expect, it } from 'vitest';
import { createUnsubscribeTokens } from '../../../src/delivery/email/unsubscribe-token.ts';
import { type EmailApp, secret, startEmailApp } from './email-harness.ts';

/** `/u/:token` on the real app: open routes, RFC 8058 POST, a GET that only asks. */

const tokens = createUnsubscribeTokens(secret);
let app: EmailApp | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function isUnsubscribed(target: EmailApp, id: string): Promise<boolean> {
  return (await target.api('GET', `/v1/subscriptions/${id}`)).body.unsubscribed;
}

describe('unsubscribe links', () => {
  it('GET shows a page with both choices and changes nothing; no API key needed', async () => {
    app = await startEmailApp();
    const { subscriptionId } = await app.subscribe();
    const response = await fetch(`${app.url}/u/${tokens.sign(subscriptionId)}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('set-cookie')).toBeNull();
    const page = await response.text();
    expect(page).toContain('Unsubscribe from this subscription');
    expect(page).toContain('Unsubscribe from all Tocsin email');
    expect(page).toContain('analyst@example.com');
    expect(await isUnsubscribed(app, subscriptionId)).toBe(false);
  });

  it('refuses forged, altered and malformed tokens with 404 and changes nothing', async () => {
    app = await startEmailApp();
    const { subscriptionId } = await app.subscribe();
    const genuine = tokens.sign(subscriptionId);
    const forged = createUnsubscribeTokens('some-other-secret-0123456789').sign(subscriptionId);
    for (const token of [
      forged,
      `${genuine.slice(0, -1)}${genuine.endsWith('A') ? 'B' : 'A'}`,
      'nonsense',
      '',
    ]) {
      const response = await fetch(`${app.url}/u/${token}`, {
        method: 'POST',
        body: 'List-Unsubscribe=One-Click',
      });
      expect(response.status, token).toBe(404);
    }
    expect(await isUnsubscribed(app, subscriptionId)).toBe(false);
  });

  it('one-click POST stops only that subscription, and repeating it is harmless', async () => {
    app = await startEmailApp();
    const first = await app.subscribe({ mode: 'immediate' });
    const second = await app.api('POST', '/v1/subscriptions', {
      subscriberId: first.subscriberId,
      channel: 'email',
      mode: 'daily',
      dailyHour: 8,
    });
    const url = `${app.url}/u/${tokens.sign(first.subscriptionId)}`;
    for (let i = 0; i < 2; i++) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
        redirect: 'manual',
      });
      expect(response.status).toBe(200);
      expect(await response.text()).toContain('Unsubscribed');
    }
    expect(await isUnsubscribed(app, first.subscriptionId)).toBe(true);
    expect(await isUnsubscribed(app, second.body.id)).toBe(false);
  });

  it('scope=all stops every email subscription of the subscriber (form-urlencoded or multipart), nobody else', async () => {
    app = await startEmailApp();
    const mine = await app.subscribe();
    const mineToo = await app.api('POST', '/v1/subscriptions', {
      subscriberId: mine.subscriberId,
      channel: 'email',
      mode: 'hourly',
    });
    const theirs = await app.subscribe({}, { name: 'Other', email: 'other@example.com' });

    const form = new FormData();
    form.set('scope', 'all');
    const response = await fetch(`${app.url}/u/${tokens.sign(mine.subscriptionId)}`, {
      method: 'POST',
      body: form,
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('Unsubscribed from all Tocsin email');
    expect(await isUnsubscribed(app, mine.subscriptionId)).toBe(true);
    expect(await isUnsubscribed(app, mineToo.body.id)).toBe(true);
    expect(await isUnsubscribed(app, theirs.subscriptionId)).toBe(false);

    const urlencoded = await fetch(`${app.url}/u/${tokens.sign(theirs.subscriptionId)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'scope=all',
    });
    expect(urlencoded.status).toBe(200);
    expect(await isUnsubscribed(app, theirs.subscriptionId)).toBe(true);
  });

  it('answers for a deleted subscription without an error, the same for GET and POST', async () => {
    app = await startEmailApp();
    const { subscriptionId } = await app.subscribe();
    await app.api('DELETE', `/v1/subscriptions/${subscriptionId}`);
    const link = `${app.url}/u/${tokens.sign(subscriptionId)}`;
    const posted = await fetch(link, { method: 'POST' });
    expect(posted.status).toBe(200);
    const got = await fetch(link);
    expect(got.status).toBe(200);
    const headingOf = (html: string) => /<h1[^>]*>([^<]*)<\/h1>/.exec(html)?.[1];
    const [postHeading, getHeading] = [headingOf(await posted.text()), headingOf(await got.text())];
    expect(postHeading).toBe('Nothing to unsubscribe');
    expect(getHeading).toBe(postHeading);
  });

  it('is described in the OpenAPI document', async () => {
    app = await startEmailApp();
    const docs = (await (await fetch(`${app.url}/docs`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(docs.paths['/u/{token}'] as object).sort()).toEqual(['get', 'post']);
  });
});
