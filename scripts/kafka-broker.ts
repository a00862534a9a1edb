// A real, single-node Apache Kafka broker (KRaft, broker+controller in one JVM) for local runs
// and the test suite, on machines without Docker. The broker jars come from Maven Central through
// kafka/pom.xml and are cached in .kafka/libs, keyed by the pom's hash.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { createTlsMaterial, type TlsMaterial } from './kafka-tls.ts';

const { Kafka, logLevel } = kafkajs;

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const pomPath = join(repoRoot, 'kafka', 'pom.xml');
const libsDir = join(repoRoot, '.kafka', 'libs');
const markerFile = join(libsDir, '.pom-sha256');

/** Large enough for the 10 MB messages TOCSIN_MAX_BODY allows, plus batch overhead. */
const MAX_MESSAGE_BYTES = 11_534_336;

export type LocalBrokerOptions = {
  /** Port of the PLAINTEXT listener on 127.0.0.1; a free one when unset. */
  port?: number;
  /** How long to wait for the broker to answer metadata requests. */
  startTimeoutMs?: number;
  /** JVM heap limit. */
  heapMb?: number;
  /**
   * Keep the broker's data in this folder instead of a fresh temporary one: it is formatted on
   * first use and kept by `stop()`, so a broker started again with the same `dir`, `port` and
   * `controllerPort` is the same broker restarted (its topics, messages and group offsets).
   */
  dir?: string;
  /** Port of the CONTROLLER listener on 127.0.0.1; a free one when unset. */
  controllerPort?: number;
  /**
   * Also listen with TLS: SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN, one user made at
   * format time) and SSL with client certificates required (mutual TLS), with a CA and
   * certificates made for this broker. The PLAINTEXT listener stays.
   */
  secure?: boolean;
  /** Broker settings over the defaults below, e.g. `{ 'auto.create.topics.enable': 'false' }` (as managed clusters have). */
  settings?: Record<string, string>;
};

export type LocalBroker = {
  /** `127.0.0.1:<port>`, the value for KAFKA_BROKERS (the PLAINTEXT listener). */
  brokers: string;
  logFile: string;
  /** The TLS listeners and how to reach them, when started with `secure`. */
  secure?: SecureListeners;
  stop(): Promise<void>;
};

export type SecureListeners = {
  /** `127.0.0.1:<port>` of the SASL_SSL listener. */
  saslSsl: string;
  /** `127.0.0.1:<port>` of the SSL listener that requires a client certificate. */
  mutualTls: string;
  /** The user that SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN accept. */
  username: string;
  password: string;
  /** The CA that signed the broker's and the client's certificates (PEM). */
  caFile: string;
  /** A client certificate and key for the mutual-TLS listener (PEM). */
  clientCertFile: string;
  clientKeyFile: string;
  /** The JSON file these settings are kept in, in the broker's folder. */
  stateFile: string;
};

/** The Tocsin settings (KEY=value) that reach a secure broker's SASL_SSL listener. */
export function saslSslSettings(
  secure: SecureListeners,
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512' = 'scram-sha-512',
): Record<string, string> {
  return {
    KAFKA_BROKERS: secure.saslSsl,
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA: secure.caFile,
    KAFKA_SASL_MECHANISM: mechanism,
    KAFKA_SASL_USERNAME: secure.username,
    KAFKA_SASL_PASSWORD: secure.password,
  };
}

/** The Tocsin settings (KEY=value) that reach a secure broker's mutual-TLS listener. */
export function mutualTlsSettings(secure: SecureListeners): Record<string, string> {
  return {
    KAFKA_BROKERS: secure.mutualTls,
    KAFKA_SSL_CA: secure.caFile,
    KAFKA_SSL_CERT: secure.clientCertFile,
    KAFKA_SSL_KEY: secure.clientKeyFile,
  };
}

