import { type Kysely, sql } from 'kysely';
import type { StoreContext, StoreDialect } from './context.ts';
import type { Database } from './schema.ts';
import type { StoreLogger } from './sql-store.ts';

/**
 * The cluster's change feed: named channels ("rules", "alerts", …) on which an instance
 * announces a change and every instance (itself included) hears of it.
 *
 * How it gets there:
 * - PostgreSQL: `pg_notify` inside the transaction that made the change, so the notification
 *   leaves at COMMIT (never for a change rolled back) and reaches every listening connection.
 *   The PostgreSQL channel is one per schema (`tocsin_` + md5 of `current_schema()`), so
 *   several deployments (or test schemas) in one database do not hear each other; the
 *   payload names the feed channel.
 * - The fallback: a versioned channel also bumps its row in `change_versions`, and every
 *   instance compares those versions every `checkMs`. A notification lost while the
 *   listening connection was down (or a SQLite store, which has no NOTIFY) is found there;
 *   it reaches listeners with no payload, meaning "something changed: re-read it all".
 * - Unversioned channels (alert wake-ups: too frequent for a row everyone updates) have no
 *   fallback here; their listeners poll on their own (the WebSocket hub does).
 *
 * Listeners must be idempotent: one change may arrive twice (by NOTIFY and, rarely, again by
 * the version check) and several changes may arrive as one.
 */
export type ChangeListener = (payload: string | undefined) => void;

export type ChangeFeed = {
  /**
   * Store-internal: a change announced in a transaction that has committed. PostgreSQL's
   * NOTIFY brings it back by itself; SQLite hears it here.
   */
  noteCommitted(channel: string, payload: string, version: number | undefined): void;
  /** Calls `listener` for every change announced on `channel`; returns the unsubscribe. */
  on(channel: string, listener: ChangeListener): () => void;
  /** Announces a change on a versioned channel (its own small transaction). */
  publish(channel: string, payload?: string): Promise<void>;
  /** Starts listening and polling versions (after `migrate`). */
  start(): Promise<void>;
  close(): Promise<void>;
};

/** A dedicated connection that LISTENs: what PostgreSQL needs, absent for SQLite. */
export type NotificationListener = {
  /** Connects and LISTENs on `channel`; `onLost` is called once when the connection drops. */
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onLost: (error: Error) => void,
  ): Promise<{ close(): Promise<void> }>;
};

/** The feed's wire format in a NOTIFY payload: channel, payload, version (absent: unversioned). */
type Notice = { c: string; p: string; v?: number };

/** The PostgreSQL notification channel of the schema in use (an identifier under 63 bytes). */
const pgChannel = sql<string>`'tocsin_' || left(md5(current_schema()), 24)`;

/**
 * Announces a change from inside the transaction that made it. `versioned` (default true)
 * bumps the channel's version so that the version check finds it too.
 */
export async function announceChange(
  trx: Kysely<Database>,
  dialect: StoreDialect,
  channel: string,
  payload = '',
  options: { versioned?: boolean } = {},
): Promise<number | undefined> {
  const versioned = options.versioned ?? true;
  if (dialect === 'sqlite') return versioned ? bumpVersion(trx, channel) : undefined;
  if (!versioned) {
    await sql`select pg_notify(${pgChannel}, json_build_object('c', ${channel}::text, 'p', ${payload}::text)::text)`.execute(
      trx,
    );
    return undefined;
  }
  const { rows } = await sql<{ version: number }>`
    with bumped as (
      insert into change_versions (channel, version) values (${channel}, 1)
      on conflict (channel) do update set version = change_versions.version + 1
      returning version
    )
    select version, pg_notify(${pgChannel}, json_build_object('c', ${channel}::text, 'p', ${payload}::text, 'v', version)::text)
    from bumped`.execute(trx);
  return Number(rows[0]!.version);
}

async function bumpVersion(trx: Kysely<Database>, channel: string): Promise<number> {
  const row = await trx
    .insertInto('change_versions')
    .values({ channel, version: 1 })
    .onConflict((oc) =>
      oc.column('channel').doUpdateSet((eb) => ({ version: eb('change_versions.version', '+', 1) })),
    )
    .returning('version')
    .executeTakeFirstOrThrow();
  return Number(row.version);
}

