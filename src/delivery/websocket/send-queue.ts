import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

/**
 * One unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2): FIN + opcode 1, then the
 * payload length in 7, 7+16 or 7+64 bits. Server frames are never masked, so a message framed
 * once can be written to every connection as it is.
 */
export function encodeTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  payload.copy(frame, headerLength);
  return frame;
}

/**
 * A per-connection send queue bounded in bytes: the back-pressure of `/v1/stream`.
 *
 * Frames (from `encodeTextFrame`, shared by every connection) are written straight to the
 * connection's TCP socket while its buffer (`bufferedAmount`: bytes written but not yet taken by
 * the kernel) stays under `highWaterMark`; beyond it they wait here, and each completed write
 * moves more. ws writes its own frames (pings, close) to the same socket, whole, so the stream
 * stays well-formed. "Unsent" is both parts together; when a new frame would take it past
 * `maxBytes`, the client has fallen behind: the queue drops what it holds and calls
 * `onOverflow` once (the hub closes with 1013, and the client resumes from its last cursor).
 * A slow client therefore costs at most `maxBytes` (plus kernel buffers) and never delays the
 * broadcast to the others: `push` never waits.
 */
export function createSendQueue(
  socket: WebSocket,
  options: { maxBytes: number; highWaterMark?: number; onOverflow: () => void },
) {
  const highWaterMark = Math.min(options.highWaterMark ?? 64 * 1024, options.maxBytes);
  // ws keeps the TCP socket in `_socket` (not in its types); it is there once the socket is open.
  const raw = (socket as unknown as { _socket?: Duplex | null })._socket;
  if (!raw) throw new Error('createSendQueue needs an open WebSocket');
  let frames: Buffer[] = [];
  let head = 0;
  let queuedBytes = 0;
  let isDone = false;
  let isCorked = false;
  let waiters: { bytes: number; resolve: () => void }[] = [];

  const unsentBytes = () => queuedBytes + socket.bufferedAmount;
  // After a close frame (ours or the peer's) nothing more may be sent.
  const isWritable = () => socket.readyState === WebSocket.OPEN;

  function onWritten(error?: Error | null): void {
    if (error === undefined || error === null) pump();
  }

  function pump(): void {
    while (head < frames.length && isWritable() && socket.bufferedAmount < highWaterMark) {
      const frame = frames[head]!;
      frames[head++] = undefined as unknown as Buffer;
      queuedBytes -= frame.length;
      raw!.write(frame, onWritten);
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
    /** Queues a frame; false when the connection is over its bound (or done). */
    push(frame: Buffer): boolean {
      if (isDone || !isWritable()) return false;
      // Corked writes stay in the socket's buffer: past the high-water mark, hand them to the
      // kernel now, so a burst counts as unsent only if the client really does not read.
      if (isCorked && socket.bufferedAmount >= highWaterMark) {
        raw.uncork();
        raw.cork();
      }
      // One frame larger than the bound still goes out alone, or its client could never pass it.
      const unsent = unsentBytes();
      if (unsent > 0 && unsent + frame.length > options.maxBytes) {
        this.clear();
        options.onOverflow();
        return false;
      }
      if (head === frames.length && socket.bufferedAmount < highWaterMark) {
        raw.write(frame, onWritten);
      } else {
        frames.push(frame);
        queuedBytes += frame.length;
      }
      return true;
    },

    unsentBytes,

    /**
     * Holds writes until `uncork`, so the frames of one read of the log leave in one write
     * (one syscall) instead of one each: what lets one process feed 1,000 dashboards.
     */
    cork(): void {
      if (isCorked) return;
      isCorked = true;
      raw.cork();
    },

    uncork(): void {
      if (!isCorked) return;
      isCorked = false;
      raw.uncork();
    },

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
      this.uncork();
      notify();
    },
  };
}

export type SendQueue = ReturnType<typeof createSendQueue>;
