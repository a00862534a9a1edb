import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';
import { createDigestMetrics } from './delivery/email/digest-metrics.ts';
import { createEmailDelivery, publicUrlWarning } from './delivery/email/email-delivery.ts';
import type { DeliveryChannel } from './delivery/outbox/channel.ts';
import { createOutboxDispatcher } from './delivery/outbox/outbox-dispatcher.ts';
import { createOutboxMetrics } from './delivery/outbox/outbox-metrics.ts';
import { parseRetrySchedule } from './delivery/outbox/retry-schedule.ts';
import { createWebhookMetrics } from './delivery/webhook/webhook-metrics.ts';
import { createWebhookService } from './delivery/webhook/webhook-service.ts';
import { alertStateChannel, parseAlertState } from './delivery/websocket/alert-state.ts';
import { createStreamHub } from './delivery/websocket/stream-hub.ts';
import { createStreamMetrics } from './delivery/websocket/stream-metrics.ts';
import { streamRoutes } from './delivery/websocket/stream-routes.ts';
import { createStreamTokens } from './delivery/websocket/stream-tokens.ts';
import { ensureFirstApiKey, loadOrCreateSecret } from './http/api-keys.ts';
import { createAuditTrail } from './http/audit-trail.ts';
import { createApiKeyAuth } from './http/auth.ts';
import { eventRoutes } from './http/event-routes.ts';
import { healthRoutes, type ReadinessCheck } from './http/health-routes.ts';
import { createHttpDrain } from './http/http-drain.ts';
import { createHttpMetrics } from './http/http-metrics.ts';
import { createHttpServer } from './http/http-server.ts';
import { createMetrics, registerDeliveryGauge } from './http/metrics.ts';
import { alertRoutes } from './http/routes/alert-routes.ts';
import { apiKeyRoutes } from './http/routes/api-key-routes.ts';
import { auditRoutes } from './http/routes/audit-routes.ts';
import { deliveryRoutes } from './http/routes/delivery-routes.ts';
import { rulePreviewRoutes } from './http/routes/rule-preview-routes.ts';
import { compileApiRule, ruleRoutes } from './http/routes/rule-routes.ts';
import { silenceRoutes } from './http/routes/silence-routes.ts';
import { subscriberRoutes } from './http/routes/subscriber-routes.ts';
import { subscriptionRoutes } from './http/routes/subscription-routes.ts';
import { webhookRoutes } from './http/routes/webhook-routes.ts';
import { type CommitListener, createEventProcessor } from './ingest/event-processor.ts';
import { createKafkaIngest, type KafkaIngest } from './ingest/kafka-ingest.ts';
import { createRuleSync } from './ingest/rule-sync.ts';
import { createLogger, type Logger } from './logger.ts';
import { pageRoutes } from './page/page-routes.ts';
import type { CompiledRule } from './rules/compiled-rule.ts';
import { createEventMatcher } from './rules/event-matcher.ts';
import { loadRules } from './rules/load-rules.ts';
import { createStore } from './store/create-store.ts';
import { apiKeyChannel } from './store/groups/api-key-group.ts';
import { createRetentionJob } from './store/retention-job.ts';

/**
 * Wiring. Building the app reads the rule files (an invalid one fails here, before anything
 * listens or connects); `start` opens the ports and connections; `close` shuts the parts
 * in reverse order: stop consuming, let in-flight work finish, close sockets.
 */
