import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { parseMailbox } from './delivery/email/header-safety.ts';
import { parseRetrySchedule } from './delivery/outbox/retry-schedule.ts';
import type { WebhookSettings } from './delivery/webhook/webhook-service.ts';
import { AppError } from './errors.ts';
import { parseDuration } from './rules/rule-schema.ts';

/**
 * The whole configuration, parsed once from the environment (shared/spec/contracts.md).
 * Nothing else in the code reads `process.env`.
 */

const sizeUnits: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

const byteSize = z.string().transform((text, ctx) => {
  const match = /^\s*(\d+)\s*(b|kb|mb|gb)?\s*$/i.exec(text);
  if (!match) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 512kb or 10mb, got "${text}"` });
    return z.NEVER;
  }
  return Number(match[1]) * sizeUnits[(match[2] ?? 'b').toLowerCase()]!;
});

const port = z.string().transform((text, ctx) => {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > 65_535) {
    ctx.addIssue({ code: 'custom', message: `expected a port number 0-65535, got "${text}"` });
    return z.NEVER;
  }
  return value;
});

/** A whole number from 1 to `max`: the bound keeps timers (at most 2^31-1 ms) and date math in range. */
const toPositiveInt = (text: string, ctx: z.RefinementCtx, max = Number.MAX_SAFE_INTEGER) => {
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive integer, got "${text}"` });
    return z.NEVER;
  }
  if (value > max) {
    ctx.addIssue({ code: 'custom', message: `expected at most ${max}, got "${text}"` });
    return z.NEVER;
  }
  return value;
};

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => toPositiveInt(text, ctx, max));

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;

/** Durations as in rules (`90s`, `30m`, `24h`, `7d`), spaces around the parts tolerated, at most `max`. */
const duration = (max: string) =>
  z.string().transform((text, ctx) => {
    const match = /^\s*(\d+)\s*(s|m|h|d)\s*$/.exec(text);
    if (!match) {
      ctx.addIssue({
        code: 'custom',
        message: `expected a duration such as 90s, 30m, 24h or 7d, got "${text}"`,
      });
      return z.NEVER;
    }
    const ms = parseDuration(`${match[1]}${match[2]}`);
    if (ms > parseDuration(max)) {
      ctx.addIssue({ code: 'custom', message: `expected a duration of at most ${max}, got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });

/** TOCSIN_RETRY_SCHEDULE: each delay at most a week (the default's longest is 10h). */
const maxRetryDelayMs = 7 * dayMs;
const retrySchedule = z
  .string()
  .regex(
    /^\s*\d+(ms|s|m|h|d)(\s*,\s*\d+(ms|s|m|h|d))*\s*$/,
    'expected a comma-separated list of durations, e.g. 0s,5s,5m,30m',
  )
  .refine((text) => parseRetrySchedule(text).every((delay) => delay <= maxRetryDelayMs), {
    message: 'expected every delay to be at most 7d',
  });

const brokerList = z.string().transform((text, ctx) => {
  const brokers = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const bad = brokers.filter((broker) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(broker);
    return !match || Number(match[2]) > 65_535 || Number(match[2]) === 0;
  });
  if (brokers.length === 0 || bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected a comma-separated list of host:port, got "${text}"${bad.length ? ` (bad: ${bad.join(', ')})` : ''}`,
    });
    return z.NEVER;
  }
  return brokers;
});

const url = (protocols: string[], example: string) =>
  z.string().refine(
    (text) => {
      try {
        return protocols.includes(new URL(text).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL such as ${example}` },
  );

const nonNegativeInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .default(String(fallback))
    .transform((text, ctx) => {
      if (!/^\d+$/.test(text.trim())) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number (0 or more), got "${text}"` });
        return z.NEVER;
      }
      if (Number(text) > max) {
        ctx.addIssue({ code: 'custom', message: `expected at most ${max}, got "${text}"` });
        return z.NEVER;
      }
      return Number(text);
    });

const mailbox = z.string().refine((text) => parseMailbox(text) !== undefined, {
  message: 'expected one email address, e.g. Tocsin <alerts@example.com> or alerts@example.com',
});

