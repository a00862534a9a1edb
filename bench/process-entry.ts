/**
 * The processes `bench/process.bench.ts` times, run from the sources (a stale `dist/` must not
 * be what gets measured):
 *
 * - `match <tocsin match options>`: the `tocsin` command itself (src/cli/main.ts).
 * - `floor <events.jsonl>`: what every event costs before any rule: read the lines, parse,
 *   validate, and analyse every string of the default fields, the way `tocsin match` reads.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseEvent } from '../src/ingest/parse-event.ts';
import { analyzeText } from '../src/rules/analyzer.ts';
import { collectValues } from '../src/rules/event-analysis.ts';
import { defaultFields } from '../src/rules/query-ast.ts';

const [mode, ...args] = process.argv.slice(2);
if (mode === 'match') {
  const { main } = await import('../src/cli/main.ts');
  await main(['match', ...args]);
} else if (mode === 'floor' && args[0] !== undefined) {
  let tokens = 0;
  for await (const line of createInterface({ input: createReadStream(args[0]), crlfDelay: Infinity })) {
    if (line === '') continue;
    const event = parseEvent(line);
    for (const field of defaultFields)
      for (const value of collectValues(event, field).values)
        if (typeof value === 'string') tokens += analyzeText(value).terms.length;
  }
  process.stdout.write(`${tokens}\n`);
} else {
  process.stderr.write('usage: process-entry.ts match <options> | floor <events.jsonl>\n');
  process.exitCode = 2;
}
