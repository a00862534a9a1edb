// `npm run kafka [-- --port N] [--secure]`: a local Kafka broker in the foreground, for running the
// service against real Kafka without Docker. Ctrl-C stops it and removes its data. With --secure it
// also listens with SASL_SSL (SCRAM-SHA-512/256, PLAIN) and mutual TLS, and prints the settings.
import { parseArgs } from 'node:util';
import { mutualTlsSettings, saslSslSettings, startLocalBroker } from './kafka-broker.ts';

const { values } = parseArgs({ options: { port: { type: 'string' }, secure: { type: 'boolean' } } });
const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  console.error(`--port must be a TCP port number, got '${values.port}'`);
  process.exit(2);
}

console.log('Starting a local Kafka broker (the first run downloads it from Maven Central)…');
const startedAt = Date.now();
const broker = await startLocalBroker({ port, secure: values.secure }).catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
console.log(`Kafka broker ready at ${broker.brokers} (${((Date.now() - startedAt) / 1000).toFixed(1)} s)`);
console.log(`  log: ${broker.logFile}`);
console.log(`  run the service against it: KAFKA_BROKERS=${broker.brokers} npm start`);
if (broker.secure) {
  const lines = (settings: Record<string, string>) =>
    Object.entries(settings)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n');
  console.log(
    `\nSASL_SSL listener (SCRAM-SHA-512; scram-sha-256 and plain work too):\n${lines(saslSslSettings(broker.secure))}`,
  );
  console.log(
    `\nMutual-TLS listener (client certificate required):\n${lines(mutualTlsSettings(broker.secure))}`,
  );
  console.log(
    `\nkcat: kcat -b ${broker.secure.saslSsl} -X security.protocol=SASL_SSL -X sasl.mechanism=SCRAM-SHA-512 ` +
      `-X sasl.username=${broker.secure.username} -X sasl.password=${broker.secure.password} ` +
      `-X ssl.ca.location=${broker.secure.caFile} -L`,
  );
  console.log(
    `\ntests against this broker: KAFKA_BROKERS=${broker.brokers} TOCSIN_TEST_KAFKA_SECURE=${broker.secure.stateFile} npx vitest run`,
  );
}
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
