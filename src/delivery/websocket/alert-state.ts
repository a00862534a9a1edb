import type { Severity } from '../../rules/rule-schema.ts';
import type { ChangeFeed } from '../../store/change-feed.ts';

/**
 * Alert state changes on every viewer's stream: an acknowledgement or a silence made through
 * the API (on any instance) reaches every open `/v1/stream` of the tenant as a `state`
 * message, so that every page showing the alert updates it at once.
 *
 * The route announces the change on the change feed's `alert-state` channel once it is stored;
 * every instance (the announcing one too: SQLite hears itself at once, PostgreSQL's NOTIFY
 * comes back to it) hands it to its hub. The feed's fallback (the version check) only says
 * "something changed" without the payload: such a change reaches pages when they next load
 * the alert, not live — lost notifications are rare and the state is always in the store.
 */

export const alertStateChannel = 'alert-state';

/** The acknowledgement of one alert (and the hold of its rule and group). */
export type AckState = {
  alertId: string;
  ruleId: string;
  group: string | null;
  ackedBy: string;
  ackedAt: string;
};

/** A silence as `GET /v1/silences/:id` answers it, created or expired. */
export type SilenceState = {
  id: string;
  matchers: { ruleIds?: string[]; tags?: string[]; severities?: Severity[]; groups?: (string | null)[] };
  startsAt: string;
  endsAt: string;
  state: 'pending' | 'active' | 'expired';
  createdBy: string;
  comment: string | null;
  createdAt: string;
};

export type AlertStateMessage =
  | { type: 'state'; change: 'acknowledged'; ack: AckState }
  | { type: 'state'; change: 'silenced' | 'unsilenced'; silence: SilenceState };

type Announcement = { tenantId: string; message: AlertStateMessage };

/** NOTIFY payloads stay under PostgreSQL's 8000 bytes; a bigger one is left to the version check. */
const maxPayload = 7_500;

export async function announceAlertState(
  changes: Pick<ChangeFeed, 'publish'>,
  tenantId: string,
  message: AlertStateMessage,
): Promise<void> {
  const payload = JSON.stringify({ tenantId, message } satisfies Announcement);
  await changes.publish(alertStateChannel, Buffer.byteLength(payload) <= maxPayload ? payload : '');
}

/** The announcement in a feed payload, or undefined (no payload, or not one of ours). */
export function parseAlertState(payload: string | undefined): Announcement | undefined {
  if (payload === undefined) return undefined;
  try {
    const parsed = JSON.parse(payload) as Partial<Announcement>;
    if (typeof parsed.tenantId !== 'string' || parsed.message?.type !== 'state') return undefined;
    return parsed as Announcement;
  } catch {
    return undefined;
  }
}
