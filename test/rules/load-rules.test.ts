import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../src/errors.ts';
import { compileRule } from '../../src/rules/compile-rule.ts';
import { loadRules, validateRules } from '../../src/rules/load-rules.ts';
import type { RuleProblem } from '../../src/rules/rule-problems.ts';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tocsin-rules-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(contents: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text);
}

async function loadError(path: string): Promise<{ message: string; problems: RuleProblem[] }> {
  try {
    await loadRules(path);
  } catch (error) {
    if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
    return { message: error.message, problems: (error.details as { problems: RuleProblem[] }).problems };
  }
  throw new Error('loadRules did not fail');
}

describe('loadRules', () => {
  it('loads every rule file of a directory in sorted name order, rules in file order', async () => {
    await files({
      'b.yaml': '- id: b-one\n  name: B1\n  query: japan\n- id: b-two\n  name: B2\n  query: india\n',
      'a.yml': 'id: a-one\nname: A1\nquery: china\n',
      'c.json': '[{"id": "c-one", "name": "C1", "query": "title:\\"rare earth\\""}]',
      'README.md': 'not a rule',
      'notes.txt': 'id: x',
    });
    const rules = await loadRules(dir);
    expect(rules.map((r) => r.id)).toEqual(['a-one', 'b-one', 'b-two', 'c-one']);
    expect(rules[0]!.origin).toBe(join(dir, 'a.yml'));
    expect(rules[3]!.query).toEqual({
      kind: 'text',
      field: 'title',
      words: [
        { token: 'rare', prefix: false },
        { token: 'earth', prefix: false },
      ],
    });
  });

  it('loads a single file and applies defaults and durations', async () => {
    await files({
      'rule.yaml': [
        'id: rare-earth-export-controls',
        'name: Rare-earth export-control change',
        'tags: [critical-minerals, trade-policy]',
        'query: >',
        '  ("rare earth*" OR commodities:(dysprosium OR neodymium))',
        '  AND ("export control*" OR "export licen*" OR "export ban*")',
        '  AND NOT category:opinion',
        'threshold: {count: 3, within: 24h, groupBy: entities.name}',
        'throttle: 6h',
        '',
      ].join('\n'),
    });
    const [rule] = await loadRules(join(dir, 'rule.yaml'));
    expect(rule!.definition).toMatchObject({
      severity: 'medium',
      enabled: true,
      tags: ['critical-minerals', 'trade-policy'],
    });
    expect(rule!.withinMs).toBe(24 * 3_600_000);
    expect(rule!.throttleMs).toBe(6 * 3_600_000);
  });

  it('reads YAML 1.2: yes and dates stay strings', async () => {
    await files({ 'r.yaml': 'id: r\nname: yes\ntags: [yes, no, 2026-07-01, on]\nquery: x\n' });
    const [rule] = await loadRules(dir);
    expect(rule!.definition.name).toBe('yes');
    expect(rule!.definition.tags).toEqual(['yes', 'no', '2026-07-01', 'on']);
  });

  it('reads several YAML documents in one file', async () => {
    await files({ 'r.yaml': 'id: one\nname: One\nquery: x\n---\nid: two\nname: Two\nquery: y\n' });
    expect((await loadRules(dir)).map((r) => r.id)).toEqual(['one', 'two']);
  });

  it('loads an empty directory and an empty file as no rules', async () => {
    expect(await loadRules(dir)).toEqual([]);
    await files({ 'empty.yaml': '' });
    expect(await loadRules(dir)).toEqual([]);
  });

  it('rejects duplicate ids, in one file or across files', async () => {
    await files({
      'a.yaml': 'id: same\nname: A\nquery: x\n',
      'b.yaml':
        '- id: other\n  name: B\n  query: x\n- id: other\n  name: B again\n  query: y\n- id: same\n  name: C\n  query: z\n',
    });
    const { problems, message } = await loadError(dir);
    expect(problems).toEqual([
      {
        file: join(dir, 'b.yaml'),
        ruleId: 'other',
        line: 4,
        column: 3,
        message: `duplicate rule id, first defined at ${join(dir, 'b.yaml')}:1`,
      },
      {
        file: join(dir, 'b.yaml'),
        ruleId: 'same',
        line: 7,
        column: 3,
        message: `duplicate rule id, first defined at ${join(dir, 'a.yaml')}:1`,
      },
    ]);
    expect(message.split('\n')).toEqual([
      `${join(dir, 'b.yaml')}:4:3: other: duplicate rule id, first defined at ${join(dir, 'b.yaml')}:1`,
      `${join(dir, 'b.yaml')}:7:3: same: duplicate rule id, first defined at ${join(dir, 'a.yaml')}:1`,
    ]);
  });

  it('collects every problem of every file, each with file, rule id, line and column', async () => {
    await files({
      'a.yaml': [
        '- id: bad-query',
        '  name: Bad query',
        '  query: >',
        '    ("rare earth*" OR commodities:(dysprosium OR neodymium))',
        '    AND ("export control*" OR li*)',
        '- id: bad-fields',
        '  name: Bad fields',
        '  severity: urgent',
        '  colour: red',
        '  query: japan',
        '',
      ].join('\n'),
      'b.json': '{"id": "json-rule", "name": "J", "query": "title:\\"x y\\" AND (a OR"}',
      'c.yaml': 'id: broken\nname: [unclosed\n',
      'd.yaml': 'id: Not_Valid\nquery: "a NEAR/1 b NEAR/1 c"\n',
      'e.yaml': '- just a string\n',
    });
    const { problems, message } = await loadError(dir);
    const file = (name: string) => join(dir, name);
    expect(problems).toEqual([
      {
        file: file('a.yaml'),
        ruleId: 'bad-query',
        line: 5,
        column: 31,
        message: 'query: expected at least 3 letters or digits before "*", found "li*"',
      },
      {
        file: file('a.yaml'),
        ruleId: 'bad-fields',
        line: 8,
        column: 13,
        message: expect.stringContaining('severity: Invalid option'),
      },
      {
        file: file('a.yaml'),
        ruleId: 'bad-fields',
        line: 9,
        column: 3,
        message: expect.stringContaining('colour'),
      },
      {
        file: file('b.json'),
        ruleId: 'json-rule',
        line: 1,
        column: 67,
        message: expect.stringContaining('query: expected a clause'),
      },
      {
        file: file('c.yaml'),
        line: expect.any(Number),
        column: expect.any(Number),
        message: expect.any(String),
      },
      {
        file: file('d.yaml'),
        ruleId: 'Not_Valid',
        line: 1,
        column: 5,
        message: expect.stringContaining('id: lower-case letters'),
      },
      {
        file: file('d.yaml'),
        ruleId: 'Not_Valid',
        line: 1,
        column: 1,
        message: expect.stringContaining('name:'),
      },
      {
        file: file('d.yaml'),
        ruleId: 'Not_Valid',
        line: 2,
        column: 20,
        message: expect.stringContaining('not a second NEAR'),
      },
      {
        file: file('e.yaml'),
        line: 1,
        column: 3,
        message: 'expected a rule (a mapping with id, name and query) or a list of rules',
      },
    ]);
    expect(message.split('\n')).toHaveLength(problems.length);
    expect(message).toContain(
      `${file('a.yaml')}:5:31: bad-query: query: expected at least 3 letters or digits before "*"`,
    );
    expect(await validateRules(dir)).toEqual(problems);
  });

  it('places query errors in the file for every YAML scalar style', async () => {
    const cases: [string, string, number, number][] = [
      ['plain.yaml', 'id: p\nname: P\nquery: japan AND (india\n', 3, 24],
      ['plain-multiline.yaml', 'id: p\nname: P\nquery: japan AND\n  (india OR\n  china\n', 5, 8],
      ['single.yaml', "id: p\nname: P\nquery: 'it''s AND )'\n", 3, 19],
      ['double.yaml', 'id: p\nname: P\nquery: "\\"a b\\" AND )"\n', 3, 21],
      ['literal.yaml', 'id: p\nname: P\nquery: |\n  japan\n  AND li*\n', 5, 7],
      ['folded.yaml', 'id: p\nname: P\nquery: >-\n  japan AND\n\n  ab*\n', 6, 3],
    ];
    for (const [name, text, line, column] of cases) {
      await files({ [name]: text });
      const problems = await validateRules(join(dir, name));
      expect(problems, name).toHaveLength(1);
      expect([problems[0]!.line, problems[0]!.column], name).toEqual([line, column]);
    }
  });

  it('bounds throttle and threshold windows to 365d', async () => {
    await files({
      'long.yaml': [
        '- {id: long-throttle, name: T, query: copper, throttle: 99999999d}',
        '- {id: long-window, name: W, query: copper, threshold: {count: 2, within: 366d}}',
        '- {id: year, name: Y, query: copper, throttle: 365d, threshold: {count: 2, within: 8760h}}',
      ].join('\n'),
    });
    const { problems } = await loadError(dir);
    expect(problems.map((problem) => [problem.ruleId, problem.message])).toEqual([
      ['long-throttle', expect.stringMatching(/throttle: a duration of at most 365d/)],
      ['long-window', expect.stringMatching(/threshold\.within: a duration of at most 365d/)],
    ]);
  });

  it('reports a path that does not exist', async () => {
    const problems = await validateRules(join(dir, 'missing'));
    expect(problems).toEqual([
      { file: join(dir, 'missing'), message: expect.stringContaining('cannot read') },
    ]);
  });
});

