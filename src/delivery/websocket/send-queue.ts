import WebSocket from 'ws';

/**
 * A per-connection send queue bounded in bytes: the back-pressure of `/v1/stream`.
 *
 * Frames go to the socket while its own buffer (`bufferedAmount`: bytes ws and the net socket
 * hold, not yet handed to the kernel) stays under `highWaterMark`; beyond it they wait here, and
 * each completed write moves more. "Unsent" is both parts together; when a new frame would take
 * it past `maxBytes`, the client has fallen behind: the queue drops what it holds and calls
 * `onOverflow` once (the hub closes with 1013, and the client resumes from its last cursor).
 * A slow client therefore costs at most `maxBytes` (plus kernel buffers) and never delays the
 * broadcast to the others: `push` never waits.
 */
export function createSendQueue(
  socket: WebSocket,
  options: { maxBytes: number; highWaterMark?: number; onOverflow: () => void },
) {
  const highWaterMark = Math.min(options.highWaterMark ?? 64 * 1024, options.maxBytes);
  let frames: Buffer[] = [];
  let head = 0;
  let queuedBytes = 0;
  let isDone = false;
  let waiters: { bytes: number; resolve: () => void }[] = [];

  const unsentBytes = () => queuedBytes + socket.bufferedAmount;

  function onWritten(error?: Error): void {
    if (error === undefined || error === null) pump();
  }

  function pump(): void {
    while (
      head < frames.length &&
      socket.readyState === WebSocket.OPEN &&
      socket.bufferedAmount < highWaterMark
    ) {
      const frame = frames[head]!;
      frames[head++] = undefined as unknown as Buffer;
      queuedBytes -= frame.length;
      socket.send(frame, { binary: false }, onWritten);
    }
    if (head === frames.length && head > 0) {
      frames = [];
      head = 0;
    }
    if (waiters.length > 0) notify();
  }

  function notify(): void {
    const unsent = unsentBytes();
    const ready = waiters.filter((waiter) => isDone || unsent <= waiter.bytes);
    if (ready.length === 0) return;
    waiters = waiters.filter((waiter) => !ready.includes(waiter));
    for (const waiter of ready) waiter.resolve();
  }

  return {
    /** Queues a text frame; false when the connection is over its bound (or done). */
    push(frame: Buffer): boolean {
      if (isDone) return false;
      // One frame larger than the bound still goes out alone, or its client could never pass it.
      const unsent = unsentBytes();
      if (unsent > 0 && unsent + frame.length > options.maxBytes) {
        this.clear();
        options.onOverflow();
        return false;
      }
      if (head === frames.length && socket.bufferedAmount < highWaterMark) {
        socket.send(frame, { binary: false }, onWritten);
      } else {
        frames.push(frame);
        queuedBytes += frame.length;
      }
      return true;
    },

    unsentBytes,

    /** Resolves once at most `bytes` are unsent (or the queue is done): readers of a backlog pace themselves on it. */
    whenBelow(bytes: number): Promise<void> {
      if (isDone || unsentBytes() <= bytes) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ bytes, resolve }));
    },

    /** Drops every queued frame and refuses new ones (the connection is closing). */
    clear(): void {
      isDone = true;
      frames = [];
      head = 0;
      queuedBytes = 0;
      notify();
    },
  };
}

export type SendQueue = ReturnType<typeof createSendQueue>;