/** TOCSIN_WEBHOOK_ALLOWLIST: IP addresses, CIDR ranges, host names and `*.suffix` patterns. */
/** `https://dash.example.com,http://localhost:3000`: origins exactly as browsers send them. */
const originList = z.string().transform((text, ctx) => {
  const origins = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const isOrigin = (entry: string) => {
    try {
      const parsed = new URL(entry);
      return (parsed.protocol === 'https:' || parsed.protocol === 'http:') && parsed.origin === entry;
    } catch {
      return false;
    }
  };
  const bad = origins.filter((entry) => !isOrigin(entry));
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected origins such as https://dash.example.com,http://localhost:3000, without a path or a trailing slash (bad: ${bad.join(', ')})`,
    });
    return z.NEVER;
  }
  return origins;
});

const hostAllowlist = z.string().transform((text, ctx) => {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const isValid = (entry: string) => {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address!.replace(/^\[|\]$/g, ''));
    if (family !== 0) {
      if (extra !== undefined) return false;
      return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
    }
    return bits === undefined && /^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/.test(entry);
  };
  const bad = entries.filter((entry) => !isValid(entry));
  if (bad.length > 0) {
    ctx.addIssue({
      code: 'custom',
      message: `expected IP addresses, CIDR ranges or host names such as 127.0.0.1,10.1.0.0/16,*.internal (bad: ${bad.join(', ')})`,
    });
    return z.NEVER;
  }
  return entries;
});

