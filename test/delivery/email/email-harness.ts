import { readFileSync } from 'node:fs';
import { seedEventPath, startTestApp, type TestApp } from '../../support/test-app.ts';

/** What the end-to-end email tests share: the real app, its HTTP API with a key, the seed event. */

export const apiKey = 'email-test-api-key-0123456789';
export const secret = 'email-test-secret-0123456789abcdef';
/** Links in emails point here (as behind a TLS proxy); tests post to the app's own address instead. */
export const publicUrl = 'https://tocsin.example.test';

export type IntelEventJson = Record<string, unknown> & { id: string; title: string };

export function seedEvent(overrides: Partial<IntelEventJson> = {}): IntelEventJson {
  return { ...(JSON.parse(readFileSync(seedEventPath, 'utf8')) as IntelEventJson), ...overrides };
}

export async function startEmailApp(env: Record<string, string> = {}) {
  const testApp = await startTestApp({
    TOCSIN_API_KEY: apiKey,
    TOCSIN_SECRET: secret,
    TOCSIN_PUBLIC_URL: publicUrl,
    TOCSIN_RETRY_SCHEDULE: '0s,100ms,100ms,100ms,100ms',
    ...env,
  });
  return withApi(testApp);
}

function withApi(testApp: TestApp) {
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field, as JSON
  async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${testApp.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${apiKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  }

  return {
    ...testApp,
    api,

    /** A subscriber with an address and one email subscription; returns both ids. */
    async subscribe(
      subscription: Record<string, unknown> = {},
      subscriber: Record<string, unknown> = {},
    ): Promise<{ subscriberId: string; subscriptionId: string }> {
      const created = await api('POST', '/v1/subscribers', {
        name: 'Analyst',
        email: 'analyst@example.com',
        timeZone: 'Europe/Berlin',
        ...subscriber,
      });
      if (created.status !== 201)
        throw new Error(`subscriber: ${created.status} ${JSON.stringify(created.body)}`);
      const made = await api('POST', '/v1/subscriptions', {
        subscriberId: created.body.id,
        channel: 'email',
        ...subscription,
      });
      if (made.status !== 201) throw new Error(`subscription: ${made.status} ${JSON.stringify(made.body)}`);
      return { subscriberId: created.body.id, subscriptionId: made.body.id };
    },

    async postEvent(event: IntelEventJson): Promise<void> {
      const answer = await api('POST', '/v1/events', event);
      if (answer.status !== 202) throw new Error(`events: ${answer.status} ${JSON.stringify(answer.body)}`);
    },

    /** The delivery jobs of the alerts of `ruleId`, newest alert first. */
    // biome-ignore lint/suspicious/noExplicitAny: JSON records
    async jobsOfRule(ruleId: string): Promise<any[]> {
      const alerts = await api('GET', `/v1/alerts?ruleId=${encodeURIComponent(ruleId)}`);
      // biome-ignore lint/suspicious/noExplicitAny: JSON records
      const jobs: any[] = [];
      for (const alert of alerts.body.items) {
        jobs.push(...(await api('GET', `/v1/deliveries?alertId=${alert.id}`)).body.items);
      }
      return jobs;
    },

    /** Polls the job until `done` holds for it. */
    // biome-ignore lint/suspicious/noExplicitAny: JSON records
    async waitForJob(id: string, done: (job: any) => boolean, timeoutMs = 10_000): Promise<any> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = (await api('GET', `/v1/deliveries/${id}`)).body;
        if (done(job)) return job;
        if (Date.now() > deadline) throw new Error(`job ${id} is still ${JSON.stringify(job)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

export type EmailApp = Awaited<ReturnType<typeof startEmailApp>>;

/** A URL from an email, moved to the app's own address (the public URL is a proxy's). */
export function onApp(app: EmailApp, link: string): string {
  return link.replace(publicUrl, app.url);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