/**
 * The broker's jars: kafka/pom.xml's runtime dependencies, resolved once by `npm run kafka:lock`
 * (which needs Maven) into kafka/broker-jars.json, repository path and SHA-256 of each. A run
 * only downloads them from Maven Central and checks them, so Node and Java are all it needs.
 */
type JarLock = { pomSha256: string; jars: { path: string; sha256: string }[] };

const jarLockPath = join(repoRoot, 'kafka', 'broker-jars.json');
const mavenCentral = process.env.TOCSIN_MAVEN_REPOSITORY ?? 'https://repo.maven.apache.org/maven2/';

/** Fetches the broker jars listed in kafka/broker-jars.json unless .kafka/libs already holds that set. */
export async function ensureKafkaJars(): Promise<string> {
  const pomHash = createHash('sha256')
    .update(await readFile(pomPath))
    .digest('hex');
  const lock = JSON.parse(await readFile(jarLockPath, 'utf8')) as JarLock;
  if (lock.pomSha256 !== pomHash) {
    throw new Error(
      'kafka/broker-jars.json does not match kafka/pom.xml: run `npm run kafka:lock` (needs Maven)',
    );
  }
  if ((await readFile(markerFile, 'utf8').catch(() => '')) === pomHash) return libsDir;

  // Fetch into a private folder and rename it into place, so a concurrent start never sees half a set.
  await mkdir(join(repoRoot, '.kafka'), { recursive: true });
  const staging = await mkdtemp(join(repoRoot, '.kafka', 'libs-fetch-'));
  try {
    // A few at a time: Maven Central serves each quickly, and 46 at once only queue.
    const queue = [...lock.jars];
    const fetchOne = async (jar: JarLock['jars'][number]) => {
      const url = new URL(jar.path, mavenCentral);
      let body: Buffer | undefined;
      for (let attempt = 1; body === undefined; attempt++) {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          body = Buffer.from(await response.arrayBuffer());
        } catch (error) {
          if (attempt >= 3)
            throw new Error(`fetching the Kafka broker jar ${url} failed: ${(error as Error).message}`);
        }
      }
      const sha256 = createHash('sha256').update(body).digest('hex');
      if (sha256 !== jar.sha256)
        throw new Error(`the Kafka broker jar ${url} has SHA-256 ${sha256}, not ${jar.sha256}`);
      await writeFile(join(staging, jar.path.slice(jar.path.lastIndexOf('/') + 1)), body);
    };
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        for (let jar = queue.shift(); jar !== undefined; jar = queue.shift()) await fetchOne(jar);
      }),
    );
    await writeFile(join(staging, '.pom-sha256'), pomHash);
    await rm(libsDir, { recursive: true, force: true });
    await rename(staging, libsDir).catch(async (error: unknown) => {
      // Another process may have put an equivalent set in place meanwhile.
      if ((await readFile(markerFile, 'utf8').catch(() => '')) !== pomHash) throw error;
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return libsDir;
}

/** `npm run kafka:lock`: resolves kafka/pom.xml with Maven and writes kafka/broker-jars.json. */
export async function writeKafkaJarLock(): Promise<number> {
  const listFile = join(await mkdtemp(join(tmpdir(), 'tocsin-kafka-lock-')), 'deps.txt');
  const result = await run('mvn', [
    '-B',
    '-q',
    '--no-transfer-progress',
    '-f',
    pomPath,
    'dependency:list',
    '-DincludeScope=runtime',
    '-DoutputAbsoluteArtifactFilename=true',
    `-DoutputFile=${listFile}`,
  ]);
  if (result.code !== 0)
    throw new Error(`mvn dependency:list failed (exit ${result.code}):\n${tail(result.output)}`);
  // Lines: `group:artifact:jar[:classifier]:version:scope:/abs/path/in/local/repository.jar[ -- module …]`.
  const repository = /\/repository\/(.+\.jar)/;
  const jars: JarLock['jars'] = [];
  for (const line of (await readFile(listFile, 'utf8')).split('\n')) {
    const match = repository.exec(line);
    if (match === null) continue;
    const absolute = line.slice(line.indexOf('/'), line.indexOf(match[1]!) + match[1]!.length);
    jars.push({
      path: match[1]!,
      sha256: createHash('sha256')
        .update(await readFile(absolute))
        .digest('hex'),
    });
  }
  jars.sort((a, b) => a.path.localeCompare(b.path));
  const pomSha256 = createHash('sha256')
    .update(await readFile(pomPath))
    .digest('hex');
  await writeFile(jarLockPath, `${JSON.stringify({ pomSha256, jars } satisfies JarLock, null, 2)}\n`);
  return jars.length;
}

/**
 * Starts a fresh broker with its data in a new temporary folder. Resolves once a client can read
 * cluster metadata and use consumer groups; rejects with the end of the broker log when it cannot
 * within the timeout.
 */
export async function startLocalBroker(options: LocalBrokerOptions = {}): Promise<LocalBroker> {
  const classpath = join(await ensureKafkaJars(), '*');
  // Free ports are found by binding and releasing them, so another process may take one before the
  // JVM binds it: retry with new ports when the log says so.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(classpath, options);
    } catch (error) {
      const portTaken = error instanceof Error && /BindException|Address already in use/.test(error.message);
      if (!portTaken || attempt >= 3 || options.port !== undefined) throw error;
    }
  }
}