const positiveNumber = z.string().transform((text, ctx) => {
  const value = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || value <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive number, got "${text}"` });
    return z.NEVER;
  }
  return value;
});

const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const flag = z
  .string()
  .transform((text) => text.trim().toLowerCase())
  .pipe(z.enum(['true', 'false'], { message: 'expected true or false' }))
  .transform((text) => text === 'true');

const saslMechanisms = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof saslMechanisms)[number];

const envSchema = z.object({
  PORT: port.default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: optional(url(['postgres:', 'postgresql:'], 'postgres://user@host:5432/db')),
  TOCSIN_DATA_DIR: z.string().min(1).default('./data'),
  TOCSIN_RULES_DIR: z.string().min(1).default('./rules'),
  KAFKA_BROKERS: optional(brokerList),
  KAFKA_TOPIC: z.string().min(1).default('intel.events'),
  KAFKA_GROUP_ID: z.string().min(1).default('tocsin'),
  KAFKA_DLQ_TOPIC: z.string().min(1).default('intel.events.dlq'),
  KAFKA_MATCHES_TOPIC: optional(z.string().min(1)),
  KAFKA_SESSION_TIMEOUT_MS: positiveInt(30_000, 300_000),
  KAFKA_START_FROM: z.enum(['latest', 'earliest']).default('latest'),
  KAFKA_CLIENT_ID: optional(z.string()),
  KAFKA_SSL: optional(flag),
  KAFKA_SSL_CA: optional(z.string()),
  KAFKA_SSL_CERT: optional(z.string()),
  KAFKA_SSL_KEY: optional(z.string()),
  KAFKA_SASL_MECHANISM: optional(
    z
      .string()
      .transform((text) => text.trim().toLowerCase())
      .pipe(z.enum(saslMechanisms, { message: 'expected plain, scram-sha-256 or scram-sha-512' })),
  ),
  KAFKA_SASL_USERNAME: optional(z.string()),
  // Never echoed: a bad value is reported by name only.
  KAFKA_SASL_PASSWORD: optional(z.string()),
  TOCSIN_KAFKA_CREATE_TOPICS: optional(flag),
  TOCSIN_KAFKA_TOPIC_PARTITIONS: optional(z.string().transform((text, ctx) => toPositiveInt(text, ctx))),
  TOCSIN_KAFKA_TOPIC_REPLICATION: optional(z.string().transform((text, ctx) => toPositiveInt(text, ctx))),
  TOCSIN_DRAIN_DELAY_MS: nonNegativeInt(0, 10 * 60_000),
  SMTP_URL: optional(url(['smtp:', 'smtps:'], 'smtp://user:pass@host:587')),
  TOCSIN_PUBLIC_URL: optional(url(['http:', 'https:'], 'https://alerts.example.com')),
  TOCSIN_SECRET: optional(z.string().min(16, 'must be at least 16 characters')),
  SMTP_FROM: mailbox.default('Tocsin <alerts@localhost>'),
  TOCSIN_MAX_BODY: byteSize.default(10 * 1024 ** 2),
  TOCSIN_API_KEY: optional(z.string().min(16, 'must be at least 16 characters')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TOCSIN_HEARTBEAT_MS: positiveInt(25_000, hourMs),
  TOCSIN_STREAM_QUEUE_MAX: byteSize.default(1024 ** 2),
  TOCSIN_STREAM_MAX_CONNECTIONS_PER_KEY: positiveInt(100),
  TOCSIN_STREAM_MAX_MESSAGE: byteSize.default(4 * 1024),
  TOCSIN_STREAM_MESSAGES_PER_SECOND: positiveInt(10),
  TOCSIN_STREAM_TOKEN_TTL: duration('24h')
    .refine((ms) => ms > 0, 'expected a duration from 1s to 24h')
    .default(900_000),
  TOCSIN_STREAM_POLL: duration('1h')
    .refine((ms) => ms >= 100, 'expected a duration of at least 100ms')
    .default(1_000),
  TOCSIN_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000, hourMs),
  TOCSIN_ACK_QUIET: duration('365d').default(dayMs),
  TOCSIN_PREVIEW_EVENTS: nonNegativeInt(50_000),
  TOCSIN_MATCH_WORKERS: nonNegativeInt(Math.max(1, availableParallelism()), 256),
  TOCSIN_MATCH_BUDGET_MS: positiveInt(1_000, 10 * 60_000),
  TOCSIN_RETENTION_ALERTS_DAYS: positiveInt(30, 3650),
  TOCSIN_RETENTION_LEDGER_DAYS: positiveInt(30, 3650),
  TOCSIN_RETENTION_DELIVERY_LOG_DAYS: positiveInt(14, 3650),
  TOCSIN_RETENTION_AUDIT_DAYS: positiveInt(365, 3650),
  TOCSIN_RATE_LIMIT: nonNegativeInt(1200),
  TOCSIN_RATE_LIMIT_EVENTS: nonNegativeInt(12_000),
  TOCSIN_RATE_LIMIT_WINDOW: duration('24h')
    .refine((ms) => ms > 0, 'expected a duration from 1s to 24h')
    .default(60_000),
  TOCSIN_CORS_ORIGINS: originList.default([]),
  TOCSIN_RETRY_SCHEDULE: retrySchedule.default('0s,5s,5m,30m,2h,5h,10h,10h'),
  TOCSIN_DELIVERY_CONCURRENCY: positiveInt(64),
  TOCSIN_WEBHOOK_TIMEOUT_MS: positiveInt(10_000, 10 * 60_000),
  TOCSIN_WEBHOOK_ALLOWLIST: hostAllowlist.default([]),
  TOCSIN_WEBHOOK_CONCURRENCY: positiveInt(4),
  TOCSIN_WEBHOOK_RATE_LIMIT: optional(positiveNumber),
  TOCSIN_WEBHOOK_DISABLE_AFTER: duration('365d').default(5 * dayMs),
  SMTP_POOL_SIZE: positiveInt(5),
  SMTP_RATE_PER_SECOND: positiveInt(10),
  TOCSIN_EMAIL_HOURLY_LIMIT: nonNegativeInt(20),
  TOCSIN_DIGEST_MAX_ALERTS: positiveInt(50),
  TOCSIN_UNSUBSCRIBE_MAILTO: optional(
    mailbox.refine((text) => !/[<>]/.test(text), {
      message: 'expected a bare address, e.g. unsubscribe@example.com',
    }),
  ),
  TOCSIN_DKIM_DOMAIN: optional(z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected a domain name')),
  TOCSIN_DKIM_SELECTOR: optional(z.string().regex(/^[A-Za-z0-9._-]+$/, 'expected a DKIM selector')),
  TOCSIN_DKIM_PRIVATE_KEY: optional(z.string().min(1)),
});

/** The names of every variable the service reads (what deployment files may set). */
export const configVariableNames: readonly string[] = Object.keys(envSchema.shape);

/** DKIM is all or nothing: a half-configured signer would send unsigned mail without a word. */
const dkimVariables = ['TOCSIN_DKIM_DOMAIN', 'TOCSIN_DKIM_SELECTOR', 'TOCSIN_DKIM_PRIVATE_KEY'] as const;

function dkimProblems(env: Record<string, string | undefined>): { variable: string; message: string }[] {
  const given = dkimVariables.filter((name) => env[name] !== undefined && env[name] !== '');
  if (given.length === 0 || given.length === dkimVariables.length) return [];
  return dkimVariables
    .filter((name) => !given.includes(name))
    .map((variable) => ({ variable, message: `required when ${given.join(' and ')} is set` }));
}

export type Config = {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  rulesDir: string;
  kafka:
    | ({
        brokers: string[];
        topic: string;
        groupId: string;
        dlqTopic: string;
        /** KAFKA_MATCHES_TOPIC: the stateful rules' matches, keyed by (tenant, rule, group). */
        matchesTopic: string;
        /** KAFKA_SESSION_TIMEOUT_MS: how long the group waits for a silent member before it rebalances. */
        sessionTimeoutMs: number;
        startFrom: 'latest' | 'earliest';
      } & KafkaConnection & {
          /** TOCSIN_KAFKA_CREATE_TOPICS: create missing topics; unset counts: the broker's defaults. */
          createTopics: { partitions: number | undefined; replicationFactor: number | undefined } | undefined;
        })
    | undefined;
  smtpUrl: string | undefined;
  smtpFrom: string;
  publicUrl: string;
  secret: string | undefined;
  maxBodyBytes: number;
  apiKey: string | undefined;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  heartbeatMs: number;
  /** Limits of `/v1/stream` (delivery/websocket). */
  stream: {
    /** Unsent bytes one client may hold; past it the hub closes it with 1013. */
    maxQueueBytes: number;
    maxConnectionsPerKey: number;
    /** Largest message a client may send. */
    maxMessageBytes: number;
    messagesPerSecond: number;
    /** Lifetime of a token from `POST /v1/stream/tokens`. */
    tokenTtlMs: number;
    /** How often the hub reads the alert log without being woken (the change feed's fallback). */
    pollMs: number;
  };
  shutdownTimeoutMs: number;
  /** After SIGTERM, how long /readyz answers 503 while HTTP still serves, before anything stops. */
  drainDelayMs: number;
  /** An acknowledged (rule, group) re-arms after this long without a new alert. */
  ackQuietMs: number;
  retention: { alertsDays: number; ledgerDays: number; deliveryLogDays: number; auditDays: number };
  /** Requests per window per API key (http/rate-limits.ts); 0 turns a limit off. */
  rateLimit: { max: number; eventsMax: number; windowMs: number };
  /** Origins whose pages may call the API from a browser; empty: CORS off. */
  corsOrigins: string[];
  /** How many of the newest ingested events the store keeps for rule previews (0: none). */
  previewEvents: number;
  /**
   * Worker threads that match events (rules/event-matcher.ts), and how long one event may take
   * there before it is given up and dead-lettered; 0 workers: matching on the event loop.
   */
  matching: { workers: number; budgetMs: number };
  /** Delivery retry delays, e.g. `0s,5s,5m,30m,2h,5h,10h,10h` (Svix's schedule). */
  retrySchedule: string;
  /** Most deliveries (all channels) in flight at once per instance. */
  deliveryConcurrency: number;
  webhooks: WebhookSettings;
  email: EmailConfig;
};

/** How to reach and authenticate to the brokers: every Kafka client of the process uses it. */
export type KafkaConnection = {
  brokers: string[];
  clientId: string;
  /** TLS: PEM texts (read from files at load); `{}` is TLS with the system CAs. Unset: plaintext. */
  ssl: { ca?: string; cert?: string; key?: string } | undefined;
  sasl: { mechanism: KafkaSaslMechanism; username: string; password: string } | undefined;
};

/** Email delivery settings besides SMTP_URL, SMTP_FROM and TOCSIN_PUBLIC_URL. */
export type EmailConfig = {
  /** SMTP connections kept open (nodemailer pool). */
  poolSize: number;
  /** Most messages per second over the whole pool. */
  ratePerSecond: number;
  /** Most immediate alert emails per subscriber per hour; the rest go into a digest. 0: no limit. */
  hourlyLimit: number;
  /** Most alerts listed in one digest; the rest are counted in an "and N more" link. */
  digestMaxAlerts: number;
  /** A `mailto:` address offered in List-Unsubscribe besides the one-click URL. */
  unsubscribeMailto: string | undefined;
  /** DKIM signing; `privateKey` is the PEM text or the path of a PEM file. */
  dkim: { domain: string; selector: string; privateKey: string } | undefined;
};

/** Parses the environment; throws one TOCSIN_INVALID_CONFIG listing every bad variable, one per line. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Config {
  const result = envSchema.safeParse(env);
  const problems = [
    ...(result.success
      ? []
      : result.error.issues.map((issue) => ({ variable: String(issue.path[0]), message: issue.message }))),
    ...dkimProblems(env),
  ];
  const kafkaSecurity = result.success ? parseKafkaSecurity(result.data, cwd) : undefined;
  if (result.success && result.data.TOCSIN_DRAIN_DELAY_MS >= result.data.TOCSIN_SHUTDOWN_TIMEOUT_MS) {
    problems.push({
      variable: 'TOCSIN_DRAIN_DELAY_MS',
      message: `must be shorter than TOCSIN_SHUTDOWN_TIMEOUT_MS (${result.data.TOCSIN_SHUTDOWN_TIMEOUT_MS})`,
    });
  }
  if (kafkaSecurity) problems.push(...kafkaSecurity.problems);
  if (!result.success || problems.length > 0) {
    throw new AppError(
      'TOCSIN_INVALID_CONFIG',
      problems.map((problem) => `${problem.variable}: ${problem.message}`).join('\n'),
      { details: { problems } },
    );
  }
  const e = result.data;
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(cwd, path));
  const hostForUrl = e.HOST === '0.0.0.0' || e.HOST === '::' ? 'localhost' : e.HOST;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: absolute(e.TOCSIN_DATA_DIR),
    rulesDir: absolute(e.TOCSIN_RULES_DIR),
    kafka: e.KAFKA_BROKERS
      ? {
          brokers: e.KAFKA_BROKERS,
          topic: e.KAFKA_TOPIC,
          groupId: e.KAFKA_GROUP_ID,
          dlqTopic: e.KAFKA_DLQ_TOPIC,
          matchesTopic: e.KAFKA_MATCHES_TOPIC || `${e.KAFKA_TOPIC}.matches`,
          sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
          startFrom: e.KAFKA_START_FROM,
          clientId: e.KAFKA_CLIENT_ID || `tocsin-${e.KAFKA_GROUP_ID}`,
          ssl: kafkaSecurity!.ssl,
          sasl: kafkaSecurity!.sasl,
          createTopics: e.TOCSIN_KAFKA_CREATE_TOPICS
            ? {
                partitions: e.TOCSIN_KAFKA_TOPIC_PARTITIONS,
                replicationFactor: e.TOCSIN_KAFKA_TOPIC_REPLICATION,
              }
            : undefined,
        }
      : undefined,
    smtpUrl: e.SMTP_URL,
    smtpFrom: e.SMTP_FROM,
    publicUrl: (e.TOCSIN_PUBLIC_URL ?? `http://${hostForUrl}:${e.PORT}`).replace(/\/+$/, ''),
    secret: e.TOCSIN_SECRET,
    maxBodyBytes: e.TOCSIN_MAX_BODY,
    apiKey: e.TOCSIN_API_KEY,
    logLevel: e.LOG_LEVEL,
    heartbeatMs: e.TOCSIN_HEARTBEAT_MS,
    stream: {
      maxQueueBytes: e.TOCSIN_STREAM_QUEUE_MAX,
      maxConnectionsPerKey: e.TOCSIN_STREAM_MAX_CONNECTIONS_PER_KEY,
      maxMessageBytes: e.TOCSIN_STREAM_MAX_MESSAGE,
      messagesPerSecond: e.TOCSIN_STREAM_MESSAGES_PER_SECOND,
      tokenTtlMs: e.TOCSIN_STREAM_TOKEN_TTL,
      pollMs: e.TOCSIN_STREAM_POLL,
    },
    shutdownTimeoutMs: e.TOCSIN_SHUTDOWN_TIMEOUT_MS,
    drainDelayMs: e.TOCSIN_DRAIN_DELAY_MS,
    ackQuietMs: e.TOCSIN_ACK_QUIET,
    previewEvents: e.TOCSIN_PREVIEW_EVENTS,
    matching: { workers: e.TOCSIN_MATCH_WORKERS, budgetMs: e.TOCSIN_MATCH_BUDGET_MS },
    retention: {
      alertsDays: e.TOCSIN_RETENTION_ALERTS_DAYS,
      ledgerDays: e.TOCSIN_RETENTION_LEDGER_DAYS,
      deliveryLogDays: e.TOCSIN_RETENTION_DELIVERY_LOG_DAYS,
      auditDays: e.TOCSIN_RETENTION_AUDIT_DAYS,
    },
    rateLimit: {
      max: e.TOCSIN_RATE_LIMIT,
      eventsMax: e.TOCSIN_RATE_LIMIT_EVENTS,
      windowMs: e.TOCSIN_RATE_LIMIT_WINDOW,
    },
    corsOrigins: e.TOCSIN_CORS_ORIGINS,
    retrySchedule: e.TOCSIN_RETRY_SCHEDULE,
    deliveryConcurrency: e.TOCSIN_DELIVERY_CONCURRENCY,
    webhooks: {
      timeoutMs: e.TOCSIN_WEBHOOK_TIMEOUT_MS,
      allowlist: e.TOCSIN_WEBHOOK_ALLOWLIST,
      concurrencyPerEndpoint: e.TOCSIN_WEBHOOK_CONCURRENCY,
      ratePerSecond: e.TOCSIN_WEBHOOK_RATE_LIMIT,
      disableAfterMs: e.TOCSIN_WEBHOOK_DISABLE_AFTER,
    },
    email: {
      poolSize: e.SMTP_POOL_SIZE,
      ratePerSecond: e.SMTP_RATE_PER_SECOND,
      hourlyLimit: e.TOCSIN_EMAIL_HOURLY_LIMIT,
      digestMaxAlerts: e.TOCSIN_DIGEST_MAX_ALERTS,
      unsubscribeMailto: e.TOCSIN_UNSUBSCRIBE_MAILTO,
      dkim:
        e.TOCSIN_DKIM_DOMAIN && e.TOCSIN_DKIM_SELECTOR && e.TOCSIN_DKIM_PRIVATE_KEY
          ? {
              domain: e.TOCSIN_DKIM_DOMAIN,
              selector: e.TOCSIN_DKIM_SELECTOR,
              privateKey: e.TOCSIN_DKIM_PRIVATE_KEY,
            }
          : undefined,
    },
  };
}

