import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root: the bin runs from here, so fixture paths in messages are relative. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = fileURLToPath(new URL('../../bin/tocsin.js', import.meta.url));

export type CliRun = { code: number | null; stdout: string; stderr: string };

/** Runs `node bin/tocsin.js …args` as a child process, feeding `stdin` when given. */
export function runTocsin(args: string[], stdin?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** Standard output as parsed JSON lines. */
export const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
