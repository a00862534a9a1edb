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