type Env = z.infer<typeof envSchema>;
type Problem = { variable: string; message: string };

/**
 * KAFKA_SSL*, KAFKA_SASL_*: the combinations that cannot work are configuration errors here, so a
 * managed cluster's setup fails at once with the variable's name instead of at the first
 * connection with a protocol error. PEM files are read now, for the same reason.
 */
function parseKafkaSecurity(
  e: Env,
  cwd: string,
): { problems: Problem[]; ssl: KafkaConnection['ssl']; sasl: KafkaConnection['sasl'] } {
  const problems: Problem[] = [];
  const pemVariables = ['KAFKA_SSL_CA', 'KAFKA_SSL_CERT', 'KAFKA_SSL_KEY'] as const;
  const givenPem = pemVariables.filter((name) => e[name] !== undefined);
  const saslVariables = ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const;
  const givenSasl = saslVariables.filter((name) => e[name] !== undefined);
  const given = [...(e.KAFKA_SSL === undefined ? [] : ['KAFKA_SSL']), ...givenPem, ...givenSasl];
  if (!e.KAFKA_BROKERS) {
    if (given.length > 0) {
      problems.push({ variable: 'KAFKA_BROKERS', message: `required when ${given.join(', ')} is set` });
    }
    return { problems, ssl: undefined, sasl: undefined };
  }

  if (e.KAFKA_SSL === false && givenPem.length > 0) {
    problems.push({ variable: 'KAFKA_SSL', message: `is false, but ${givenPem.join(', ')} is set` });
  }
  if (e.KAFKA_SSL_CERT !== undefined && e.KAFKA_SSL_KEY === undefined) {
    problems.push({ variable: 'KAFKA_SSL_KEY', message: 'required with KAFKA_SSL_CERT (mutual TLS)' });
  }
  if (e.KAFKA_SSL_KEY !== undefined && e.KAFKA_SSL_CERT === undefined) {
    problems.push({ variable: 'KAFKA_SSL_CERT', message: 'required with KAFKA_SSL_KEY (mutual TLS)' });
  }
  const pem = (variable: (typeof pemVariables)[number], kind: 'certificate' | 'private key') => {
    const value = e[variable];
    if (value === undefined) return undefined;
    const text = readPem(value, cwd);
    if ('problem' in text) {
      problems.push({ variable, message: text.problem });
      return undefined;
    }
    try {
      if (kind === 'certificate') new X509Certificate(text.pem);
      else createPrivateKey(text.pem);
      return text.pem;
    } catch (error) {
      problems.push({ variable, message: `not a usable PEM ${kind} (${(error as Error).message})` });
      return undefined;
    }
  };
  const ca = pem('KAFKA_SSL_CA', 'certificate');
  const cert = pem('KAFKA_SSL_CERT', 'certificate');
  const key = pem('KAFKA_SSL_KEY', 'private key');
  if (
    cert !== undefined &&
    key !== undefined &&
    !new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))
  ) {
    problems.push({ variable: 'KAFKA_SSL_KEY', message: 'is not the private key of KAFKA_SSL_CERT' });
  }
  const useSsl = e.KAFKA_SSL ?? givenPem.length > 0;
  const ssl = useSsl
    ? {
        ...(ca === undefined ? {} : { ca }),
        ...(cert === undefined ? {} : { cert }),
        ...(key === undefined ? {} : { key }),
      }
    : undefined;

  const mechanism = e.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined) {
    if (givenSasl.length > 0) {
      problems.push({
        variable: 'KAFKA_SASL_MECHANISM',
        message: `required when ${givenSasl.join(' and ')} is set`,
      });
    }
  } else {
    for (const variable of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (e[variable] === undefined)
        problems.push({ variable, message: 'required with KAFKA_SASL_MECHANISM' });
    }
  }
  const sasl =
    mechanism !== undefined && e.KAFKA_SASL_USERNAME !== undefined && e.KAFKA_SASL_PASSWORD !== undefined
      ? { mechanism, username: e.KAFKA_SASL_USERNAME, password: e.KAFKA_SASL_PASSWORD }
      : undefined;
  return { problems, ssl, sasl };
}

