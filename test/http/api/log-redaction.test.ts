import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('request logging', () => {
  it('never writes an API key, a ?token=/?key=/… value or a /u/ token, even for refused requests', async () => {
    // Shaped like a real key, so that a key sent under any parameter name is recognised.
    const key = `tk_${'k'.repeat(43)}`;
    const token = 'stream-token-that-must-not-be-logged';
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'log-probe.ts'), key, token],
      { cwd: join(import.meta.dirname, '../../..') },
    );
    const lines = stdout.trim().split('\n');
    // Request logging is on: the probe's requests are there, with their URLs.
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(stdout).toContain('/v1/probe?token=[redacted]&rules=a');
    expect(stdout).toContain('/v1/probe?key=[redacted]&rules=a');
    expect(stdout).toContain('/v1/probe?api_key=[redacted]&rules=a');
    expect(stdout).toContain('/v1/probe?rules=[redacted]');
    expect(stdout).toContain('"url":"/u/[redacted]"');
    expect(stdout + stderr).not.toContain(key);
    expect(stdout + stderr).not.toContain(token);
  });
});
