import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logger.ts';
import { type ApiKey, DEFAULT_TENANT, type Store } from '../store/store.ts';
import type { Role } from './roles.ts';

/**
 * API keys: `tk_` + base64url of 32 random bytes. The store keeps HMAC-SHA256(server secret,
 * key) in hex and the key's first characters (`prefix`) to tell keys apart in lists; the key
 * itself exists only in the answer to its creation. An HMAC (not a slow hash) is enough: the
 * key has 256 bits of entropy, so nothing can be guessed from the hash without the secret, and
 * a lookup by hash stays one indexed query per request.
 */

export const apiKeyPrefixLength = 10;

const keyPattern = /^tk_[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): string {
  return `tk_${randomBytes(32).toString('base64url')}`;
}

/** True when `text` has the shape of a generated key (cheap check before a store lookup). */
export function isApiKeyShaped(text: string): boolean {
  return keyPattern.test(text);
}

export function hashApiKey(secret: string, key: string): string {
  return createHmac('sha256', secret).update(key).digest('hex');
}

/** Constant-time equality of two secrets of any length (compares their HMACs). */
export function secretsEqual(secret: string, a: string, b: string): boolean {
  return timingSafeEqual(
    createHmac('sha256', secret).update(a).digest(),
    createHmac('sha256', secret).update(b).digest(),
  );
}

/** An API key as clients may see it: never the hash. */
export type ApiKeyView = Omit<ApiKey, 'hash'>;

export function viewApiKey({ hash: _hash, ...view }: ApiKey): ApiKeyView {
  return view;
}

/** Creates a key, stores only its hash and prefix, and returns the key (the only time it exists). */
export async function issueApiKey(
  deps: { store: Store; secret: string },
  /** `role` defaults to `admin`, as for keys from before roles. */
  input: { name: string; role?: Role; tenantId?: string },
): Promise<{ key: string; record: ApiKeyView }> {
  const key = generateApiKey();
  const record = await deps.store.apiKeys.create({
    tenantId: input.tenantId ?? DEFAULT_TENANT,
    prefix: key.slice(0, apiKeyPrefixLength),
    hash: hashApiKey(deps.secret, key),
    name: input.name,
    role: input.role ?? 'admin',
  });
  return { key, record: viewApiKey(record) };
}

/**
 * First start (contracts.md, TOCSIN_API_KEY): without a static key and with no key ever
 * created, creates an `admin` key (someone has to be able to make the others) and prints it once through `print` (stdout, never the logger). Keys
 * revoked later count as existing: revoking every key does not mint a new one at the next start.
 */
export async function ensureFirstApiKey(deps: {
  store: Store;
  secret: string;
  staticKey: string | undefined;
  logger: Pick<Logger, 'info'>;
  print: (text: string) => void;
}): Promise<ApiKeyView | undefined> {
  if (deps.staticKey !== undefined) return undefined;
  if ((await deps.store.apiKeys.list({ tenantId: DEFAULT_TENANT })).length > 0) return undefined;
  const { key, record } = await issueApiKey(deps, { name: 'first-start', role: 'admin' });
  deps.print(
    [
      '',
      'Tocsin created the first API key. It is shown this once and stored only as a hash:',
      '',
      `  ${key}`,
      '',
      'Send it as "Authorization: Bearer <key>". Manage keys with `tocsin keys` or /v1/api-keys.',
      '',
    ].join('\n'),
  );
  deps.logger.info(
    { keyId: record.id, prefix: record.prefix },
    'created the first API key (printed to stdout)',
  );
  return record;
}

export const secretFileName = 'secret';

/**
 * The server secret: `configured` (TOCSIN_SECRET) when given, else the one kept in
 * `<dataDir>/secret`, created on first use (32 random bytes, base64url, mode 0600). Two
 * processes starting at once agree: the file is created exclusively, the loser reads it.
 */
export async function loadOrCreateSecret(dataDir: string, configured?: string): Promise<string> {
  if (configured !== undefined && configured !== '') return configured;
  const path = join(dataDir, secretFileName);
  const existing = await readSecret(path);
  if (existing !== undefined) return existing;
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // The winner may not have written yet: its file exists from the exclusive open on.
    for (let attempt = 0; attempt < 50; attempt++) {
      const raced = await readSecret(path);
      if (raced !== undefined) return raced;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`${path} exists but is empty`);
  }
}

async function readSecret(path: string): Promise<string | undefined> {
  try {
    const text = (await readFile(path, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