export function createChangeFeed(deps: {
  db: Kysely<Database>;
  dialect: StoreDialect;
  transaction: StoreContext['transaction'];
  /** How often versions are compared (the fallback's delay). */
  checkMs: number;
  listener?: NotificationListener;
  logger?: StoreLogger;
}): ChangeFeed {
  const listeners = new Map<string, Set<ChangeListener>>();
  /** channel → the newest version this instance has heard of. */
  const seen = new Map<string, number>();
  let versionsRead = false;
  let timer: NodeJS.Timeout | undefined;
  let connection: { close(): Promise<void> } | undefined;
  let reconnect: NodeJS.Timeout | undefined;
  let closed = false;
  let checking: Promise<void> | undefined;

  function emit(channel: string, payload: string | undefined): void {
    for (const listener of listeners.get(channel) ?? []) {
      try {
        listener(payload);
      } catch (error) {
        deps.logger?.warn({ err: error, channel }, 'change feed: a listener threw');
      }
    }
  }

  function onNotify(text: string): void {
    let notice: Notice;
    try {
      notice = JSON.parse(text) as Notice;
    } catch {
      return;
    }
    if (typeof notice.c !== 'string') return;
    if (typeof notice.v === 'number' && notice.v > (seen.get(notice.c) ?? 0)) seen.set(notice.c, notice.v);
    emit(notice.c, notice.p === '' ? undefined : notice.p);
  }

  /** A change this process announced where no NOTIFY brings it back (SQLite). */
  function noteLocal(channel: string, payload: string, version: number | undefined): void {
    if (deps.dialect !== 'sqlite') return;
    if (version !== undefined && version > (seen.get(channel) ?? 0)) seen.set(channel, version);
    emit(channel, payload === '' ? undefined : payload);
  }

  async function checkVersions(): Promise<void> {
    const rows = await deps.db.selectFrom('change_versions').select(['channel', 'version']).execute();
    for (const row of rows) {
      const version = Number(row.version);
      const known = seen.get(row.channel);
      if (known !== undefined && version <= known) continue;
      seen.set(row.channel, version);
      // The first read only learns where the versions stand: what the store holds then is
      // what the instance loads at start.
      if (versionsRead) emit(row.channel, undefined);
    }
    versionsRead = true;
  }

  function check(): Promise<void> {
    checking ??= checkVersions()
      .catch((error: unknown) => deps.logger?.warn({ err: error }, 'change feed: version check failed'))
      .finally(() => {
        checking = undefined;
      });
    return checking;
  }

  async function connect(): Promise<void> {
    if (!deps.listener || closed) return;
    const { rows } = await sql<{ channel: string }>`select ${pgChannel} as channel`.execute(deps.db);
    const channel = rows[0]!.channel;
    connection = await deps.listener.listen(channel, onNotify, (error) => {
      connection = undefined;
      if (closed) return;
      deps.logger?.warn({ err: error }, 'change feed: the listening connection dropped; reconnecting');
      scheduleReconnect();
    });
    // Anything announced while not listening is found by comparing versions.
    await check();
  }

  function scheduleReconnect(): void {
    if (closed || reconnect) return;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      connect().catch((error: unknown) => {
        deps.logger?.warn({ err: error }, 'change feed: reconnecting failed; trying again');
        scheduleReconnect();
      });
    }, 1_000);
    reconnect.unref();
  }

  return {
    noteCommitted: noteLocal,

    on(channel, listener) {
      let set = listeners.get(channel);
      if (!set) {
        set = new Set();
        listeners.set(channel, set);
      }
      set.add(listener);
      return () => set.delete(listener);
    },

    async publish(channel, payload = '') {
      const version = await deps.transaction((trx) => announceChange(trx, deps.dialect, channel, payload));
      // SQLite has no NOTIFY: this process hears its own change at once, others by polling.
      noteLocal(channel, payload, version);
    },

    async start() {
      closed = false;
      await check();
      if (deps.listener) await connect();
      timer = setInterval(() => void check(), deps.checkMs);
      timer.unref();
    },

    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      if (reconnect) clearTimeout(reconnect);
      timer = undefined;
      reconnect = undefined;
      await checking;
      await connection?.close();
      connection = undefined;
    },
  };
}
