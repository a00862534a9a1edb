/// <reference lib="dom" />
import type { StreamServerMessage } from '../../delivery/websocket/stream-messages.ts';

/** An alert as `/v1/stream` and `/v1/alerts` give it (type-only import: nothing of the server is bundled). */
export type PageAlert = Extract<StreamServerMessage, { type: 'alert' }>['alert'];

export type Severity = PageAlert['severity'];

/** The page's filter: what `?rules=&tags=&minSeverity=` and the `subscribe` message carry. */
export type PageFilter = { rules: string[]; tags: string[]; minSeverity: Severity | '' };

export const severityRank: Record<Severity, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
