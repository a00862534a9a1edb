import { AppError } from '../errors.ts';

/**
 * Alert log cursors: a log position (a positive integer, see alert-log.ts) behind an opaque
 * text, `c` + base-36 position. Clients must treat it as opaque; the prefix lets the scheme
 * change later without mistaking an old cursor for a new one.
 */
export function encodeCursor(position: number): string {
  return `c${position.toString(36)}`;
}

/** The position of a cursor; throws AppError TOCSIN_NOT_FOUND when it is not one of ours. */
export function decodeCursor(cursor: string): number {
  const position = /^c[0-9a-z]{1,11}$/.test(cursor) ? Number.parseInt(cursor.slice(1), 36) : Number.NaN;
  if (!Number.isSafeInteger(position)) {
    throw new AppError('TOCSIN_NOT_FOUND', `no such cursor: ${JSON.stringify(cursor.slice(0, 40))}`, {
      details: { cursor: cursor.slice(0, 40) },
    });
  }
  return position;
}
