import type { Alert } from '../alerts/alert.ts';
import type { OwnerGroupChange, OwnerGroupRow } from '../alerts/owner-step.ts';
import type { Role } from '../http/roles.ts';
import type { IntelEvent } from '../ingest/event-schema.ts';
import type { TermCondition } from '../rules/event-terms.ts';
import type { RuleDefinition, Severity } from '../rules/rule-schema.ts';
import type { ChangeFeed } from './change-feed.ts';

/**
 * The store port: everything Tocsin keeps, behind narrow method groups. Two implementations
 * (SQLite embedded, PostgreSQL for a cluster) pass one test suite (test/store/store.test.ts).
 *
 * Conventions, the same in both dialects:
 * - Timestamps in records are ISO 8601 strings (UTC, milliseconds); "now" arguments are `Date`s.
 *   Columns hold epoch milliseconds, so ranges and leases compare numbers.
 * - Every record carries `tenantId`; inputs that omit it use `DEFAULT_TENANT`. Queries read one
 *   tenant (`tenantId` in the query, default `DEFAULT_TENANT`). Ids are unique across tenants.
 * - Reads of a missing record return `undefined`; mutations of a missing record return
 *   `undefined` or `false`. Nothing here throws for "not found".
 * - Cursors are opaque strings; only this module gives them meaning (see `cursor.ts`).
 */

export const DEFAULT_TENANT = 'default';

export type Tenanted = { tenantId?: string };

// ─── Alerts and the alert log ───────────────────────────────────────────────

/** `suppressed`: a throttle or an acknowledgement held it back; `silenced`: a silence covered it. */
export type AlertStatus = 'active' | 'suppressed' | 'silenced';

export type AlertInput = Alert & Tenanted & { status: AlertStatus; receivedAt: string };

export type StoredAlert = Alert & {
  tenantId: string;
  status: AlertStatus;
  receivedAt: string;
  /** Position in the alert log, in commit order: resume WebSocket clients from it. */
  cursor: string;
  ackedBy: string | null;
  ackedAt: string | null;
};

