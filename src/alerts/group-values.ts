/**
 * The threshold groups an event belongs to: the distinct values at the rule's `groupBy` dot path
 * (shared/spec/rule-language.md, "Stateful conditions").
 *
 * Arrays are flattened at every level, as everywhere in the rule language. Values compare
 * exactly as they are, numbers by their JSON text, so the key of a value is its JSON text:
 * the string `"4"` (key `"\"4\""`) and the number `4` (key `4`) are different groups, while
 * `1` and `1.0` (both JSON text `1`) are one. A missing value, `null` or the empty string is no
 * value (the same notion of "present" as `_exists_`), so it counts in no group.
 */

/** One group of an event: `key` identifies it in the engine's state, `label` is what an alert shows. */
export type GroupValue = { key: string; label: string };

/** The distinct values at `path` in `event`, in the order they first appear. */
export function groupValuesOf(event: unknown, path: string): GroupValue[] {
  const found: GroupValue[] = [];
  const seen = new Set<string>();
  const collect = (value: unknown): void => {
    if (value === undefined || value === null || value === '') return;
    if (Array.isArray(value)) {
      for (const item of value) collect(item);
      return;
    }
    const key = JSON.stringify(value);
    if (key === undefined || seen.has(key)) return;
    seen.add(key);
    found.push({ key, label: typeof value === 'string' ? value : key });
  };
  const walk = (value: unknown, segments: readonly string[], at: number): void => {
    if (at === segments.length) {
      collect(value);
      return;
    }
    if (Array.isArray(value)) {
      for (const item of value) walk(item, segments, at);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const segment = segments[at]!;
    if (!Object.hasOwn(value, segment)) return;
    walk((value as Record<string, unknown>)[segment], segments, at + 1);
  };
  walk(event, path.split('.'), 0);
  return found;
}
