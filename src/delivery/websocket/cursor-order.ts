import { decodeCursor } from '../../store/cursor.ts';

/**
 * Order of alert-log cursors. Clients treat cursors as opaque; the hub must compare them to
 * join a connection's backlog to the live broadcast without a gap or a repeat, and the store's
 * own cursor module is the one place that knows what a cursor means. The hub compares the
 * numbers this returns (larger = committed later), decoding each cursor once.
 */
export function cursorOrder(cursor: string): number {
  return decodeCursor(cursor);
}

/** True when `cursor` is one the store issued (a malformed one is refused before the upgrade). */
export function isWellFormedCursor(cursor: string): boolean {
  try {
    decodeCursor(cursor);
    return true;
  } catch {
    return false;
  }
}
