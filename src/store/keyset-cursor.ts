/**
 * Keyset cursors of the newest-first lists (delivery jobs, the audit log): the (time, id) of
 * the last item of a page, as base64url JSON. Opaque to clients; one that is not ours reads as
 * "from the newest", so a stale or mangled cursor restarts the list rather than failing it.
 */
export const encodeKeysetCursor = (time: number, id: string): string =>
  Buffer.from(JSON.stringify([time, id])).toString('base64url');

export function decodeKeysetCursor(cursor: string): [number, string] {
  try {
    const [time, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (typeof time === 'number' && typeof id === 'string') return [time, id];
  } catch {}
  return [Number.MAX_SAFE_INTEGER, ''];
}

/** The page size a list query asks for: 50 by default, between 1 and 1,000. */
export const keysetPageSize = (limit: number | undefined): number => Math.min(Math.max(limit ?? 50, 1), 1000);

/**
 * One page of a newest-first list read with `limit + 1` rows: the extra row only says that
 * another page follows, and the cursor is the (time, id) of the page's last row.
 */
export function keysetPage<Row extends { id: string }, Item>(
  rows: Row[],
  limit: number,
  timeOf: (row: Row) => number,
  toItem: (row: Row) => Item,
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(toItem),
    nextCursor: rows.length > limit && last ? encodeKeysetCursor(timeOf(last), last.id) : null,
  };
}
