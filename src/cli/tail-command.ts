import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { loadClientConfig } from '../config.ts';
import { isAppError } from '../errors.ts';
import { severities } from '../rules/rule-schema.ts';
import {
  formatAlertLines,
  type Marker,
  plainMarker,
  type TailedAlert,
  terminalMarker,
} from './alert-line.ts';
import { type CliIo, type Command, exitCodes, UsageError } from './command.ts';

/**
 * `tocsin tail`: the alert stream (`GET /v1/stream`) in a terminal. The server guarantees that a
 * connection opened with `?since=<cursor>` gets every alert after that cursor exactly once, then
 * live ones; so all the client has to keep across a reconnect is the cursor of the last alert it
 * printed. It never compares cursors (they are opaque), it only hands the last one back.
 */
const usage = `Usage: tocsin tail [--url <url>] [--key <api key>] [--rules <a,b>] [--tags <x,y>]
                  [--min-severity <level>] [--since <cursor>] [--json] [--color <when>]

Streams alerts from a running service to the terminal as they arrive, the matched text marked.
When the connection drops (the service restarts or sheds load) it reconnects with backoff and
resumes after the last alert it printed: nothing is missed, nothing is printed twice. Ctrl-C stops.

  --url <url>             the service (default http://127.0.0.1:$PORT; PORT defaults to 8080)
  --key <api key>         an API key (default $TOCSIN_API_KEY)
  --rules <a,b>           only alerts of these rule ids
  --tags <x,y>            only alerts with at least one of these tags
  --min-severity <level>  only this severity or higher: ${severities.join(', ')}
  --since <cursor>        start after this cursor (from --json output or GET /v1/alerts)
  --json                  print each alert message as one JSON line, with its cursor
  --color <when>          mark matches with terminal colours: auto (stdout is a terminal),
                          always or never (then **like this**)

Exit status: 0 stopped by Ctrl-C or SIGTERM, 1 the service refused the key, 2 a usage error.
`;

const options = {
  url: { type: 'string' },
  key: { type: 'string' },
  rules: { type: 'string' },
  tags: { type: 'string' },
  'min-severity': { type: 'string' },
  since: { type: 'string' },
  json: { type: 'boolean', default: false },
  color: { type: 'string', default: 'auto' },
} as const;

/** Reconnect delays: from `firstRetryMs`, doubling to `maxRetryMs`, ±20 % so clients spread out. */
const firstRetryMs = 250;
const maxRetryMs = 5_000;
/** The server's default heartbeat interval (TOCSIN_HEARTBEAT_MS), until two heartbeats tell. */
const defaultHeartbeatMs = 25_000;

type TailOptions = {
  streamUrl: URL;
  key: string;
  since: string | undefined;
  json: boolean;
  marker: Marker;
};

type TailCommandOptions = { env?: Record<string, string | undefined> };

export function createTailCommand(commandOptions: TailCommandOptions = {}): Command {
  return {
    summary: 'stream alerts from a running service to the terminal',
    usage,
    async run(args: string[], io: CliIo): Promise<number> {
      let client: ReturnType<typeof loadClientConfig>;
      try {
        client = loadClientConfig(commandOptions.env);
      } catch (error) {
        if (!isAppError(error, 'TOCSIN_INVALID_CONFIG')) throw error;
        io.stderr.write(`tocsin tail: ${error.message}\n`);
        return exitCodes.usage;
      }
      const tail = parseOptions(args, client, io);
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        return await follow(tail, io, stop.signal);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    },
  };
}

export const tailCommand = createTailCommand();

