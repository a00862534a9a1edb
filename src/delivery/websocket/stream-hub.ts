import type { WebSocket } from 'ws';
import type { Principal } from '../../http/auth.ts';
import type { Logger } from '../../logger.ts';
import type { StoredAlert, Tenanted } from '../../store/store.ts';
import type { AlertStateMessage } from './alert-state.ts';
import { cursorOrder } from './cursor-order.ts';
import { createStreamConnection, type StreamConnection, type StreamLimits } from './stream-connection.ts';
import type { StreamFilter } from './stream-filter.ts';
import { alertFrame, messageFrame, streamCloseCodes } from './stream-messages.ts';
import type { StreamMetrics } from './stream-metrics.ts';

/** The part of the store the hub reads: the alert log, in commit order (see store/alert-log.ts). */
export type AlertLog = {
  after(cursor: string | null, limit: number, scope?: Tenanted): Promise<StoredAlert[]>;
  headCursor(): Promise<string>;
  isCursorExpired(cursor: string): Promise<boolean>;
};

/** The part of the store the hub asks about keys: which of these key ids are revoked (or gone). */
export type KeyStatus = {
  revokedAmong(ids: readonly string[]): Promise<string[]>;
};

export type StreamHubLimits = StreamLimits & {
  /** Open streams per API key (a token counts for the key it was issued to). */
  maxConnectionsPerKey: number;
};

export type AttachOptions = {
  principal: Principal;
  filter: StreamFilter;
  /** Resume after this cursor (`?since=`); absent: live alerts only. */
  since?: string | undefined;
  /** Expiry of the token the client presented (epoch ms); absent for an API key. */
  expiresAt?: number | undefined;
};

/**
 * One tenant's tail of the alert log: `cursor`/`order` is the newest position the hub has
 * read (and broadcast) for it. Every position at or before it is either visible in the store
 * or will never exist (the alert-log invariant), which is what lets a catching-up connection
 * join the broadcast at this point.
 */
type Tail = {
  tenantId: string;
  cursor: string;
  order: number;
  ready: Promise<void>;
  isReady: boolean;
  connections: Set<StreamConnection>;
};

const livePageSize = 500;
const backlogPageSize = 200;

/**
 * Streams the alert log to every connected dashboard (shared/spec/contracts.md, WebSocket).
 *
 * Live: per tenant with connections, the hub tails the log from the head it saw when the tail
 * was created, after each local commit (`committed`) and every `pollMs` (commits of other
 * instances sharing the store), and broadcasts each `active` alert to the live connections
 * whose filter takes it. Only one drain runs at a time; it encodes each alert once.
 *
 * Resume (`since`): a connection first reads its backlog from the store page by page, paced by
 * its send queue, while the broadcast passes it by. Each connection keeps `order`, the log
 * position it has passed; the broadcast skips alerts at or before it. The connection turns live
 * in the same synchronous step in which it finds `order` at or past its tail's, so no drain can
 * run between the check and the switch: alerts the tail reads later are after `order` and reach
 * it live; alerts before were read from the store. Hence no gap and no repeat at the seam, even
 * while alerts keep committing during the backlog read.
 */
