/**
 * Key roles (contracts.md, HTTP). Every key carries one role:
 * - `admin`: everything, including API keys and the audit log;
 * - `editor`: rules, silences, subscribers, webhooks, subscriptions, acknowledgements, and
 *   everything a reader may do;
 * - `ingest`: `POST /v1/events` only (and `GET /v1/me`);
 * - `reader`: GET routes, the stream and stream tokens — what a dashboard should hold.
 *
 * A route does not name roles: it declares the access it needs (`config: { access: 'edit' }`),
 * and this table says which roles have it. The roles are not a ladder (an ingest key may not
 * read, a reader may not ingest), so access levels are sets, not ranks.
 */

export const roles = ['admin', 'editor', 'ingest', 'reader'] as const;

export type Role = (typeof roles)[number];

export const accessLevels = {
  /** No credentials at all: health, metrics, /docs, unsubscribe links, the page. */
  open: [],
  /** Any valid key, whatever its role (`GET /v1/me`). */
  any: ['admin', 'editor', 'ingest', 'reader'],
  /** Reading alerts, rules, subscriptions…, the stream and its tokens. */
  read: ['admin', 'editor', 'reader'],
  /** Changing rules, silences, subscribers, webhooks, subscriptions; acknowledging alerts. */
  edit: ['admin', 'editor'],
  /** Sending events. */
  ingest: ['admin', 'ingest'],
  /** Keys and the audit log. */
  admin: ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Access = keyof typeof accessLevels;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (roles as readonly string[]).includes(value);
}

export function isAccess(value: unknown): value is Access {
  return typeof value === 'string' && Object.hasOwn(accessLevels, value);
}

/** The roles that may use a route declaring `access`. */
export function rolesWith(access: Access): readonly Role[] {
  return accessLevels[access];
}

export function mayUse(role: Role, access: Access): boolean {
  return (accessLevels[access] as readonly Role[]).includes(role);
}
