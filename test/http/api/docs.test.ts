import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api-server.ts';

describe('/docs', () => {
  let server: ApiServer;
  beforeAll(async () => {
    server = await startApiServer();
  });
  afterAll(async () => {
    await server.dispose();
  });

  it('documents every /v1 route with its schemas', async () => {
    const docs = (await server.request('GET', '/docs', { key: null })).body;
    const routes = Object.entries(docs.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'GET /v1/rules',
        'POST /v1/rules',
        'GET /v1/rules/{id}',
        'PUT /v1/rules/{id}',
        'DELETE /v1/rules/{id}',
        'POST /v1/rules/{id}/enable',
        'POST /v1/rules/{id}/disable',
        'POST /v1/silences',
        'GET /v1/silences',
        'GET /v1/silences/{id}',
        'DELETE /v1/silences/{id}',
        'GET /v1/alerts',
        'GET /v1/alerts/{id}',
        'POST /v1/alerts/{id}/ack',
        'POST /v1/subscribers',
        'PATCH /v1/subscribers/{id}',
        'POST /v1/webhooks',
        'POST /v1/webhooks/{id}/rotate',
        'POST /v1/subscriptions',
        'PATCH /v1/subscriptions/{id}',
        'GET /v1/deliveries',
        'GET /v1/deliveries/{id}',
        'POST /v1/deliveries/{id}/replay',
        'POST /v1/deliveries/replay',
        'GET /v1/api-keys',
        'POST /v1/api-keys',
        'DELETE /v1/api-keys/{id}',
      ]),
    );
    expect(Object.keys(docs.components.schemas)).toEqual(
      expect.arrayContaining([
        'Rule',
        'RuleRecord',
        'Alert',
        'Silence',
        'Subscription',
        'WebhookEndpoint',
        'Error',
      ]),
    );
    const alertsQuery = docs.paths['/v1/alerts'].get.parameters.map(
      (parameter: { name: string }) => parameter.name,
    );
    expect(alertsQuery).toEqual(
      expect.arrayContaining(['ruleId', 'severity', 'status', 'from', 'to', 'limit', 'cursor']),
    );
  });
});
