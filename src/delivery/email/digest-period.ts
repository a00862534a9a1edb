import { DateTime } from 'luxon';

/**
 * Digest periods, in the subscriber's time zone (luxon, IANA zone rules):
 *
 * - `hourly`: local clock hours. In a zone with a half-hour offset (Asia/Kolkata) they start
 *   at :30 UTC. Across a DST change the periods stay one real hour long: the repeated hour of
 *   an autumn change is two periods, the skipped hour of a spring change none.
 * - `daily`: from one local `dailyHour:00` to the next. Across a DST change the period is 23
 *   or 25 real hours long, so the digest leaves at 08:00 local on both sides of it. When the
 *   hour does not exist that day (02:00 on a spring change) it is the first instant after the
 *   gap (03:00); when it exists twice (autumn), the second of the two (luxon's reading of an
 *   ambiguous local time; what matters is that it is always the same one).
 *
 * A period is `[start, end)`; its key names it unambiguously (the UTC instant of its end), so
 * the store builds one digest per (subscription, key) however many instances ask.
 */

export type DigestCadence = { mode: 'hourly' } | { mode: 'daily'; dailyHour: number };

export type DigestPeriod = { start: Date; end: Date; key: string };

/** The most recent period that has ended at or before `at`. */
export function lastEndedPeriod(cadence: DigestCadence, timeZone: string, at: Date): DigestPeriod {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  if (cadence.mode === 'hourly') {
    const end = local.startOf('hour');
    return period(cadence, end.minus({ hours: 1 }), end);
  }
  let end = dailyBoundary(local, cadence.dailyHour);
  if (end.toMillis() > at.getTime()) end = dailyBoundary(local.minus({ days: 1 }), cadence.dailyHour);
  return period(cadence, dailyBoundary(end.minus({ days: 1 }), cadence.dailyHour), end);
}

/** The first period end strictly after `at`: when the next digest is due. */
export function nextPeriodEnd(cadence: DigestCadence, timeZone: string, at: Date): Date {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  if (cadence.mode === 'hourly') return local.startOf('hour').plus({ hours: 1 }).toJSDate();
  let end = dailyBoundary(local, cadence.dailyHour);
  if (end.toMillis() <= at.getTime()) end = dailyBoundary(local.plus({ days: 1 }), cadence.dailyHour);
  return end.toJSDate();
}

/**
 * `hour:00` local on the calendar day of `day`. Built from the calendar fields (not by moving
 * `day`), so the result never depends on which side of a DST change `day` itself lies.
 */
function dailyBoundary(day: DateTime, hour: number): DateTime {
  return DateTime.fromObject(
    { year: day.year, month: day.month, day: day.day, hour, minute: 0, second: 0, millisecond: 0 },
    { zone: day.zone },
  );
}

function period(cadence: DigestCadence, start: DateTime, end: DateTime): DigestPeriod {
  const endIso = end.toUTC().toISO({ suppressMilliseconds: true }) ?? String(end.toMillis());
  return { start: start.toJSDate(), end: end.toJSDate(), key: `${cadence.mode}@${endIso}` };
}
