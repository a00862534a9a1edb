import cliProgress from 'cli-progress';
import type { CliIo } from './command.ts';

/** Progress of a long run, and the stderr lines written meanwhile. */
export type Progress = {
  /** `bytes` read so far (when the total is known), events and alerts seen so far. */
  update(counts: { bytes: number; events: number; alerts: number }): void;
  /** Writes one line to stderr (without its newline) above the bar. */
  log(line: string): void;
  stop(): void;
};

/**
 * A bar on stderr only when stderr is a terminal, so pipes, files and tests see nothing but
 * the reported lines. By bytes when the input's size is known, else a running count.
 */
export function createProgress(stderr: CliIo['stderr'], totalBytes: number | undefined): Progress {
  if (!stderr.isTTY) {
    return {
      update() {},
      log: (line) => stderr.write(`${line}\n`),
      stop() {},
    };
  }
  const known = totalBytes !== undefined && totalBytes > 0;
  const bars = new cliProgress.MultiBar(
    {
      stream: stderr,
      hideCursor: true,
      clearOnComplete: true,
      format: known
        ? '{bar} {percentage}% | {events} events, {alerts} alerts | ETA {eta_formatted}'
        : '{events} events, {alerts} alerts | {duration_formatted}',
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(known ? totalBytes : 1, 0, { events: 0, alerts: 0 });
  return {
    update: ({ bytes, events, alerts }) => bar.update(known ? bytes : 0, { events, alerts }),
    log: (line) => bars.log(`${line}\n`),
    stop: () => {
      // Lines logged since the last redraw are only written by a redraw: flush them first.
      bars.update();
      bars.stop();
    },
  };
}