function parseOptions(args: string[], client: { port: number; apiKey: string | undefined }, io: CliIo) {
  const values = parseFlags(args);
  const key = values.key ?? client.apiKey;
  if (!key) throw new UsageError('an API key is needed: --key <api key> or TOCSIN_API_KEY');

  const base = values.url ?? `http://127.0.0.1:${client.port}`;
  let streamUrl: URL;
  try {
    streamUrl = new URL('v1/stream', base.endsWith('/') ? base : `${base}/`);
  } catch {
    throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8080, got "${base}"`);
  }
  if (streamUrl.protocol !== 'http:' && streamUrl.protocol !== 'https:')
    throw new UsageError(`--url must be an http(s) URL such as http://127.0.0.1:8080, got "${base}"`);
  streamUrl.protocol = streamUrl.protocol === 'https:' ? 'wss:' : 'ws:';

  for (const [flag, param] of [
    ['rules', 'rules'],
    ['tags', 'tags'],
  ] as const) {
    const list = values[flag];
    if (list !== undefined) streamUrl.searchParams.set(param, list);
  }
  const minSeverity = values['min-severity'];
  if (minSeverity !== undefined) {
    if (!(severities as readonly string[]).includes(minSeverity))
      throw new UsageError(`--min-severity must be one of ${severities.join(', ')}, got "${minSeverity}"`);
    streamUrl.searchParams.set('minSeverity', minSeverity);
  }
  const color = values.color;
  if (color !== 'auto' && color !== 'always' && color !== 'never')
    throw new UsageError(`--color must be auto, always or never, got "${color}"`);
  const colored = color === 'always' || (color === 'auto' && io.stdout.isTTY === true);
  return {
    streamUrl,
    key,
    since: values.since,
    json: values.json === true,
    marker: colored ? terminalMarker : plainMarker,
  } satisfies TailOptions;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** How one connection ended: stop for good (with an exit status), or reconnect. */
type Outcome = { exit: number } | { retry: string; connected: boolean };

async function follow(tail: TailOptions, io: CliIo, signal: AbortSignal): Promise<number> {
  let cursor = tail.since;
  let delay = firstRetryMs;
  for (;;) {
    const url = new URL(tail.streamUrl);
    if (cursor !== undefined) url.searchParams.set('since', cursor);
    const outcome = await connectOnce(url, tail, io, signal, (next) => {
      cursor = next;
    });
    if ('exit' in outcome) return outcome.exit;
    if (signal.aborted) return exitCodes.ok;
    if (outcome.connected) delay = firstRetryMs;
    const wait = Math.round(delay * (0.8 + Math.random() * 0.4));
    io.stderr.write(`tocsin tail: ${outcome.retry}; reconnecting in ${(wait / 1000).toFixed(1)} s\n`);
    if (!(await sleep(wait, signal))) return exitCodes.ok;
    delay = Math.min(maxRetryMs, delay * 2);
  }
}

function connectOnce(
  url: URL,
  tail: TailOptions,
  io: CliIo,
  signal: AbortSignal,
  onCursor: (cursor: string) => void,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${tail.key}` } });
    let connected = false;
    let settled = false;
    let heartbeatMs = defaultHeartbeatMs;
    let lastHeartbeat: number | undefined;
    let watchdog: NodeJS.Timeout | undefined;

    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners();
      socket.on('error', () => {}); // a late error of a socket given up on is nobody's business
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
      else socket.terminate();
      resolve(outcome);
    };
    const onAbort = () => finish({ exit: exitCodes.ok });
    signal.addEventListener('abort', onAbort);

    // A connection that went quiet without a close (a dropped network path) is only noticed by
    // its silence: the server pings and sends a heartbeat every interval.
    const heard = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(
        () => finish({ retry: `nothing heard for ${Math.round((3 * heartbeatMs) / 1000)} s`, connected }),
        3 * heartbeatMs,
      );
    };

    socket.on('open', () => {
      connected = true;
      const resume = url.searchParams.get('since');
      io.stderr.write(
        `tocsin tail: connected to ${url.origin}${url.pathname}${resume === null ? '' : `, resuming after ${resume}`}\n`,
      );
      heard();
    });
    socket.on('ping', heard);
    socket.on('message', (data) => {
      heard();
      let message: { type?: string; cursor?: string; alert?: TailedAlert; code?: string; message?: string };
      try {
        message = JSON.parse(data.toString());
      } catch {
        io.stderr.write('tocsin tail: the server sent a message that is not JSON; ignored\n');
        return;
      }
      if (message.type === 'alert' && typeof message.cursor === 'string' && message.alert) {
        io.stdout.write(
          tail.json ? `${JSON.stringify(message)}\n` : formatAlertLines(message.alert, tail.marker),
        );
        onCursor(message.cursor);
      } else if (message.type === 'heartbeat') {
        const now = Date.now();
        if (lastHeartbeat !== undefined) heartbeatMs = Math.max(1_000, now - lastHeartbeat);
        lastHeartbeat = now;
      } else if (message.type === 'error') {
        io.stderr.write(`tocsin tail: the server says ${message.code}: ${message.message}\n`);
      }
    });
    socket.on('unexpected-response', (_request, response) => {
      const status = response.statusCode ?? 0;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < 2_000) body += chunk;
      });
      response.on('end', () => {
        const reason = describeRefusal(body);
        if (status === 401 || status === 403) {
          io.stderr.write(`tocsin tail: the service refused the API key (HTTP ${status})${reason}\n`);
          finish({ exit: exitCodes.rejectedInput });
        } else if (status === 400) {
          io.stderr.write(`tocsin tail: the service refused the request (HTTP 400)${reason}\n`);
          finish({ exit: exitCodes.usage });
        } else {
          finish({ retry: `the service answered HTTP ${status}${reason}`, connected });
        }
      });
      response.on('error', () => finish({ retry: `the service answered HTTP ${status}`, connected }));
    });
    socket.on('close', (code, reason) => {
      const text = reason.toString();
      finish({ retry: `connection closed (${code}${text ? `: ${text}` : ''})`, connected });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      finish({ retry: `cannot reach ${url.host} (${error.code ?? error.message})`, connected });
    });
  });
}

/** `: <message>` from the service's error body, when it has one. */
function describeRefusal(body: string): string {
  try {
    const message = JSON.parse(body)?.error?.message;
    return typeof message === 'string' ? `: ${message}` : '';
  } catch {
    return '';
  }
}

/** Resolves true after `ms`, or false at once when the signal aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
