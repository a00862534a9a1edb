import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  type Node,
  parseAllDocuments,
  Scalar,
  type YAMLMap,
} from 'yaml';
import { checkRule, type Position, type RuleLocator } from './compile-rule.ts';
import type { CompiledRule } from './compiled-rule.ts';
import { invalidRulesError, type RuleProblem } from './rule-problems.ts';

/**
 * Rule files (shared/spec/rule-language.md, "A rule"; shared/spec/contracts.md, `tocsin match`):
 * a file holds one rule or a YAML list of rules (JSON files too: YAML 1.2 reads JSON, and gives
 * positions). A directory means every `*.yaml`, `*.yml` and `*.json` directly in it, in sorted
 * name order. YAML 1.2 core schema (the `yaml` package's default), so `yes` and `2026-07-01`
 * stay strings. Every problem of every file is collected before anything is rejected, so one
 * run of `tocsin validate` shows them all; two rules with the same id, in one file or two, are
 * a problem.
 */

const ruleFileName = /\.(?:ya?ml|json)$/;

export type RuleFileResult = {
  rules: CompiledRule[];
  /** Every rule id the file declares, valid rule or not, with where its rule starts. */
  ids: { id: string; position: Position | undefined }[];
  problems: RuleProblem[];
};

/** The rule files a path names: itself, or the rule files directly in it, sorted by name. */
async function ruleFilesAt(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const files: string[] = [];
  for (const entry of await readdir(path, { withFileTypes: true })) {
    if (!ruleFileName.test(entry.name)) continue;
    const file = join(path, entry.name);
    if (entry.isFile() || (entry.isSymbolicLink() && (await stat(file)).isFile())) files.push(file);
  }
  // Code-unit order, not locale order: the same on every machine.
  return files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function positionAt(lineStarts: readonly number[], offset: number): Position {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (lineStarts[middle]! <= offset) low = middle;
    else high = middle - 1;
  }
  return { line: low + 1, column: offset - lineStarts[low]! + 1 };
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * Maps an offset of a scalar's string value to an offset of the file. Folding, indentation and
 * escapes change the white space and the quoting, never the order of the other characters, so
 * they are matched one by one; an escape the walk cannot follow gives up (undefined).
 */
function sourceOffsetOf(scalar: Scalar, source: string, offset: number): number | undefined {
  const value = scalar.value;
  if (typeof value !== 'string' || scalar.range === undefined || scalar.range === null) return undefined;
  let at = scalar.range[0];
  const end = scalar.range[1];
  if (scalar.type === Scalar.BLOCK_FOLDED || scalar.type === Scalar.BLOCK_LITERAL) {
    at = source.indexOf('\n', at) + 1;
    if (at === 0) return undefined;
  } else if (scalar.type === Scalar.QUOTE_DOUBLE || scalar.type === Scalar.QUOTE_SINGLE) {
    at++;
  }
  let afterLast = at;
  for (let k = 0; k < value.length && k <= offset; k++) {
    const c = value[k]!;
    if (isSpace(c)) {
      if (k === offset) return afterLast;
      continue;
    }
    while (at < end && source[at] !== c) at++;
    if (at >= end) return undefined;
    if (k === offset) return at;
    afterLast = ++at;
  }
  return afterLast;
}

function locatorFor(node: YAMLMap, source: string, lineStarts: readonly number[]): RuleLocator {
  const ruleStart = node.range?.[0];
  return {
    queryOffset(offset) {
      const query = node.get('query', true);
      if (!isScalar(query)) return undefined;
      const at = sourceOffsetOf(query, source, offset);
      return at === undefined ? undefined : positionAt(lineStarts, at);
    },
    path(path, atKey = false) {
      const at = (target: Node | null | undefined) => {
        const start = target?.range?.[0] ?? ruleStart;
        return start === undefined ? undefined : positionAt(lineStarts, start);
      };
      if (path.length === 0) return at(node);
      const parent = path.length === 1 ? node : node.getIn(path.slice(0, -1), true);
      const last = path.at(-1);
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === last);
        if (pair !== undefined) return at((atKey ? pair.key : (pair.value ?? pair.key)) as Node);
      }
      if (isSeq(parent) && typeof last === 'number') return at(parent.items[last] as Node);
      return at(isMap(parent) || isSeq(parent) ? parent : node);
    },
  };
}

