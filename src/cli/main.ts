import { readFileSync } from 'node:fs';
import { type CliIo, type Command, exitCodes, UsageError } from './command.ts';

/** One row of the command table: what `tocsin --help` says, and how to load the command. */
type CommandEntry = { summary: string; load(): Promise<Command> };

/**
 * `tocsin <command> [options]`. Add a subcommand by adding a row; each command parses its own
 * options with `node:util` `parseArgs` and resolves to its exit status. Commands load on demand,
 * so `tocsin match` does not pay for the store and HTTP code that `tocsin keys` needs.
 */
export const commands: Record<string, CommandEntry> = {
  match: {
    summary: 'evaluate rules over a JSON Lines file of events and print the alerts',
    load: async () => (await import('./match-command.ts')).matchCommand,
  },
  validate: {
    summary: 'check rule files and print every problem',
    load: async () => (await import('./validate-command.ts')).validateCommand,
  },
  tail: {
    summary: 'stream alerts from a running service to the terminal',
    load: async () => (await import('./tail-command.ts')).tailCommand,
  },
  keys: {
    summary: 'list, create and revoke API keys',
    load: async () => (await import('./keys-command.ts')).keysCommand,
  },
};

/**
 * The version package.json names. Read from the file next to the sources (src/cli → ../../, and
 * the same from dist/cli), so it is the installed package's version, never a copy to keep in step.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return String(manifest.version);
}

export function usageText(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`,
  );
  return [
    'Usage: tocsin <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `tocsin <command> --help` for its options; `tocsin --version` prints the version.',
    '',
  ].join('\n');
}

/** Runs one command line; never throws for a bad command line, resolves to the exit status. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(usageText());
    return exitCodes.ok;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return exitCodes.ok;
  }
  const entry = name === undefined || !Object.hasOwn(commands, name) ? undefined : commands[name];
  if (!entry) {
    if (name !== undefined) io.stderr.write(`tocsin: unknown command "${name}"\n`);
    io.stderr.write(usageText());
    return exitCodes.usage;
  }
  const command = await entry.load();
  if (args.includes('--help') || args.includes('-h')) {
    io.stdout.write(command.usage);
    return exitCodes.ok;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`tocsin ${name}: ${error.message}\n${command.usage}`);
    return exitCodes.usage;
  }
}

/** The `tocsin` bin: process streams, exit status, and a quiet exit when stdout's reader goes away. */
export async function main(argv = process.argv.slice(2)): Promise<void> {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    // `tocsin match … | head`: the reader closed the pipe; what it did not read nobody wants.
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? exitCodes.ok);
    throw error;
  });
  process.exitCode = await runCli(argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
  });
}