async function startOnce(classpath: string, options: LocalBrokerOptions): Promise<LocalBroker> {
  const keepDir = options.dir !== undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'tocsin-kafka-')));
  if (keepDir) await mkdir(dir, { recursive: true });
  const removeDir = () => (keepDir ? Promise.resolve() : rm(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'kafka.log');
  const port = options.port ?? (await findFreePort());
  const controllerPort = options.controllerPort ?? (await findFreePort());
  const brokers = `127.0.0.1:${port}`;
  const security = options.secure ? await secureSetup(dir) : undefined;

  await writeFile(
    join(dir, 'server.properties'),
    serverProperties(
      dir,
      port,
      controllerPort,
      { ...security?.properties, ...options.settings },
      security?.listeners,
    ),
  );
  await writeFile(join(dir, 'log4j2.properties'), LOG4J2_PROPERTIES);
  const jvmArgs = [`-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, '-cp', classpath];

  const logFd = openSync(logFile, 'a');
  let exited = false;
  let exitCode: number | null = null;
  let child: ReturnType<typeof spawn>;
  try {
    const formatted = keepDir && existsSync(join(dir, 'data', 'meta.properties'));
    const format = formatted
      ? { code: 0 }
      : await run(
          'java',
          [
            ...jvmArgs,
            'kafka.tools.StorageTool',
            'format',
            '-t',
            newClusterId(),
            '-c',
            'server.properties',
            ...(security?.formatArgs ?? []),
          ],
          { cwd: dir, logFd },
        );
    if (format.code !== 0) {
      throw new Error(
        `formatting the Kafka storage failed (exit ${format.code}):\n${await readTail(logFile)}`,
      );
    }
    // The JVM runs under a small shell (own process group) whose stdin is a pipe from this process:
    // when this process dies, even by SIGKILL, the pipe closes and the shell stops the JVM.
    child = spawn(
      'sh',
      [
        '-c',
        WRAPPER_SCRIPT,
        'tocsin-kafka',
        dir,
        'java',
        `-Xmx${options.heapMb ?? 512}m`,
        '-Xms128m',
        '-XX:+UseG1GC',
        '-XX:MaxGCPauseMillis=20',
        '-XX:+ExitOnOutOfMemoryError',
        '-Djava.awt.headless=true',
        ...jvmArgs,
        'kafka.Kafka',
        'server.properties',
      ],
      { cwd: dir, detached: true, stdio: ['pipe', logFd, logFd] },
    );
  } catch (error) {
    await removeDir();
    throw error;
  } finally {
    closeSync(logFd);
  }

  const exitedPromise = new Promise<void>((resolve) => {
    const onEnd = (code: number | null) => {
      exited = true;
      exitCode = code;
      process.off('exit', killOnExit);
      resolve();
    };
    child.once('exit', onEnd);
    child.once('error', () => onEnd(null)); // could not be spawned
  });
  // stop() was not called (a crashed or interrupted run): kill the whole group synchronously.
  const killOnExit = () => {
    killGroup(child, 'SIGKILL');
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', killOnExit);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
        await exitedPromise;
        clearTimeout(timer);
      }
      await removeDir();
    })();
    return stopping;
  };

  try {
    await waitUntilReady(brokers, options.startTimeoutMs ?? 90_000, () => exited);
  } catch (error) {
    const log = await readTail(logFile);
    await stop();
    const why = exited ? `the broker exited (code ${exitCode})` : (error as Error).message;
    throw new Error(`Kafka broker did not start: ${why}. End of ${logFile}:\n${log}`);
  }
  return { brokers, logFile, ...(security ? { secure: security.listeners } : {}), stop };
}

type SecureSetup = {
  listeners: SecureListeners;
  properties: Record<string, string>;
  /** StorageTool arguments that create the SCRAM credentials in the metadata log. */
  formatArgs: string[];
};

/**
 * Certificates, the user and the listener settings of a secure broker. Kept in its folder, so a
 * broker restarted from the same `dir` keeps its certificates, user and ports.
 */
async function secureSetup(dir: string): Promise<SecureSetup & { listeners: SecureListeners }> {
  const stateFile = join(dir, 'secure.json');
  let listeners: SecureListeners;
  const saved = await readFile(stateFile, 'utf8').catch(() => undefined);
  if (saved !== undefined) {
    listeners = JSON.parse(saved) as SecureListeners;
  } else {
    const tlsDir = join(dir, 'tls');
    await mkdir(tlsDir, { recursive: true });
    const tls: TlsMaterial = await createTlsMaterial(tlsDir);
    listeners = {
      saslSsl: `127.0.0.1:${await findFreePort()}`,
      mutualTls: `127.0.0.1:${await findFreePort()}`,
      username: 'tocsin',
      password: randomBytes(18).toString('base64url'),
      caFile: tls.caFile,
      clientCertFile: tls.client.certFile,
      clientKeyFile: tls.client.keyFile,
      stateFile,
    };
    await writeFile(stateFile, JSON.stringify(listeners, null, 2));
  }
  const { username, password } = listeners;
  const scramLogin = 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  return {
    listeners,
    properties: {
      // Both TLS listeners present the broker certificate and trust the run's CA (PEM stores).
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': join(dir, 'tls', 'broker-keystore.pem'),
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': listeners.caFile,
      'listener.name.ssl.ssl.client.auth': 'required',
      'listener.name.sasl_ssl.sasl.enabled.mechanisms': 'SCRAM-SHA-512,SCRAM-SHA-256,PLAIN',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': scramLogin,
      'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config': scramLogin,
      // PLAIN checks against the users listed in its login module (the same user and password).
      'listener.name.sasl_ssl.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`,
    },
    formatArgs: ['SCRAM-SHA-512', 'SCRAM-SHA-256'].flatMap((mechanism) => [
      '--add-scram',
      `${mechanism}=[name=${username},password=${password}]`,
    ]),
  };
}