describe('compileRule', () => {
  it('compiles a rule from the API', () => {
    const rule = compileRule({ id: 'api-rule', name: 'API', query: 'japan', throttle: '90s' }, 'api');
    expect(rule).toMatchObject({ id: 'api-rule', origin: 'api', throttleMs: 90_000 });
  });

  it('gives query positions relative to the query when there is no file', () => {
    try {
      compileRule({ id: 'api-rule', name: 'API', query: 'japan AND\n(li*)' }, 'body');
      expect.unreachable();
    } catch (error) {
      if (!isAppError(error, 'TOCSIN_INVALID_RULE')) throw error;
      expect(error.message).toBe(
        'body: api-rule: query: expected at least 3 letters or digits before "*", found "li*" (at 2:2 of the query)',
      );
      expect(error.details).toEqual({
        problems: [
          { file: 'body', ruleId: 'api-rule', queryLine: 2, queryColumn: 2, message: expect.any(String) },
        ],
      });
    }
  });

  it('rejects what is not a rule', () => {
    expect(() => compileRule('japan', 'api')).toThrow(/api: /);
    expect(() => compileRule({ id: 'x', name: 'x', query: '' }, 'api')).toThrow(/query/);
    expect(() => compileRule({ id: 'x', name: 'x', query: 'x', throttle: '6 hours' }, 'api')).toThrow(
      /throttle/,
    );
  });
});
