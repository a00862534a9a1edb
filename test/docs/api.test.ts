import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { webhookHeaders } from '../../src/delivery/webhook/webhook-signature.ts';
import { streamCloseCodes, streamErrorCodes } from '../../src/delivery/websocket/stream-messages.ts';
import { repoRoot } from '../cli/run-tocsin.ts';

// docs/api.md states the WebSocket and webhook contracts in prose and tables; the codes and
// headers it lists are compared here with the ones the code uses, both ways, so a new close
// code or error code has to be documented (add a row to docs/api.md when this fails).

const doc = readFileSync(`${repoRoot}docs/api.md`, 'utf8');
/** The first-column values (`code`) of the table rows under a heading's text. */
function firstColumn(after: string): string[] {
  const start = doc.indexOf(after);
  expect(start, `"${after}" in docs/api.md`).toBeGreaterThanOrEqual(0);
  const lines = doc.slice(start).split('\n');
  const table = lines.slice(lines.findIndex((line) => line.startsWith('|')));
  return table
    .slice(
      0,
      table.findIndex((line) => !line.startsWith('|')),
    )
    .slice(2)
    .map((line) => /^\| `([^`]+)`/.exec(line)?.[1] ?? line);
}

describe('docs/api.md', () => {
  it('lists every stream close code the server uses, and only those', () => {
    // The named codes, and any code a stream source closes with as a literal (e.g. 1011).
    const dir = `${repoRoot}src/delivery/websocket/`;
    const literals = readdirSync(dir).flatMap((file) =>
      [...readFileSync(dir + file, 'utf8').matchAll(/\.close\((\d{4})\b/g)].map((match) => Number(match[1])),
    );
    const used = [...new Set([...Object.values(streamCloseCodes), ...literals])].map(String).sort();
    expect(firstColumn('**Close codes:**').sort()).toEqual(used);
  });

  it('lists every stream error code, and only those', () => {
    expect(firstColumn('| error code |').sort()).toEqual(Object.keys(streamErrorCodes).sort());
  });

  it('names the webhook headers the sender sets', () => {
    const headers = Object.keys(
      webhookHeaders(['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], 'dlv_1', 1, 'body'),
    );
    expect(firstColumn('| header | value |').sort()).toEqual(headers.sort());
  });

  it('stays in the repository', () => {
    expect(doc).not.toMatch(/shared\/spec|\.\.\/shared/);
  });
});