export async function buildApp(config: Config, options: { logger?: Logger } = {}) {
  const logger = options.logger ?? createLogger(config.logLevel);
  const metrics = createMetrics();

  const rules = await loadRuleFiles(config.rulesDir, logger);
  const secret = await loadOrCreateSecret(config.dataDir, config.secret);
  // Worker threads match events off the event loop (TOCSIN_MATCH_WORKERS); closed last but one.
  // They also make each event's term text for the preview ring, which costs the loop nothing then.
  const matcher = createEventMatcher({ rules, ...config.matching, termText: config.previewEvents > 0 });
  const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, secret, logger });
  const hub = createStreamHub({
    log: store.alerts,
    keys: store.apiKeys,
    logger,
    heartbeatMs: config.heartbeatMs,
    limits: config.stream,
    pollMs: config.stream.pollMs,
    metrics: createStreamMetrics(metrics.registry),
  });
  const streamTokens = createStreamTokens({ secret, ttlMs: config.stream.tokenTtlMs });
  const webhooks = createWebhookService({
    store,
    settings: config.webhooks,
    publicUrl: config.publicUrl,
    logger,
    metrics: createWebhookMetrics(metrics.registry, { endpoints: store.endpoints }),
  });
  // The delivery channels; a job whose channel is not registered stays pending.
  const email = createEmailDelivery({
    config,
    store,
    secret,
    logger,
    wake: () => outbox.wake(),
    digestMetrics: createDigestMetrics(metrics.registry),
  });
  const channels: DeliveryChannel[] = [webhooks.channel, email.channel];
  const outbox = createOutboxDispatcher({
    store,
    channels,
    logger,
    metrics: createOutboxMetrics(metrics.registry),
    schedule: parseRetrySchedule(config.retrySchedule),
    concurrency: config.deliveryConcurrency,
  });
  registerDeliveryGauge(metrics, () => store.deliveries.countByStatus());
  const retention = createRetentionJob({ store, retention: config.retention, logger });
  const listeners: CommitListener[] = [
    {
      committed: (alerts, jobsCreated) => {
        hub.committed(alerts);
        if (jobsCreated > 0) outbox.wake();
      },
    },
  ];
  // With Kafka, stateful matches go through the matches topic to their owners (cluster mode);
  // without, the processor applies them itself (embedded).
  let kafka: KafkaIngest | undefined;
  const processor = createEventProcessor({
    matcher,
    store,
    metrics,
    logger,
    listeners,
    ...(config.kafka ? { matchSink: { send: (records) => kafka!.matchSink.send(records) } } : {}),
    ackQuietMs: config.ackQuietMs,
    recentEvents: {
      append: (events, terms) =>
        store.previewEvents.append(events, { capacity: config.previewEvents, terms }),
    },
  });
  const ruleSync = createRuleSync({
    store,
    matcher,
    fileRules: () => rules,
    forgetRule: (ruleId) => processor.forgetRule(ruleId),
    logger,
  });
  kafka = config.kafka
    ? createKafkaIngest({
        kafka: config.kafka,
        maxMessageBytes: config.maxBodyBytes,
        processor,
        metrics,
        logger,
        owners: { store, listeners, ackQuietMs: config.ackQuietMs },
      })
    : undefined;

  const drain = createHttpDrain();
  const checks: ReadinessCheck[] = [{ name: 'store', check: () => store.ping() }];
  if (kafka) checks.push({ name: 'kafka', check: () => kafka.check() });

  const http = await createHttpServer({
    logger,
    maxBodyBytes: config.maxBodyBytes,
    metrics: createHttpMetrics(metrics.registry),
    auth: createApiKeyAuth({ store, secret, staticKey: config.apiKey }),
    audit: createAuditTrail({ store }),
    rateLimit: config.rateLimit,
    corsOrigins: config.corsOrigins,
    routes: [
      healthRoutes({ metrics, checks, isDraining: drain.isDraining }),
      eventRoutes({ processor, metrics, maxBodyBytes: config.maxBodyBytes }),
      streamRoutes({ hub, tokens: streamTokens, keys: store.apiKeys, heartbeatMs: config.heartbeatMs }),
      pageRoutes(),
      rulePreviewRoutes({ store }),
      ruleRoutes({
        store,
        matcher,
        fileRules: () => rules,
        onRuleRemoved: (ruleId) => processor.forgetRule(ruleId),
      }),
      silenceRoutes({ store }),
      alertRoutes({ store }),
      subscriberRoutes({ store }),
      webhookRoutes({ store, ping: webhooks.ping }),
      subscriptionRoutes({ store }),
      deliveryRoutes({ store }),
      apiKeyRoutes({ store, secret }),
      auditRoutes({ store }),
      email.routes,
    ],
  });
  drain.attach(http);

  return {
    http,
    hub,
    matcher,
    metrics,
    logger,
    store,
    processor,
    email,

    async start(): Promise<void> {
      mkdirSync(config.dataDir, { recursive: true });
      await store.migrate();
      await ensureFirstApiKey({
        store,
        secret,
        staticKey: config.apiKey,
        logger,
        print: (text) => process.stdout.write(`${text}\n`),
      });
      // Listen before loading, so a change made on another instance meanwhile is not missed
      // (applying a rule twice is a no-op).
      ruleSync.start();
      store.changes.on('alerts', () => hub.wake());
      // Acknowledgements and silences, from this instance or another, reach every viewer.
      store.changes.on(alertStateChannel, (payload) => {
        const announced = parseAlertState(payload);
        if (announced) hub.broadcastState(announced.tenantId, announced.message);
      });
      // A revoked key's streams close on every instance (4003); without a key id (the version
      // check's "something changed"), the keys of all open streams are looked up.
      store.changes.on(apiKeyChannel, (keyId) => {
        if (keyId) hub.keyRevoked(keyId);
        else void hub.checkRevocations();
      });
      await store.changes.start();
      await loadApiRules();
      await hub.start();
      outbox.start();
      email.scheduler.start();
      retention.start();
      await http.listen({ port: config.port, host: config.host });
      await kafka?.start();
      logger.info({ url: this.url(), rules: rules.length, kafka: Boolean(kafka) }, 'Tocsin started');
      const insecureLinks = publicUrlWarning(config.publicUrl);
      if (insecureLinks) logger.warn({ publicUrl: config.publicUrl }, insecureLinks);
    },

    /** The base URL it listens on (after `start`); with `PORT=0` the port the OS picked. */
    url(): string {
      const address = http.server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${host}:${address.port}`;
    },

    /**
     * Graceful shutdown: /readyz answers 503 first (for TOCSIN_DRAIN_DELAY_MS everything else still
     * serves), then HTTP takes no new requests, then consuming stops (the batch in flight finishes
     * and commits), deliveries in flight finish, and only then do the WebSocket streams close.
     */
    async close(): Promise<void> {
      drain.begin();
      if (config.drainDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, config.drainDelayMs));
      drain.stopAccepting();
      await kafka?.close();
      await email.scheduler.close(); // it creates jobs: stop it before the outbox
      await outbox.close();
      await email.channel.close(); // the SMTP pool, once no send is in flight
      await webhooks.close();
      await retention.close();
      await hub.close();
      await http.close();
      await ruleSync.close();
      await matcher.close();
      await store.close();
    },
  };

  /** Rules saved through the API live in the store; file rules come first in rule order. */
  async function loadApiRules(): Promise<void> {
    const fileIds = new Set(rules.map((rule) => rule.id));
    for (const stored of await store.rules.list()) {
      if (fileIds.has(stored.id)) {
        logger.warn({ ruleId: stored.id }, 'an API rule has the id of a file rule; the file rule wins');
        continue;
      }
      matcher.upsert(compileApiRule(stored.document));
    }
  }
}

export type App = Awaited<ReturnType<typeof buildApp>>;

async function loadRuleFiles(dir: string, logger: Logger): Promise<CompiledRule[]> {
  if (!existsSync(dir)) {
    logger.warn({ dir }, 'the rules directory does not exist: starting with no file rules');
    return [];
  }
  return loadRules(dir);
}
