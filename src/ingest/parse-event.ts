import type { z } from 'zod';
import { AppError } from '../errors.ts';
import { eventSchema, type IntelEvent } from './event-schema.ts';

/** `entities.0.name: expected string` — the path first, so the reason names the field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

/** Validates an already-parsed JSON value as an event. */
export function validateEvent(value: unknown): IntelEvent {
  const result = eventSchema.safeParse(value);
  if (!result.success) {
    throw new AppError('TOCSIN_INVALID_EVENT', describeIssues(result.error), { cause: result.error });
  }
  return result.data;
}

/** Parses one JSON text as an event; the error says whether it was JSON or the shape that failed. */
export function parseEvent(text: string): IntelEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new AppError('TOCSIN_INVALID_EVENT', `not JSON: ${(error as Error).message}`, { cause: error });
  }
  return validateEvent(value);
}
