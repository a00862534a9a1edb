import type { Admin } from 'kafkajs';
import type { Logger } from '../logger.ts';

/** Partitions of a topic TOCSIN_KAFKA_CREATE_TOPICS creates when TOCSIN_KAFKA_TOPIC_PARTITIONS is unset. */
export const defaultTopicPartitions = 3;

export type TopicCreation = { partitions: number | undefined; replicationFactor: number | undefined };

/**
 * Which of the topics the service needs exist. Managed clusters do not create topics on demand
 * (auto.create.topics.enable=false), and the service must not crash or consume nothing in
 * silence there: it reports the missing ones and asks again until they appear.
 *
 * `consumed` topics are never created by a metadata request, even where the broker would
 * (a typo in KAFKA_TOPIC must not become a new, empty topic); `produced` ones (the DLQ, internal
 * topics) are, as a producer's first send would. With `create` (TOCSIN_KAFKA_CREATE_TOPICS)
 * the missing ones are created, when the credentials allow.
 */
export function createTopicCheck(deps: {
  admin: Admin;
  consumed: string[];
  produced: string[];
  create: TopicCreation | undefined;
  logger: Logger;
}) {
  const log = deps.logger.child({ component: 'kafka-topics' });
  const all = [...new Set([...deps.consumed, ...deps.produced])];
  let creationRefused = false;
  const reportedProduced = new Set<string>();

  async function absent(): Promise<string[]> {
    const existing = new Set(await deps.admin.listTopics());
    return all.filter((topic) => !existing.has(topic));
  }

  async function create(topics: string[], settings: TopicCreation): Promise<void> {
    const brokers = (await deps.admin.describeCluster()).brokers.length;
    const partitions = settings.partitions ?? defaultTopicPartitions;
    const replicationFactor = settings.replicationFactor ?? Math.min(3, Math.max(1, brokers));
    try {
      await deps.admin.createTopics({
        waitForLeaders: true,
        topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor })),
      });
      log.info({ topics, partitions, replicationFactor }, 'created the missing Kafka topics');
    } catch (error) {
      // Another instance may have created them meanwhile (TOPIC_ALREADY_EXISTS): the next look says.
      const type = String((error as { type?: unknown }).type ?? '');
      if (/AUTHORIZATION_FAILED/.test(type) && !creationRefused) {
        creationRefused = true;
        log.warn(
          { topics },
          'TOCSIN_KAFKA_CREATE_TOPICS: the Kafka credentials may not create topics; create them with the cluster admin tools',
        );
      } else if (!/TOPIC_ALREADY_EXISTS/.test(type)) {
        log.warn({ topics, err: error }, 'creating the missing Kafka topics failed');
      }
    }
  }

  return {
    /** The needed topics that do not exist, after creating what may be created. */
    async missing(): Promise<string[]> {
      let missing = await absent();
      if (missing.length > 0 && deps.create && !creationRefused) {
        await create(missing, deps.create);
        missing = await absent();
      }
      // Only a consumed topic holds consuming back. A produced one (the dead-letter topic) is
      // created by the producer's first send on a broker with auto.create.topics.enable; where it
      // cannot be, that send fails and the batch is retried, so it is reported, not waited for:
      // waiting would stop every good event for want of a place to put the bad ones.
      const produced = missing.filter((topic) => !deps.consumed.includes(topic));
      if (produced.length > 0 && !reportedProduced.has(produced.join(','))) {
        reportedProduced.add(produced.join(','));
        log.warn(
          { topics: produced },
          `Kafka topic ${produced.join(', ')} does not exist yet: it is created on the first dead letter where the broker allows it (else create it, or set TOCSIN_KAFKA_CREATE_TOPICS=true)`,
        );
      }
      return missing.filter((topic) => deps.consumed.includes(topic));
    },
  };
}

export type TopicCheck = ReturnType<typeof createTopicCheck>;

/**
 * Creates the matches topic (KAFKA_MATCHES_TOPIC) with the source topic's partition count
 * unless it exists: owners scale with its partitions, and the source topic's count is what the
 * operator sized. Another instance creating it at the same time is fine (TOPIC_ALREADY_EXISTS).
 */
export async function ensureMatchesTopic(deps: {
  admin: Admin;
  source: string;
  matches: string;
  replicationFactor: number | undefined;
  logger: Logger;
}): Promise<void> {
  const existing = new Set(await deps.admin.listTopics());
  if (existing.has(deps.matches)) return;
  const metadata = await deps.admin.fetchTopicMetadata({ topics: [deps.source] });
  const partitions = metadata.topics[0]?.partitions.length ?? defaultTopicPartitions;
  const brokers = (await deps.admin.describeCluster()).brokers.length;
  const replicationFactor = deps.replicationFactor ?? Math.min(3, Math.max(1, brokers));
  try {
    await deps.admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: deps.matches, numPartitions: partitions, replicationFactor }],
    });
    deps.logger
      .child({ component: 'kafka-topics' })
      .info({ topic: deps.matches, partitions, replicationFactor }, 'created the matches topic');
  } catch (error) {
    const type = String((error as { type?: unknown }).type ?? '');
    if (!/TOPIC_ALREADY_EXISTS/.test(type)) throw error;
  }
}
