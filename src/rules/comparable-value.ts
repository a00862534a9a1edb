/**
 * What comparisons and ranges compare (shared/spec/rule-language.md, "Comparison"): numbers
 * when both sides are numbers (a string counts when it is a plain decimal such as `4` or
 * `-0.5`), else instants when both sides are ISO 8601 dates or date-times (a date alone is
 * midnight UTC, a date-time without offset is UTC), else nothing.
 * The patterns below have no nested quantifiers: they run in linear time on any input.
 */

const plainDecimal = /^-?[0-9]+(?:\.[0-9]+)?$/;
const isoDateTime =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$/;

/** The number a plain decimal string denotes, else undefined. */
export function parsePlainNumber(text: string): number | undefined {
  return plainDecimal.test(text) ? Number(text) : undefined;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Milliseconds since the epoch of an ISO 8601 date or date-time, else undefined. */
export function parseInstant(text: string): number | undefined {
  if (text.length < 10 || text.length > 40) return undefined;
  const m = isoDateTime.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone !== undefined && zone !== 'Z' && zone !== 'z') {
    const digits = zone.slice(1).replace(':', '');
    const hours = Number(digits.slice(0, 2));
    const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
    if (hours > 23 || minutes > 59) return undefined;
    offsetMinutes = (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, millis);
  return utc.getTime() - offsetMinutes * 60_000;
}

/** An event value as a number, when it is a number or a plain decimal string. */
export function valueAsNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return parsePlainNumber(value);
  return undefined;
}

/** An event value as an instant, when it is an ISO 8601 date or date-time string. */
export function valueAsInstant(value: unknown): number | undefined {
  return typeof value === 'string' ? parseInstant(value) : undefined;
}