export type AlertQuery = Tenanted & {
  ruleId?: string;
  severity?: Severity | Severity[];
  status?: AlertStatus | AlertStatus[];
  /** `receivedAt >= from` */
  from?: string;
  /** `receivedAt < to` */
  to?: string;
  /** Default 50, at most 1000. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
};

export type Page<T> = { items: T[]; nextCursor: string | null };

/**
 * Acknowledgement of a (rule, group): alerts of it are stored but held back until the group
 * has been quiet (no alert) for a period, then it re-arms. The store keeps the state; the
 * pipeline decides, and writes `lastAlertAt` moves and re-arms through `pipeline.commit`.
 * `group` is the alert's `group` (null for a rule without `groupBy`).
 */
export type AckState = {
  tenantId: string;
  ruleId: string;
  group: string | null;
  alertId: string;
  ackedBy: string;
  ackedAt: string;
  /** `receivedAt` of the newest alert of the group. */
  lastAlertAt: string;
};

export type AlertStore = {
  get(id: string): Promise<(StoredAlert & { deliveries: DeliveryJob[] }) | undefined>;
  /** Newest first (log order), filtered, cursor-paginated. */
  list(query?: AlertQuery): Promise<Page<StoredAlert>>;
  /**
   * The alert log: alerts strictly after `cursor` (null: from the start), oldest first, in
   * commit order. A reader that has seen everything up to cursor C never misses an alert that
   * commits later: every later commit gets a position after C (see alert-log.ts).
   */
  after(cursor: string | null, limit: number, scope?: Tenanted): Promise<StoredAlert[]>;
  /** The cursor of the newest committed alert (a start cursor when the log is empty): where a live tail starts. */
  headCursor(): Promise<string>;
  /** The oldest cursor that can still resume: a cursor before it has lost alerts to retention. */
  oldestCursor(): Promise<string>;
  /** True when alerts after `cursor` have been purged; throws AppError TOCSIN_NOT_FOUND on a malformed cursor. */
  isCursorExpired(cursor: string): Promise<boolean>;
  /** Records who acknowledged and when, and starts (or restarts) the hold of its (rule, group). */
  ack(id: string, by: string, at: Date): Promise<{ alert: StoredAlert; ack: AckState } | undefined>;
  ackState(ruleId: string, group: string | null, scope?: Tenanted): Promise<AckState | undefined>;
  /** Every acknowledgement hold of the tenant (there are few): what routing reads once per batch. */
  ackStates(scope?: Tenanted): Promise<AckState[]>;
  /**
   * Per rule with alerts since the oldest of `windows` (ISO times): for each window, how many
   * alerts received at or after its start were not suppressed by a throttle. Rules in id order.
   */
  countByRule(windows: readonly string[], scope?: Tenanted): Promise<{ ruleId: string; counts: number[] }[]>;
};

// ─── The pipeline's transaction ─────────────────────────────────────────────

/** The alert engine's dedup ledger: rule `ruleId` has seen event `eventId` (event time, epoch ms). */
export type LedgerEntry = { ruleId: string; eventId: string; eventTime: number };

/** A stateful group's state (JSON); `state: null` deletes it. `group` is the engine's group key. */
export type GroupStateChange = { ruleId: string; group: string; state: unknown | null };

/** Moves an acknowledged group's `lastAlertAt`, or re-arms it (`lastAlertAt: null` deletes the hold). */
export type AckChange = { ruleId: string; group: string | null; lastAlertAt: string | null };

/**
 * The owner state a commit writes: the changed groups of one partition of the matches topic
 * (the embedded service uses `embeddedPartition`) and the offset its next owner resumes from.
 * With `epoch`, the commit first re-reads the partition row (FOR UPDATE) and is refused with
 * `OwnerFencedError`, rolled back whole, when another owner has taken a newer epoch.
 */
export type OwnerCommit = {
  topic: string;
  partition: number;
  epoch?: number;
  nextOffset?: number;
  /** Replaces the partition's source marks (see `OwnerClaim.sourceMarks`). */
  sourceMarks?: SourceMarks;
  groups: OwnerGroupChange[];
};

/** Per source partition (`<topic>/<partition>`), the [offset, index] of the last match applied. */
export type SourceMarks = Record<string, [number, number]>;

/** The owner state of the embedded service: one pseudo-partition, never fenced. */
export const embeddedPartition = { topic: '', partition: 0 } as const;

/** A partition taken by an owner: its new epoch and the offset to resume from (-1: none applied). */
export type OwnerClaim = { epoch: number; nextOffset: number; sourceMarks: SourceMarks };

export type CommitBatch = Tenanted & {
  /** Rules whose ledger and group states are dropped first (removed or redefined rules). */
  forgottenRules?: string[];
  /**
   * Alerts, inserted if absent by id. An alert whose id is already stored (a replay, or a plain
   * rule's (rule, event) seen before) is dropped with its delivery jobs and digest entries.
   */
  alerts: AlertInput[];
  /** Legacy per-rule dedup rows; the pipeline no longer writes them (owner groups keep their own ledger). */
  ledger: LedgerEntry[];
  /** Legacy per-rule group states; the pipeline writes `owner` instead. */
  groupStates: GroupStateChange[];
  owner?: OwnerCommit;
  jobs: DeliveryJobInput[];
  /** Alerts routed to digest subscriptions (hourly / daily). */
  digestEntries?: DigestEntryInput[];
  acks?: AckChange[];
};

export type CommitResult = {
  /** The alerts this commit inserted (a replayed alert id is not inserted again), in log order. */
  alerts: StoredAlert[];
  /** Number of delivery jobs inserted (a replayed job id is not inserted again). */
  jobsCreated: number;
};

export type PipelineState = {
  ledger: LedgerEntry[];
  groupStates: { ruleId: string; group: string; state: unknown }[];
  acks: AckState[];
};

export type PipelineStore = {
  /**
   * Stores a batch in ONE transaction: forgotten rules, ledger, group states, ack changes,
   * alerts (idempotent by id), delivery jobs and digest entries (idempotent by id). Either all
   * of it is durable when this resolves, or none of it. Replaying a batch inserts nothing twice.
   */
  commit(batch: CommitBatch): Promise<CommitResult>;
  /** Everything the alert engine and the acknowledge hold need to resume after a restart. */
  loadState(scope?: Tenanted): Promise<PipelineState>;
  /**
   * Takes a partition of the matches topic for `owner`: increments its epoch (inserting the row
   * at epoch 1, next offset -1, on first use) and returns the new epoch, so every commit of an
   * earlier owner is refused from now on.
   */
  claimPartition(topic: string, partition: number, owner: string): Promise<OwnerClaim>;
  /** The group states of one partition (every tenant), as the last commit left them. */
  loadOwnerGroups(topic: string, partition: number): Promise<OwnerGroupRow[]>;
};

// ─── Rules managed through the API ──────────────────────────────────────────

export type StoredRule = {
  tenantId: string;
  id: string;
  /** The rule document; its `enabled` always equals the record's. */
  document: RuleDefinition;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
};

/**
 * Every mutation announces `rules` on the change feed (payload: the rule id) in its own
 * transaction, so every instance's matcher follows (see ingest/rule-sync.ts).
 */
export type RuleStore = {
  list(query?: Tenanted & { enabled?: boolean }): Promise<StoredRule[]>;
  get(id: string, scope?: Tenanted): Promise<StoredRule | undefined>;
  /** Creates or replaces the rule with `document.id`; `enabled` comes from the document. */
  upsert(document: RuleDefinition, scope?: Tenanted): Promise<StoredRule>;
  setEnabled(id: string, enabled: boolean, scope?: Tenanted): Promise<StoredRule | undefined>;
  delete(id: string, scope?: Tenanted): Promise<boolean>;
};

// ─── Silences ───────────────────────────────────────────────────────────────

/**
 * What a silence covers. Every field given must match (AND); within a field any value may
 * match (OR); an absent field matches everything. `tags`: the alert has at least one of them.
 */
export type SilenceMatchers = {
  ruleIds?: string[];
  tags?: string[];
  severities?: Severity[];
  groups?: (string | null)[];
};

export type Silence = {
  id: string;
  tenantId: string;
  matchers: SilenceMatchers;
  /** Active on `[startsAt, endsAt)`. */
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string | null;
  createdAt: string;
};

export type SilenceInput = Tenanted & {
  matchers: SilenceMatchers;
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment?: string | null;
};

export type SilenceState = 'pending' | 'active' | 'expired';

export type SilenceStore = {
  create(input: SilenceInput): Promise<Silence>;
  get(id: string): Promise<Silence | undefined>;
  /** Newest first; `state` relative to `now`. */
  list(query: Tenanted & { state?: SilenceState; now: Date }): Promise<Silence[]>;
  /** Ends it at `now` (no-op on an already expired one); returns the silence. */
  expire(id: string, now: Date): Promise<Silence | undefined>;
  active(now: Date, scope?: Tenanted): Promise<Silence[]>;
};

// ─── Subscribers, webhook endpoints, subscriptions ──────────────────────────

export type Subscriber = {
  id: string;
  tenantId: string;
  name: string;
  email: string | null;
  /** IANA time zone, e.g. Europe/Berlin: digests and dates in emails use it. */
  timeZone: string;
  createdAt: string;
  updatedAt: string;
};

export type SubscriberInput = Tenanted & { name: string; email?: string | null; timeZone?: string };

export type SubscriberStore = {
  create(input: SubscriberInput): Promise<Subscriber>;
  get(id: string): Promise<Subscriber | undefined>;
  list(scope?: Tenanted): Promise<Subscriber[]>;
  update(id: string, patch: Partial<Omit<SubscriberInput, 'tenantId'>>): Promise<Subscriber | undefined>;
  /** Deletes its subscriptions too. */
  delete(id: string): Promise<boolean>;
};

export type WebhookFormat = 'standard' | 'alertmanager';

export type WebhookEndpoint = {
  id: string;
  tenantId: string;
  url: string;
  /** `whsec_` + base64 key (Standard Webhooks). */
  secret: string;
  /** During a rotation, deliveries are signed with both secrets until `previousSecretExpiresAt`. */
  previousSecret: string | null;
  previousSecretExpiresAt: string | null;
  format: WebhookFormat;
  disabled: boolean;
  disabledReason: string | null;
  disabledAt: string | null;
  /** Start of the current run of failed deliveries (null after a success). */
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
};

export type WebhookEndpointInput = Tenanted & { url: string; secret?: string; format?: WebhookFormat };

export type WebhookEndpointStore = {
  /** Generates a `whsec_` secret unless one is given. */
  create(input: WebhookEndpointInput): Promise<WebhookEndpoint>;
  get(id: string): Promise<WebhookEndpoint | undefined>;
  list(scope?: Tenanted): Promise<WebhookEndpoint[]>;
  update(id: string, patch: { url?: string; format?: WebhookFormat }): Promise<WebhookEndpoint | undefined>;
  /** New secret (generated unless given); the old one stays valid until `previousValidUntil`. */
  rotateSecret(id: string, previousValidUntil: Date, secret?: string): Promise<WebhookEndpoint | undefined>;
  disable(id: string, reason: string, at: Date): Promise<WebhookEndpoint | undefined>;
  /** Re-enables it and clears the failure run. */
  enable(id: string): Promise<WebhookEndpoint | undefined>;
  /** A success clears `failingSince`; a failure starts it if unset. */
  noteResult(id: string, ok: boolean, at: Date): Promise<WebhookEndpoint | undefined>;
  /** Deletes the subscriptions that use it too. */
  delete(id: string): Promise<boolean>;
};

export type Channel = 'email' | 'webhook';
export type DeliveryMode = 'immediate' | 'hourly' | 'daily';

export type Subscription = {
  id: string;
  tenantId: string;
  subscriberId: string;
  /** Null: any rule. */
  ruleIds: string[] | null;
  /** Null: any tags; else the alert has at least one of them. */
  tags: string[] | null;
  minSeverity: Severity;
  channel: Channel;
  /** The webhook endpoint, for channel `webhook`. */
  endpointId: string | null;
  mode: DeliveryMode;
  /** Local hour (0–23, subscriber's time zone) of a daily digest. */
  dailyHour: number | null;
  unsubscribed: boolean;
  createdAt: string;
  updatedAt: string;
};

export type SubscriptionInput = Tenanted & {
  subscriberId: string;
  ruleIds?: string[] | null;
  tags?: string[] | null;
  minSeverity?: Severity;
  channel: Channel;
  endpointId?: string | null;
  mode?: DeliveryMode;
  dailyHour?: number | null;
};

export type SubscriptionStore = {
  create(input: SubscriptionInput): Promise<Subscription>;
  get(id: string): Promise<Subscription | undefined>;
  /** Without `includeUnsubscribed`, only live subscriptions: what routing uses. */
  list(
    query?: Tenanted & { subscriberId?: string; channel?: Channel; includeUnsubscribed?: boolean },
  ): Promise<Subscription[]>;
  update(
    id: string,
    patch: Partial<Omit<SubscriptionInput, 'tenantId' | 'subscriberId'>>,
  ): Promise<Subscription | undefined>;
  delete(id: string): Promise<boolean>;
  /** One-click unsubscribe of one subscription; takes effect for the next routing. */
  unsubscribe(id: string): Promise<Subscription | undefined>;
  /** Unsubscribes every subscription of a subscriber on a channel ("all email"); returns how many. */
  unsubscribeAll(subscriberId: string, channel: Channel): Promise<number>;
};

// ─── The delivery outbox ────────────────────────────────────────────────────

/**
 * `pending` → claimed → `sending` → `sent` | `pending` (retry) | `failed` (permanent) |
 * `dead` (retries exhausted). `failed` and `dead` can be replayed back to `pending`.
 */
export type DeliveryStatus = 'pending' | 'sending' | 'sent' | 'failed' | 'dead';

export type DeliveryJob = {
  /** Stable: it becomes `webhook-id` / `Message-ID`, the same on every retry. */
  id: string;
  tenantId: string;
  kind: 'alert' | 'digest';
  /** The alert, for kind `alert`; null for a digest (see `digests.alerts`). */
  alertId: string | null;
  subscriptionId: string;
  channel: Channel;
  endpointId: string | null;
  status: DeliveryStatus;
  /** How many times it was claimed (an attempt that crashed counts too). */
  attempts: number;
  nextAttemptAt: string;
  /** While `sending`: after this, another worker may claim it again. */
  leaseUntil: string | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
};

/** A job a worker holds; pass `leaseToken` back so a worker whose lease was taken over cannot finish it. */
export type ClaimedJob = DeliveryJob & { leaseToken: string };

export type DeliveryJobInput = Tenanted & {
  /** Default `deliveryJobId(alertId, subscriptionId)`, so a replay makes the same id. */
  id?: string;
  alertId: string;
  subscriptionId: string;
  channel: Channel;
  endpointId?: string | null;
  /** Default: the commit's time. */
  nextAttemptAt?: string;
};

export type LeaseCheck = { leaseToken?: string };

export type DeliveryStore = {
  get(id: string): Promise<DeliveryJob | undefined>;
  /** Newest first. */
  list(
    query?: Tenanted & {
      status?: DeliveryStatus;
      alertId?: string;
      endpointId?: string;
      subscriptionId?: string;
      limit?: number;
      cursor?: string;
    },
  ): Promise<Page<DeliveryJob>>;
  /**
   * Claims up to `limit` due jobs (pending with `nextAttemptAt <= now`, or sending with an
   * expired lease), marks them sending with a lease of `leaseMs`, and counts an attempt.
   * Concurrent claimers (several instances on PostgreSQL) never get the same job.
   */
  claim(now: Date, limit: number, leaseMs: number, filter?: { channel?: Channel }): Promise<ClaimedJob[]>;
  /** sending → sent. False when the job is not sending (or the lease token does not match). */
  complete(id: string, check?: LeaseCheck): Promise<boolean>;
  /** sending → pending at `nextAttemptAt`, keeping the error. */
  retry(id: string, nextAttemptAt: Date, error: string, check?: LeaseCheck): Promise<boolean>;
  /**
   * sending → pending at `nextAttemptAt`, unsent (its lane was full): the claim's attempt is
   * given back, so a job handed back any number of times, by any instance, keeps its count.
   */
  release(id: string, nextAttemptAt: Date, reason: string, check?: LeaseCheck): Promise<boolean>;
  /** sending → failed: a permanent failure (4xx, SMTP 5xx, endpoint gone). */
  fail(id: string, error: string, check?: LeaseCheck): Promise<boolean>;
  /** sending → dead: retries exhausted. */
  deadLetter(id: string, error: string, check?: LeaseCheck): Promise<boolean>;
  /** Any job not being sent → pending now, attempts reset. */
  replay(id: string, now: Date): Promise<DeliveryJob | undefined>;
  /** Replays every job that ended failed or dead since `since` (optionally of one endpoint); returns how many. */
  replayFailed(query: Tenanted & { since: Date; endpointId?: string }, now: Date): Promise<number>;
  /** Jobs per status, for metrics. */
  countByStatus(): Promise<Record<DeliveryStatus, number>>;
};

export type DeliveryAttempt = {
  id: string;
  jobId: string;
  tenantId: string;
  endpointId: string | null;
  at: string;
  statusCode: number | null;
  durationMs: number;
  responseSnippet: string | null;
  error: string | null;
};

export type DeliveryAttemptInput = {
  jobId: string;
  at: Date;
  statusCode?: number | null;
  durationMs: number;
  /** Cut to 1,000 characters. */
  responseSnippet?: string | null;
  error?: string | null;
};

export type AttemptStore = {
  record(input: DeliveryAttemptInput): Promise<DeliveryAttempt>;
  /** Newest first. */
  list(query: ({ jobId: string } | { endpointId: string }) & { limit?: number }): Promise<DeliveryAttempt[]>;
};

// ─── Digests ────────────────────────────────────────────────────────────────

export type DigestEntryInput = Tenanted & { subscriptionId: string; alertId: string; receivedAt: string };

export type DigestStore = {
  /** Adds alerts to a subscription's next digest (idempotent), e.g. past a per-recipient limit. */
  add(entries: DigestEntryInput[]): Promise<void>;
  /**
   * Builds the digest of `periodKey` (e.g. `2026-03-29T08`) once: in one transaction, creates
   * the delivery job `digestJobId(subscriptionId, periodKey)` and assigns it every pending
   * entry received before `until`. Returns the job, or undefined when there was nothing to
   * send or the digest already exists (another instance built it).
   */
  build(input: {
    subscriptionId: string;
    periodKey: string;
    until: Date;
    now: Date;
  }): Promise<DeliveryJob | undefined>;
  /** The alerts of a digest job, newest first. */
  alerts(jobId: string): Promise<StoredAlert[]>;
};

// ─── API keys ───────────────────────────────────────────────────────────────

export type ApiKey = {
  id: string;
  tenantId: string;
  /** The first characters of the key, shown in lists. */
  prefix: string;
  /** A slow hash or HMAC of the key: the key itself is never stored. */
  hash: string;
  name: string;
  /** What the key may do (http/roles.ts). */
  role: Role;
  createdAt: string;
  revokedAt: string | null;
};

export type ApiKeyStore = {
  /** `role` defaults to `admin`, the role of every key from before roles existed. */
  create(
    input: Tenanted & { id?: string; prefix: string; hash: string; name: string; role?: Role },
  ): Promise<ApiKey>;
  /** Only a key that is not revoked. */
  findByHash(hash: string): Promise<ApiKey | undefined>;
  list(scope?: Tenanted): Promise<ApiKey[]>;
  revoke(id: string, at: Date): Promise<boolean>;
  /** The ids among `ids` whose key is revoked or no longer exists (open streams are checked with it). */
  revokedAmong(ids: readonly string[]): Promise<string[]>;
};

// ─── Audit log ───────────────────────────────────────────────────────────────

/** What changed: `resourceType` names the route family, `action` the change. */
export type AuditEntryInput = Tenanted & {
  actor: { keyId: string | null; name: string; role: Role };
  action: string;
  resourceType: string;
  resourceId: string;
  /** The record before and after the change (null when created or deleted), secrets masked. */
  before: unknown;
  after: unknown;
};

export type AuditEntry = {
  id: string;
  tenantId: string;
  at: string;
  actor: { keyId: string | null; name: string; role: Role };
  action: string;
  resourceType: string;
  resourceId: string;
  before: unknown;
  after: unknown;
};

export type AuditStore = {
  record(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Newest first. */
  list(
    query?: Tenanted & { resourceType?: string; resourceId?: string; limit?: number; cursor?: string },
  ): Promise<Page<AuditEntry>>;
};

// ─── Recent events kept for rule previews ───────────────────────────────────

export type StoredPreviewEvent = {
  /** Position in the tenant's ring: ingest order. */
  seq: number;
  receivedAt: string;
  event: IntelEvent;
};

export type PreviewEventQuery = Tenanted & {
  /** `publishedAt >= from` */
  from?: string;
  /** `publishedAt < to` */
  to?: string;
};

export type PreviewEventStore = {
  /**
   * Adds a batch of ingested events (in ingest order) and drops the tenant's older ones, so
   * exactly the newest `capacity` remain. Several instances may append at once (PostgreSQL).
   * `terms[i]`, when given, is `events[i]`'s term text made elsewhere (a match worker); else
   * it is made here.
   */
  append(
    events: readonly IntelEvent[],
    options: Tenanted & { capacity: number; terms?: readonly (string | null | undefined)[] },
  ): Promise<void>;
  /** The kept events, oldest first (ingest order), read page by page: never all in memory. */
  scan(query?: PreviewEventQuery): AsyncIterable<StoredPreviewEvent>;
  /**
   * The candidates of one rule: of the rows in the window now (`total` of them), only those
   * whose term text meets the rule's condition (rules/event-terms.ts) or has none are read,
   * oldest first. The others never leave the database.
   */
  scanFor(
    condition: TermCondition,
    query?: PreviewEventQuery,
  ): Promise<{ total: number; rows: AsyncIterable<StoredPreviewEvent> }>;
  count(scope?: Tenanted): Promise<number>;
};

// ─── The whole store ────────────────────────────────────────────────────────

export type Retention = {
  alertsDays: number;
  ledgerDays: number;
  deliveryLogDays: number;
  /** Unset: the audit log is not purged by this call. */
  auditDays?: number;
};

export type PurgeResult = { alerts: number; ledger: number; jobs: number; attempts: number; audit: number };

export type Store = {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Changes every instance hears of (change-feed.ts). Channels in use: `rules` (payload: the
   * rule id; announced by every rule mutation), `alerts` (a commit stored alerts; unversioned).
   */
  changes: ChangeFeed;
  alerts: AlertStore;
  pipeline: PipelineStore;
  rules: RuleStore;
  silences: SilenceStore;
  subscribers: SubscriberStore;
  endpoints: WebhookEndpointStore;
  subscriptions: SubscriptionStore;
  deliveries: DeliveryStore;
  attempts: AttemptStore;
  digests: DigestStore;
  apiKeys: ApiKeyStore;
  audit: AuditStore;
  previewEvents: PreviewEventStore;
  /** Runs pending migrations; safe to call on every start and from several instances at once. */
  migrate(): Promise<void>;
  /** Throws AppError TOCSIN_STORE_UNAVAILABLE (retryable) when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Deletes alerts received before `now - alertsDays` (with their jobs, attempts and digest
   * entries), ledger entries recorded before `now - ledgerDays`, and finished jobs and attempts
   * older than `now - deliveryLogDays`, and audit entries older than `now - auditDays`.
   */
  purge(retention: Retention, now: Date): Promise<PurgeResult>;
};
