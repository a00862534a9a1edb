import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoRoot, runTocsin } from './run-tocsin.ts';

const manifest = JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8'));

describe('tocsin --version', () => {
  it.each([['--version'], ['-v'], ['version']])('%s prints the version package.json names', async (flag) => {
    const run = await runTocsin([flag]);
    expect(run).toEqual({ code: 0, stdout: `${manifest.version}\n`, stderr: '' });
    expect(manifest.version).toMatch(/^\d+\.\d+\.\d+(?:-[\w.]+)?$/);
  });

  it('is listed in --help', async () => {
    expect((await runTocsin(['--help'])).stdout).toContain('tocsin --version');
  });
});

describe('LICENSE', () => {
  it('is the full text of the license package.json names', () => {
    expect(manifest.license).toBe('Apache-2.0');
    const license = readFileSync(`${repoRoot}LICENSE`, 'utf8');
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
    // The full text, not a notice: all nine sections and the appendix.
    for (const section of [
      '1. Definitions.',
      '4. Redistribution.',
      '9. Accepting Warranty or Additional Liability.',
      'END OF TERMS AND CONDITIONS',
      'APPENDIX: How to apply the Apache License to your work.',
    ])
      expect(license).toContain(section);
  });
});
