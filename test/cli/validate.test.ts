import { describe, expect, it } from 'vitest';
import { runTocsin } from './run-tocsin.ts';

describe('tocsin validate', () => {
  it('says how many rules are OK and exits 0', async () => {
    const run = await runTocsin(['validate', 'test/fixtures/cli/rules']);
    expect(run).toEqual({ code: 0, stdout: '3 rules OK\n', stderr: '' });
  });

  it("validates the project's own rules", async () => {
    const run = await runTocsin(['validate', 'rules']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\d+ rules? OK\n$/);
  });

  it('prints every problem of every file, one per line, with file:line:column and rule id, and exits 2', async () => {
    const run = await runTocsin(['validate', 'test/fixtures/cli/problem-rules']);
    expect(run.code).toBe(2);
    const [a, b] = ['a-list.yaml', 'b-duplicate.json'].map(
      (file) => `test/fixtures/cli/problem-rules/${file}`,
    );
    const lines = run.stdout.trim().split('\n');
    expect(lines.map((line) => line.split(': ').slice(0, 3).join(': '))).toEqual([
      `${a}:1:7: Bad_Id: id`,
      `${a}:6:21: short-prefix: query`,
      `${a}:7:13: short-prefix: throttle`,
      `${b}:1:80: duplicated: severity`,
      `${b}:1:1: duplicated: duplicate rule id, first defined at ${a}:8`,
      '5 problems',
    ]);
  });

  it('refuses a YAML alias bomb with one line and exit 2, no stack trace', async () => {
    const run = await runTocsin(['validate', 'test/fixtures/cli/alias-bomb']);
    expect(run).toEqual({
      code: 2,
      stdout:
        'test/fixtures/cli/alias-bomb/bomb.yaml:2:1: cannot read the YAML: Excessive alias count indicates a resource exhaustion attack\n1 problem\n',
      stderr: '',
    });
  });

  it('reports a query error at its line and column in the file', async () => {
    const run = await runTocsin(['validate', 'test/fixtures/cli/invalid-rules/bad-query.yaml']);
    expect(run.code).toBe(2);
    expect(run.stdout).toMatch(
      /^test\/fixtures\/cli\/invalid-rules\/bad-query\.yaml:4:25: unbalanced-query: query: expected "\)"/,
    );
  });

  it.each([[['validate']], [['validate', 'a', 'b']], [['validate', '--strict', 'rules']]])(
    'exits 2 on a usage error: %j',
    async (args) => {
      const run = await runTocsin(args);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('Usage: tocsin validate');
    },
  );
});
