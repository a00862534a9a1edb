import { type AnalyzedText, analyzeText } from './analyzer.ts';

/**
 * The values of one field of one event (a dot path, arrays flattened at every level), with
 * their analyses made on first use. One `EventAnalysis` lives for one event, so the rule
 * index and every rule it evaluates share a single analysis of each string value.
 */
export type FieldValues = {
  readonly path: string;
  /** Every value at the path, arrays flattened, in document order; `undefined` is left out. */
  readonly values: readonly unknown[];
  /** True when an array was crossed: explanations then carry the value's `index`. */
  readonly isArray: boolean;
  /** `analysed[i]` is the analysis of `values[i]` once made (string values only). */
  readonly analysed: (AnalyzedText | undefined)[];
};

export type EventAnalysis = {
  readonly event: object;
  field(path: string): FieldValues;
  /** The analysis of `field.values[index]`, or undefined when that value is not a string. */
  analysedValue(field: FieldValues, index: number): AnalyzedText | undefined;
};

/** Arrays nested deeper than this inside one field are not looked into (a guard for hostile JSON). */
const maxArrayNesting = 64;

const splitPaths = new Map<string, readonly string[]>();

function segmentsOf(path: string): readonly string[] {
  let segments = splitPaths.get(path);
  if (segments === undefined) {
    segments = path.split('.');
    splitPaths.set(path, segments);
  }
  return segments;
}

type Collector = { values: unknown[]; isArray: boolean };

function collect(
  value: unknown,
  segments: readonly string[],
  at: number,
  into: Collector,
  nesting: number,
): void {
  if (Array.isArray(value)) {
    into.isArray = true;
    if (nesting >= maxArrayNesting) return;
    for (const item of value) collect(item, segments, at, into, nesting + 1);
    return;
  }
  if (at === segments.length) {
    if (value !== undefined) into.values.push(value);
    return;
  }
  // Own properties only: `constructor` or `__proto__` in a rule must not reach the prototype.
  const key = segments[at]!;
  if (value !== null && typeof value === 'object' && Object.hasOwn(value, key)) {
    collect((value as Record<string, unknown>)[key], segments, at + 1, into, nesting);
  }
}

/** The values at a dot path, arrays flattened at every level. */
export function collectValues(event: object, path: string): { values: unknown[]; isArray: boolean } {
  const into: Collector = { values: [], isArray: false };
  collect(event, segmentsOf(path), 0, into, 0);
  return into;
}

export function createEventAnalysis(event: object): EventAnalysis {
  const fields = new Map<string, FieldValues>();
  return {
    event,
    field(path) {
      let field = fields.get(path);
      if (field === undefined) {
        const { values, isArray } = collectValues(event, path);
        field = { path, values, isArray, analysed: new Array(values.length) };
        fields.set(path, field);
      }
      return field;
    },
    analysedValue(field, index) {
      let analysed = field.analysed[index];
      if (analysed === undefined) {
        const value = field.values[index];
        if (typeof value !== 'string') return undefined;
        analysed = analyzeText(value);
        field.analysed[index] = analysed;
      }
      return analysed;
    },
  };
}
