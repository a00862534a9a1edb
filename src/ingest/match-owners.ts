import { hostname } from 'node:os';
import type { Consumer, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import type { Alert } from '../alerts/alert.ts';
import { type AlertEngine, createAlertEngine } from '../alerts/alert-engine.ts';
import { type MatchRecord, recordKeyOf } from '../alerts/match-record.ts';
import type { Metrics } from '../http/metrics.ts';
import type { Logger } from '../logger.ts';
import type { SourceMarks, Store } from '../store/store.ts';
import { OwnerFencedError } from '../store/store-errors.ts';
import type { CommitListener, MatchSink } from './event-processor.ts';
import { routeWithStore } from './event-processor.ts';

/** Matches applied and committed together, at most. */
const commitChunk = 500;
/** How often (in commits of one partition) an owner drops the groups nothing can change any more. */
const sweepEveryCommits = 32;

/**
 * The matches topic, both ends (shared/spec/architecture.md, "Cluster"):
 *
 * - `sink`: the source path produces a batch's stateful match records, keyed by (tenant, rule,
 *   group), with acks=all; the caller resolves the source offsets only after it resolved.
 * - The owners: the consumer group `<KAFKA_GROUP_ID>.state` reads the matches topic. Each
 *   partition's state (the owner groups and the next offset) lives in the store.
 *
 * Invariants:
 * - On every group join the cached state of every partition is forgotten. The first batch of a
 *   partition after that takes a new epoch (claimPartition) and loads the partition's groups;
 *   from then on every commit of this owner re-reads the epoch FOR UPDATE and is refused when
 *   another owner took a newer one (OwnerFencedError: nothing written, the Kafka offset not
 *   committed, the partition paused until the next join). A stopped or partitioned-away owner
 *   can therefore never write after its successor started.
 * - Messages below the stored next offset are skipped: the Kafka offset of this group is
 *   committed after the store commit, so it is only ever behind the store's.
 * - Alerts, group states, delivery jobs, digest entries and the next offset are written in one
 *   transaction; alerts are inserted if absent by id, so re-applying the same ordered matches
 *   (after a crash between the store commit and the Kafka commit) adds nothing.
 */
export function createMatchOwners(deps: {
  client: Kafka;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  store: Store;
  listeners: CommitListener[];
  ackQuietMs: number;
  metrics: Metrics;
  logger: Logger;
  now?: () => Date;
}) {
  const log = deps.logger.child({ component: 'match-owners' });
  const now = deps.now ?? (() => new Date());
  const ownerId = `${hostname()}:${process.pid}`;
  type Owned = {
    epoch: number;
    nextOffset: number;
    sourceMarks: SourceMarks;
    engine: AlertEngine;
    commits: number;
    newest: number;
  };
  /** Partitions this instance owns in the current generation, with their cached state. */
  const owned = new Map<number, Owned>();
  /** Partitions refused by the fence: no new epoch is taken for them until the next join. */
  const fenced = new Set<number>();
  let consumer: Consumer | undefined;
  let producer: Producer | undefined;

  async function take(partition: number): Promise<Owned> {
    const claim = await deps.store.pipeline.claimPartition(deps.topic, partition, ownerId);
    const rows = await deps.store.pipeline.loadOwnerGroups(deps.topic, partition);
    log.info(
      { partition, epoch: claim.epoch, nextOffset: claim.nextOffset, groups: rows.length },
      'owning partition',
    );
    return {
      epoch: claim.epoch,
      nextOffset: claim.nextOffset,
      sourceMarks: claim.sourceMarks,
      engine: createAlertEngine(rows),
      commits: 0,
      newest: 0,
    };
  }

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload) {
    const partition = batch.partition;
    if (fenced.has(partition)) {
      pause();
      return;
    }
    let state = owned.get(partition);
    if (state === undefined) {
      state = await take(partition);
      owned.set(partition, state);
    }
    const messages = batch.messages;
    for (let start = 0; start < messages.length; start += commitChunk) {
      if (!isRunning() || isStale()) return;
      const part = messages.slice(start, start + commitChunk);
      const last = Number(part.at(-1)!.offset);
      const alerts: Alert[] = [];
      // Marks move in this copy; the cached state takes it only once the commit succeeded.
      const marks: SourceMarks = { ...state.sourceMarks };
      for (const message of part) {
        if (Number(message.offset) < state.nextOffset || message.value === null) continue;
        let record: MatchRecord;
        try {
          record = JSON.parse(message.value.toString('utf8')) as MatchRecord;
        } catch {
          log.error(
            { partition, offset: message.offset },
            'a message of the matches topic is not JSON: skipped',
          );
          continue;
        }
        if (record.source) {
          const { partition: from, offset, index } = record.source;
          const mark = marks[from];
          // Produced again by a source that crashed before committing its offsets: applied already.
          if (mark && (offset < mark[0] || (offset === mark[0] && index <= mark[1]))) continue;
          marks[from] = [offset, index];
        }
        const time = Date.parse(record.eventTime);
        if (time > state.newest) state.newest = time;
        alerts.push(...state.engine.applyRecord(record));
      }
      if (++state.commits % sweepEveryCommits === 0) state.engine.sweep(state.newest);
      try {
        const routed = await routeWithStore(deps.store, alerts, now(), deps.ackQuietMs);
        const result = await deps.store.pipeline.commit({
          alerts: routed.alerts,
          ledger: [],
          groupStates: [],
          jobs: routed.jobs,
          digestEntries: routed.digestEntries,
          acks: routed.acks,
          owner: {
            topic: deps.topic,
            partition,
            epoch: state.epoch,
            nextOffset: last + 1,
            sourceMarks: marks,
            groups: state.engine.takeChanges(),
          },
        });
        state.nextOffset = last + 1;
        state.sourceMarks = marks;
        resolveOffset(String(last));
        for (const input of routed.alerts)
          deps.metrics.alertsEmitted.inc({ severity: input.severity, status: input.status });
        for (const listener of deps.listeners) listener.committed(result.alerts, result.jobsCreated);
      } catch (error) {
        // The cached state ran ahead of the store: forget it (the next owner, or this one after
        // the retry, loads what was committed).
        owned.delete(partition);
        if (error instanceof OwnerFencedError) {
          fenced.add(partition);
          log.warn({ partition, err: error }, 'fenced: another instance owns the partition now');
          pause();
          return;
        }
        throw error;
      }
      await heartbeat();
    }
  }

  return {
    /** Produces stateful matches to the matches topic (acks=all), keyed by (tenant, rule, group). */
    sink(p: Producer): MatchSink {
      producer = p;
      return {
        async send(records) {
          if (records.length === 0) return;
          await producer!.send({
            topic: deps.topic,
            acks: -1,
            messages: records.map((record) => ({ key: recordKeyOf(record), value: JSON.stringify(record) })),
          });
        },
      };
    },

    async start(): Promise<void> {
      consumer = deps.client.consumer({
        groupId: deps.groupId,
        sessionTimeout: deps.sessionTimeoutMs,
        heartbeatInterval: Math.max(500, Math.floor(deps.sessionTimeoutMs / 10)),
        rebalanceTimeout: Math.max(deps.sessionTimeoutMs, 10_000),
        allowAutoTopicCreation: false,
      });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        owned.clear();
        const refused = [...fenced];
        fenced.clear();
        if (refused.length > 0) consumer!.resume([{ topic: deps.topic, partitions: refused }]);
        log.info({ memberAssignment: payload.memberAssignment }, 'joined the owners group');
      });
      await consumer.connect();
      // The matches topic is internal: a new owners group reads it from its start.
      await consumer.subscribe({ topic: deps.topic, fromBeginning: true });
      await consumer.run({ eachBatchAutoResolve: false, autoCommit: true, eachBatch });
    },

    /** Partitions owned now (metrics, tests). */
    owned: () => [...owned.keys()].sort((a, b) => a - b),

    async close(): Promise<void> {
      await consumer?.disconnect();
    },
  };
}

export type MatchOwners = ReturnType<typeof createMatchOwners>;
