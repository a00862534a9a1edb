import type { Readable, Writable } from 'node:stream';

/** The process streams a command talks to; tests may pass their own. */
export type CliIo = {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
};

/** One `tocsin <name>` subcommand. `run` resolves to the exit status. */
export type Command = {
  /** One line for `tocsin --help`. */
  summary: string;
  /** The synopsis and options, printed by `tocsin <name> --help` and on a usage error. */
  usage: string;
  run(args: string[], io: CliIo): Promise<number>;
};

/** Exit statuses shared by every command (shared/spec/contracts.md, `tocsin match`). */
export const exitCodes = { ok: 0, rejectedInput: 1, usage: 2 } as const;

/** A bad command line: the runner prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
