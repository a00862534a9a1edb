// `npm run kafka [-- --port N]`: a local Kafka broker in the foreground, for running the service
// against real Kafka without Docker. Ctrl-C stops it and removes its data.
import { parseArgs } from 'node:util';
import { startLocalBroker } from './kafka-broker.ts';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  console.error(`--port must be a TCP port number, got '${values.port}'`);
  process.exit(2);
}

console.log('Starting a local Kafka broker (the first run downloads it with Maven)…');
const startedAt = Date.now();
const broker = await startLocalBroker({ port }).catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
console.log(`Kafka broker ready at ${broker.brokers} (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
console.log(`  log: ${broker.logFile}`);
console.log(`  run the service against it: KAFKA_BROKERS=${broker.brokers} npm start`);
console.log('Ctrl-C stops it.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping the Kafka broker…');
    broker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
