// `npm run kafka:lock`: after a change to kafka/pom.xml, resolves the broker's runtime jars with
// Maven and writes kafka/broker-jars.json (path and SHA-256 of each), which every run downloads.
import { writeKafkaJarLock } from './kafka-broker.ts';

const count = await writeKafkaJarLock();
console.log(`kafka/broker-jars.json: ${count} jars`);