async function waitUntilReady(brokers: string, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const kafka = new Kafka({
    clientId: 'tocsin-broker-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 0 },
  });
  for (;;) {
    if (hasExited()) throw new Error('the broker exited');
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      // Also wait for the group coordinator: the first group request creates __consumer_offsets,
      // and until its partition is loaded every consumer's join fails with COORDINATOR_LOAD_IN_PROGRESS.
      if (cluster.brokers.length > 0 && cluster.controller !== null) {
        await admin.describeGroups(['tocsin-broker-probe']);
        return;
      }
    } catch {
      // not listening or not caught up with the metadata log yet
    } finally {
      await admin.disconnect().catch(() => {});
    }
    if (Date.now() > deadline) throw new Error(`no metadata from ${brokers} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function serverProperties(
  dir: string,
  port: number,
  controllerPort: number,
  extra: Record<string, string>,
  secure: SecureListeners | undefined,
): string {
  const tlsListeners = secure === undefined ? '' : `,SASL_SSL://${secure.saslSsl},SSL://${secure.mutualTls}`;
  const settings: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${tlsListeners}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}${tlsListeners}`,
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'listener.security.protocol.map': `PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${secure ? ',SASL_SSL:SASL_SSL,SSL:SSL' : ''}`,
    'log.dirs': join(dir, 'data'),
    // One node: every replication factor and ISR minimum is 1.
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    // One partition, so that the readiness probe's group shows the coordinator of every group loaded.
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'share.coordinator.state.topic.num.partitions': 1,
    // Consumers join at once instead of waiting 3 s for more members.
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': true,
    'delete.topic.enable': true,
    'message.max.bytes': MAX_MESSAGE_BYTES,
    'replica.fetch.max.bytes': MAX_MESSAGE_BYTES,
    'log.cleaner.dedupe.buffer.size': 16 * 1024 * 1024,
    ...extra,
  };
  return `${Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;
}

// Kafka 4 logs through log4j2; without a configuration it would print only errors.
const LOG4J2_PROPERTIES = `status = error
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.storage.name = org.apache.kafka.storage
logger.storage.level = warn
`;

// $1: the broker's folder; the rest: the JVM command. SIGTERM is passed on to the JVM. A watcher
// reads the stdin pipe of the Node parent: EOF while the JVM runs means the parent is gone without
// calling stop(), so it stops the JVM (SIGKILL after 15 s) and the folder is removed. (Node also
// closes the pipe when this shell exits, hence the watcher is ended first.)
const WRAPPER_SCRIPT = `dir=$1; shift
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT HUP
(
  while read -r _ <&3; do :; done
  : > "$dir/.orphaned"
  kill -TERM "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 30 ]; do sleep 0.5; i=$((i + 1)); done
  kill -KILL "$pid" 2>/dev/null
) &
watcher=$!
status=0
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
kill "$watcher" 2>/dev/null
if [ -e "$dir/.orphaned" ]; then rm -rf "$dir"; fi
exit "$status"
`;

function killGroup(child: ReturnType<typeof spawn>, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** A Kafka cluster id: 16 random bytes, base64url without padding, not starting with '-'. */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Ports handed out in this process. A port is found by binding and releasing it, and the OS may
 * offer a just-released port again: two listeners then got one port and the broker refused to
 * format ("two listeners on the same port", seen in a CI run).
 */
const portsHandedOut = new Set<number>();

async function findFreePort(): Promise<number> {
  for (;;) {
    const port = await bindAndRelease();
    if (portsHandedOut.has(port)) continue;
    portsHandedOut.add(port);
    return port;
  }
}

function bindAndRelease(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

type RunResult = { code: number | null; output: string };

/** Runs a command to completion; its output is collected (empty when appended to `logFd`). */
function run(command: string, args: string[], options: { cwd?: string; logFd?: number } = {}) {
  return new Promise<RunResult>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const logged = options.logFd !== undefined;
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      stdio: ['ignore', logged ? options.logFd : 'pipe', logged ? options.logFd : 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(`'${command}' was not found on PATH: the local Kafka broker needs Java 17+ and Maven`)
          : error,
      );
    });
    child.once('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

function tail(text: string, lines = 60): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

async function readTail(file: string, bytes = 16_384): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - bytes);
      const buffer = Buffer.alloc(size - start);
      await handle.read(buffer, 0, buffer.length, start);
      return tail(buffer.toString('utf8'));
    } finally {
      await handle.close();
    }
  } catch {
    return '(no log)';
  }
}
