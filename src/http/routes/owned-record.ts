import { AppError } from '../../errors.ts';

/**
 * Store reads by id are not tenant-scoped (ids are unique across tenants), so every route
 * checks ownership itself: a record of another tenant answers exactly like a missing one.
 */
export function ownedRecord<T extends { tenantId: string }>(
  record: T | undefined,
  tenantId: string,
  what: string,
  id: string,
): T {
  if (record === undefined || record.tenantId !== tenantId) throw notFound(what, id);
  return record;
}

export function notFound(what: string, id: string): AppError {
  return new AppError('TOCSIN_NOT_FOUND', `no ${what} ${JSON.stringify(id)}`, { details: { id } });
}