/** PEM text (an environment variable may carry its line breaks as `\n`) or the path of a PEM file. */
function readPem(value: string, cwd: string): { pem: string } | { problem: string } {
  if (value.includes('-----BEGIN')) return { pem: value.replace(/\\n/g, '\n') };
  const path = isAbsolute(value) ? value : resolve(cwd, value);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return {
      problem: `neither PEM text nor a readable file (${(error as NodeJS.ErrnoException).code ?? error})`,
    };
  }
  return text.includes('-----BEGIN') ? { pem: text } : { problem: `${path} holds no PEM block` };
}

/**
 * What the CLI's client commands (`tocsin tail`) take from the environment when no flag says
 * otherwise: the port a service started with the same environment listens on, and the API key
 * it accepts. Parsed by the same rules as the service's, so `PORT=abc` fails alike.
 */
export type ClientConfig = { port: number; apiKey: string | undefined };

const clientEnvSchema = envSchema.pick({ PORT: true, TOCSIN_API_KEY: true });

export function loadClientConfig(env: Record<string, string | undefined> = process.env): ClientConfig {
  const result = clientEnvSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => ({
      variable: String(issue.path[0]),
      message: issue.message,
    }));
    throw new AppError(
      'TOCSIN_INVALID_CONFIG',
      problems.map((problem) => `${problem.variable}: ${problem.message}`).join('\n'),
      { details: { problems } },
    );
  }
  return { port: result.data.PORT, apiKey: result.data.TOCSIN_API_KEY };
}