export function createStreamHub(deps: {
  log: AlertLog;
  /** Revocation: on a change without a key id, the keys with open streams are looked up here. */
  keys: KeyStatus;
  logger: Logger;
  heartbeatMs: number;
  pollMs?: number;
  limits: StreamHubLimits;
  metrics?: StreamMetrics;
}) {
  const { log, logger, limits } = deps;
  const tails = new Map<string, Tail>();
  const connections = new Set<StreamConnection>();
  const perKey = new Map<string, number>();
  let draining: Promise<void> | undefined;
  let drainAgain = false;
  let isClosing = false;
  let timers: NodeJS.Timeout[] = [];

  const keyOf = (principal: Principal) => `${principal.tenantId}\u0000${principal.keyId ?? principal.name}`;

  function tailOf(tenantId: string): Tail {
    const existing = tails.get(tenantId);
    if (existing) return existing;
    const tail: Tail = {
      tenantId,
      cursor: '',
      order: 0,
      isReady: false,
      ready: Promise.resolve(),
      connections: new Set(),
    };
    tail.ready = log.headCursor().then(
      (cursor) => {
        tail.cursor = cursor;
        tail.order = cursorOrder(cursor);
        tail.isReady = true;
      },
      (error: unknown) => {
        // Its connections close (see attach); the next one tries a fresh tail.
        if (tails.get(tenantId) === tail) tails.delete(tenantId);
        throw error;
      },
    );
    tails.set(tenantId, tail);
    return tail;
  }

  async function drainTail(tail: Tail): Promise<void> {
    for (;;) {
      const alerts = await log.after(tail.cursor, livePageSize, { tenantId: tail.tenantId });
      const corked = alerts.length > 0 ? [...tail.connections].filter((c) => c.phase === 'live') : [];
      for (const connection of corked) connection.cork();
      for (const alert of alerts) {
        const order = cursorOrder(alert.cursor);
        tail.cursor = alert.cursor;
        tail.order = order;
        let frame: Buffer | undefined;
        for (const connection of tail.connections) {
          if (connection.phase !== 'live' || order <= connection.order) continue;
          connection.order = order;
          if (alert.status !== 'active' || !connection.matches(alert)) continue;
          frame ??= alertFrame(alert);
          connection.send(frame);
        }
      }
      for (const connection of corked) connection.uncork();
      if (alerts.length < livePageSize) return;
    }
  }

  function drain(): Promise<void> {
    if (draining) {
      drainAgain = true;
      return draining;
    }
    draining = (async () => {
      do {
        drainAgain = false;
        for (const tail of [...tails.values()]) {
          if (tail.isReady && tail.connections.size > 0) await drainTail(tail);
        }
      } while (drainAgain);
    })()
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'reading the alert log failed; retrying on the next poll'),
      )
      .finally(() => {
        draining = undefined;
      });
    return draining;
  }

  /** Reads the backlog after `since`, then turns the connection live (see the invariant above). */
  async function catchUp(connection: StreamConnection, tail: Tail, since: string): Promise<void> {
    let cursor = since;
    connection.order = cursorOrder(since);
    connection.phase = 'catching-up';
    for (;;) {
      // Pace the backlog on the client: never queue more than a quarter of the bound from it.
      await connection.queue.whenBelow(limits.maxQueueBytes / 4);
      if (connection.isClosed()) return;
      if (connection.order >= tail.order) {
        connection.phase = 'live';
        return;
      }
      const seen = { cursor: tail.cursor, order: tail.order };
      const alerts = await log.after(cursor, backlogPageSize, { tenantId: tail.tenantId });
      if (connection.isClosed()) return;
      connection.cork();
      for (const alert of alerts) {
        const order = cursorOrder(alert.cursor);
        if (order <= connection.order) continue;
        connection.order = order;
        cursor = alert.cursor;
        if (alert.status !== 'active' || !connection.matches(alert)) continue;
        if (!connection.send(alertFrame(alert))) break;
      }
      connection.uncork();
      if (connection.isClosed()) return;
      // A short page holds every alert of the tenant up to `seen`: the tail had seen it before
      // the read began, so all positions up to it were visible to the read or never will be.
      if (alerts.length < backlogPageSize && seen.order > connection.order) {
        connection.order = seen.order;
        cursor = seen.cursor;
      }
    }
  }

  async function begin(connection: StreamConnection, tail: Tail, since: string | undefined): Promise<void> {
    await tail.ready;
    if (connection.isClosed()) return;
    if (since !== undefined && (await log.isCursorExpired(since))) {
      connection.sendError('cursor_expired');
      since = undefined;
    }
    // A cursor past the head of the log (the store was reset or restored from a backup): the
    // backlog read would wait for positions that are not coming, and the live broadcast skips
    // everything at or before the connection's position, so the client would hear nothing.
    // The tail may lag other instances' commits: the head is read again before refusing.
    if (since !== undefined && cursorOrder(since) > tail.order) {
      const head = cursorOrder(await log.headCursor());
      if (connection.isClosed()) return;
      if (cursorOrder(since) > head) {
        connection.sendError('cursor_invalid');
        since = undefined;
      }
    }
    if (connection.isClosed()) return;
    if (since === undefined) {
      // Live from the tail's head: synchronous with reading it, so nothing falls in between.
      connection.order = tail.order;
      connection.phase = 'live';
      return;
    }
    await catchUp(connection, tail, since);
  }

  /** Closes every stream opened with this key (header or token) with 4003. */
  function closeKey(keyId: string): number {
    let closed = 0;
    for (const connection of [...connections]) {
      if (connection.principal.keyId !== keyId) continue;
      connection.close(streamCloseCodes.keyRevoked, 'API key revoked');
      closed += 1;
    }
    if (closed > 0) logger.info({ keyId, streams: closed }, 'closed the streams of a revoked API key');
    return closed;
  }

  /**
   * One look-up for the keys of all open streams, for a revocation heard without its key id
   * (the change feed's version check found that something changed, not what).
   */
  let checking: Promise<void> | undefined;
  function checkRevocations(): Promise<void> {
    checking ??= (async () => {
      const ids = new Set<string>();
      for (const connection of connections) {
        if (connection.principal.keyId !== null) ids.add(connection.principal.keyId);
      }
      if (ids.size === 0) return;
      for (const keyId of await deps.keys.revokedAmong([...ids])) closeKey(keyId);
    })()
      .catch((error: unknown) => logger.warn({ err: error }, 'checking stream keys for revocation failed'))
      .finally(() => {
        checking = undefined;
      });
    return checking;
  }

  function beat(): void {
    const frame = messageFrame({ type: 'heartbeat', time: new Date().toISOString() });
    for (const connection of connections) connection.beat(frame);
  }

  return {
    async start(): Promise<void> {
      timers = [setInterval(beat, deps.heartbeatMs), setInterval(() => void drain(), deps.pollMs ?? 1_000)];
      for (const timer of timers) timer.unref();
    },

    /** False when the principal's key already holds the most streams allowed (answer 429 before the upgrade). */
    canConnect(principal: Principal): boolean {
      return (perKey.get(keyOf(principal)) ?? 0) < limits.maxConnectionsPerKey;
    },

    attach(socket: WebSocket, options: AttachOptions): StreamConnection {
      const { principal } = options;
      const key = keyOf(principal);
      const tail = tailOf(principal.tenantId);
      const connection = createStreamConnection({
        socket,
        principal,
        filter: options.filter,
        expiresAt: options.expiresAt,
        limits,
        logger,
        ...(deps.metrics && { metrics: deps.metrics }),
        onClosed: () => {
          connections.delete(connection);
          tail.connections.delete(connection);
          if (tail.connections.size === 0 && tails.get(tail.tenantId) === tail) tails.delete(tail.tenantId);
          const count = (perKey.get(key) ?? 1) - 1;
          if (count > 0) perKey.set(key, count);
          else perKey.delete(key);
        },
      });
      connections.add(connection);
      tail.connections.add(connection);
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      if (isClosing) {
        connection.close(streamCloseCodes.goingAway, 'server shutting down');
      } else if ((perKey.get(key) ?? 0) > limits.maxConnectionsPerKey) {
        // Two upgrades of one key raced past `canConnect`.
        connection.close(streamCloseCodes.policyViolation, 'too many connections for this API key');
      } else {
        begin(connection, tail, options.since).catch((error: unknown) => {
          logger.warn({ err: error }, 'reading a stream backlog failed; closing the stream');
          connection.close(1011, 'the alert log cannot be read: reconnect with since');
        });
      }
      return connection;
    },

    /** A key was revoked (here, or announced by another instance): its streams close now with 4003. */
    keyRevoked(keyId: string): void {
      closeKey(keyId);
    },

    /** Checks the keys of all open streams now and closes those revoked. */
    checkRevocations,

    /** A local commit stored alerts: stream them now rather than at the next poll. */
    committed(alerts: readonly StoredAlert[]): void {
      if (alerts.length > 0) void drain();
    },

    /**
     * An alert state change (alert-state.ts) goes to every open stream of the tenant, whatever
     * its filter or phase: it carries no alert, only what changed about alerts the page may show.
     */
    broadcastState(tenantId: string, message: AlertStateMessage): void {
      const tail = tails.get(tenantId);
      if (!tail || tail.connections.size === 0) return;
      const frame = messageFrame(message);
      for (const connection of tail.connections) connection.send(frame);
    },

    /** Another instance committed alerts (the change feed's `alerts`): stream them now. */
    wake(): void {
      void drain();
    },

    /** Waits for the drain in progress, if any (tests, shutdown). */
    settled(): Promise<void> {
      return draining ?? Promise.resolve();
    },

    connectionCount(): number {
      return connections.size;
    },

    /** Closes every socket with 1001 (going away) so clients reconnect to another instance. */
    async close(): Promise<void> {
      isClosing = true;
      for (const timer of timers) clearInterval(timer);
      await draining;
      await checking;
      for (const connection of [...connections]) {
        connection.close(streamCloseCodes.goingAway, 'server shutting down');
      }
    },
  };
}

export type StreamHub = ReturnType<typeof createStreamHub>;
