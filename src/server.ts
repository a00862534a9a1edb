import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { isAppError } from './errors.ts';

/**
 * The process: parse the configuration (nothing listens or connects before it is valid),
 * start, and on SIGTERM/SIGINT close in order and exit 0 — or exit 1 when closing takes
 * longer than TOCSIN_SHUTDOWN_TIMEOUT_MS.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_CONFIG')) throw error;
    process.stderr.write(`Invalid configuration:\n${indent(error.message)}\n`);
    process.exit(2);
  }

  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(config);
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
    process.stderr.write(`Invalid rules in ${config.rulesDir}:\n${indent(error.message)}\n`);
    process.exit(2);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      app.logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.logger.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await app.start();
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

main().catch((error: unknown) => {
  // Kafka refused or cannot be reached: the message says which setting to look at; no stack.
  if (isAppError(error, 'TOCSIN_KAFKA_UNAVAILABLE')) {
    process.stderr.write(`Tocsin failed to start: ${error.message}\n`);
    process.exit(1);
  }
  // Found only once the store is open, e.g. webhook secrets sealed under another server secret.
  if (isAppError(error, 'TOCSIN_INVALID_CONFIG')) {
    process.stderr.write(`Tocsin failed to start: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(
    `Tocsin failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