function yamlMessage(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** Parses and compiles the rules of one file's text; `file` names it in problems. */
export function parseRuleFile(text: string, file: string): RuleFileResult {
  const rules: CompiledRule[] = [];
  const ids: RuleFileResult['ids'] = [];
  const problems: RuleProblem[] = [];
  const lineStarts = lineStartsOf(text);
  const documents = parseAllDocuments(text) as Document.Parsed[] | [];
  for (const document of documents) {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        problems.push({ file, ...positionAt(lineStarts, error.pos[0]), message: yamlMessage(error.message) });
      }
      continue;
    }
    const contents = document.contents;
    if (contents === null) continue;
    const nodes: Node[] = isSeq(contents) ? (contents.items as Node[]) : [contents];
    let values: unknown[];
    try {
      values = isSeq(contents) ? (document.toJS() as unknown[]) : [document.toJS()];
    } catch (error) {
      // The yaml package refuses to expand aliases past a limit (an alias bomb: a few lines
      // that expand to billions of nodes) with a ReferenceError; it is a problem of the file.
      problems.push({
        file,
        ...positionAt(lineStarts, contents.range?.[0] ?? 0),
        message: `cannot read the YAML: ${yamlMessage((error as Error).message)}`,
      });
      continue;
    }
    nodes.forEach((node, i) => {
      const value = values[i];
      if (!isMap(node)) {
        const start = node?.range?.[0] ?? 0;
        problems.push({
          file,
          ...positionAt(lineStarts, start),
          message: 'expected a rule (a mapping with id, name and query) or a list of rules',
        });
        return;
      }
      const locator = locatorFor(node, text, lineStarts);
      const id = (value as { id?: unknown }).id;
      if (typeof id === 'string') ids.push({ id, position: locator.path?.([]) });
      const checked = checkRule(value, file, locator);
      if (checked.ok) rules.push(checked.rule);
      else problems.push(...checked.problems);
    });
  }
  return { rules, ids, problems };
}

/** Every rule and every problem under a path (a rule file, or a directory of them). */
export async function readRules(path: string): Promise<RuleFileResult> {
  const rules: CompiledRule[] = [];
  const ids: RuleFileResult['ids'] = [];
  const problems: RuleProblem[] = [];
  let files: string[];
  try {
    files = await ruleFilesAt(path);
  } catch (error) {
    return { rules, ids, problems: [{ file: path, message: `cannot read: ${(error as Error).message}` }] };
  }
  const firstSeen = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push({ file, message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    const result = parseRuleFile(text, file);
    rules.push(...result.rules);
    ids.push(...result.ids);
    problems.push(...result.problems);
    for (const { id, position } of result.ids) {
      const first = firstSeen.get(id);
      if (first === undefined) {
        firstSeen.set(id, position === undefined ? file : `${file}:${position.line}`);
        continue;
      }
      problems.push({
        file,
        ruleId: id,
        ...position,
        message: `duplicate rule id, first defined at ${first}`,
      });
    }
  }
  const fileOrder = (problem: RuleProblem) => files.indexOf(problem.file);
  problems.sort((a, b) => fileOrder(a) - fileOrder(b) || (a.line ?? 0) - (b.line ?? 0));
  return { rules, ids, problems };
}

/** The problems of the rules under a path, for `tocsin validate`; empty when all is well. */
export async function validateRules(path: string): Promise<RuleProblem[]> {
  return (await readRules(path)).problems;
}

/**
 * Loads the rules under a path in load order (files sorted by name, rules in file order).
 * Throws one `AppError('TOCSIN_INVALID_RULE')` listing every problem (`details.problems`), one per line.
 */
export async function loadRules(path: string): Promise<CompiledRule[]> {
  const { rules, problems } = await readRules(path);
  if (problems.length > 0) throw invalidRulesError(problems);
  return rules;
}
