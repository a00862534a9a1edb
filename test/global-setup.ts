// Gives every test file the same real Kafka broker, chosen in this order:
//   1. KAFKA_BROKERS, when set (a broker someone already runs);
//   2. a Testcontainers Kafka container, when a Docker engine answers;
//   3. a local broker JVM (scripts/kafka-broker.ts: Java 17, jars from kafka/broker-jars.json, no Docker).
// A broker that cannot start fails the whole run with its log; no test is skipped for lack of one.
// Test files read the address with `inject('kafkaBrokers')` (see test/support/kafka.ts).
// It also gives them one PostgreSQL, `inject('postgresUrl')` (see test/support/test-postgres.ts).
// The local broker also has the TLS listeners of `npm run kafka -- --secure` (SASL_SSL, mutual
// TLS), given to the tests as `inject('kafkaSecure')`. With KAFKA_BROKERS, TOCSIN_TEST_KAFKA_SECURE
// names that broker's secure.json (printed by `npm run kafka -- --secure`); without it, or with a
// container, a secure local broker is started for those tests.
import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { type SecureListeners, startLocalBroker } from '../scripts/kafka-broker.ts';
import { startTestPostgres } from './support/test-postgres.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Comma-separated `host:port` list of the test broker, the format of KAFKA_BROKERS. */
    kafkaBrokers: string;
    /** URL of the run's PostgreSQL database (TEST_DATABASE_URL, 127.0.0.1:5432 or an embedded one). */
    postgresUrl: string;
    /** The secure listeners (SASL_SSL, mutual TLS) of the test broker. */
    kafkaSecure: SecureListeners;
  }
}

type RunningBroker = { brokers: string; describe: string; secure: SecureListeners; stop(): Promise<void> };

const CONTAINER_IMAGE = 'confluentinc/cp-kafka:7.9.2';
const MAX_MESSAGE_BYTES = '11534336';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [postgres, broker] = await Promise.allSettled([startTestPostgres(), startBroker()]);
  if (postgres.status === 'rejected' || broker.status === 'rejected') {
    if (postgres.status === 'fulfilled') await postgres.value.stop();
    if (broker.status === 'fulfilled') await broker.value.stop();
    throw postgres.status === 'rejected' ? postgres.reason : (broker as PromiseRejectedResult).reason;
  }
  console.log(`[postgres] tests use ${postgres.value.describe}`);
  project.provide('postgresUrl', postgres.value.url);
  console.log(`[kafka] tests use ${broker.value.describe}`);
  project.provide('kafkaBrokers', broker.value.brokers);
  project.provide('kafkaSecure', broker.value.secure);
  return async () => {
    await Promise.all([broker.value.stop(), postgres.value.stop()]);
  };
}

async function startBroker(): Promise<RunningBroker> {
  const given = process.env.KAFKA_BROKERS?.trim();
  if (given) {
    const secureFile = process.env.TOCSIN_TEST_KAFKA_SECURE?.trim();
    if (secureFile) {
      const secure = JSON.parse(readFileSync(secureFile, 'utf8')) as SecureListeners;
      return { brokers: given, describe: `KAFKA_BROKERS=${given}`, secure, stop: async () => {} };
    }
    return withSecureBroker({ brokers: given, describe: `KAFKA_BROKERS=${given}`, stop: async () => {} });
  }

  if (await isDockerAvailable()) {
    try {
      return await withSecureBroker(await startContainer());
    } catch (error) {
      console.warn(`[kafka] the Kafka container did not start, using a local broker instead: ${error}`);
    }
  }
  const local = await startLocalBroker({ secure: true });
  return {
    brokers: local.brokers,
    describe: `a local broker at ${local.brokers}, TLS listeners ${local.secure!.saslSsl} and ${local.secure!.mutualTls} (log: ${local.logFile})`,
    secure: local.secure!,
    stop: local.stop,
  };
}

/** True when Testcontainers finds a container engine that answers, within a few seconds. */
async function isDockerAvailable(): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), 5_000);
    });
    await Promise.race([getContainerRuntimeClient(), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** A broker without the TLS listeners: a secure local broker is started for the TLS/SASL tests. */
async function withSecureBroker(broker: Omit<RunningBroker, 'secure'>): Promise<RunningBroker> {
  const secure = await startLocalBroker({ secure: true });
  return {
    ...broker,
    describe: `${broker.describe}, and for the TLS/SASL tests a secure local broker (log: ${secure.logFile})`,
    secure: secure.secure!,
    stop: async () => {
      await Promise.all([secure.stop(), broker.stop()]);
    },
  };
}

async function startContainer(): Promise<Omit<RunningBroker, 'secure'>> {
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const container = await new KafkaContainer(CONTAINER_IMAGE)
    .withKraft()
    .withEnvironment({
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
      KAFKA_NUM_PARTITIONS: '1',
      KAFKA_MIN_INSYNC_REPLICAS: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_MESSAGE_MAX_BYTES: MAX_MESSAGE_BYTES,
      KAFKA_REPLICA_FETCH_MAX_BYTES: MAX_MESSAGE_BYTES,
    })
    .start();
  // KafkaContainer publishes its PLAINTEXT listener (container port 9093) for clients on the host.
  const brokers = `${container.getHost()}:${container.getMappedPort(9093)}`;
  return {
    brokers,
    describe: `a ${CONTAINER_IMAGE} container at ${brokers}`,
    stop: async () => {
      await container.stop();
    },
  };
}
