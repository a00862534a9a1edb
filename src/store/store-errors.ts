import { AppError } from '../errors.ts';

/**
 * Errors worth retrying the whole transaction for: the database went away (PostgreSQL class
 * 08, a reset socket, a terminated backend), a deadlock or serialization failure (40P01,
 * 40001), an administrator shutdown (57P01), or SQLite's write lock still held by another
 * process after `busy_timeout`.
 */
const retryablePgCodes = new Set(['40001', '40P01', '57P01', '57P02', '57P03']);
const retryableNodeCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export function isRetryableStoreError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || retryablePgCodes.has(code) || retryableNodeCodes.has(code)) return true;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return true;
  }
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
    error.message,
  );
}

/** Runs `work`; a retryable failure becomes AppError TOCSIN_STORE_UNAVAILABLE (retryable), others pass through. */
export async function withStoreErrors<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isRetryableStoreError(error)) {
      throw new AppError('TOCSIN_STORE_UNAVAILABLE', `${what} failed: ${(error as Error).message}`, {
        cause: error,
        retryable: true,
      });
    }
    throw error;
  }
}

/**
 * An owner's commit was refused: another instance took the partition (a newer epoch) since this
 * one claimed it. Nothing of the batch was written; the owner drops its cached state of the
 * partition and must not commit the batch's Kafka offsets.
 */
export class OwnerFencedError extends Error {
  readonly topic: string;
  readonly partition: number;
  constructor(topic: string, partition: number, ours: number, current: number | undefined) {
    super(
      `partition ${partition} of ${topic} is owned by epoch ${current ?? 'none'}, not ours (${ours}): commit refused`,
    );
    this.name = 'OwnerFencedError';
    this.topic = topic;
    this.partition = partition;
  }
}
