import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { AppError } from '../errors.ts';

/**
 * Encryption at rest of the secrets the store must give back whole (webhook signing secrets):
 * AES-256-GCM under a key derived with HKDF-SHA256 from the server secret (TOCSIN_SECRET, or
 * `<dataDir>/secret`). A copy of the database alone signs nothing.
 *
 * Envelope, one text column: `v1:<iv>:<tag>:<ciphertext>`, each part base64url; a 12-byte
 * random IV per seal, a 16-byte tag. The additional data is the row's id, so a sealed value
 * moved to another row does not open. A new scheme gets a new version prefix; `open` keeps
 * reading the old ones.
 */
export type SecretBox = {
  seal(plaintext: string, rowId: string): string;
  /** Throws TOCSIN_INVALID_CONFIG when the value was sealed under another server secret. */
  open(stored: string, rowId: string): string;
  /** True for a value in an envelope this box writes (not a plaintext secret from before 003). */
  isSealed(stored: string): boolean;
};

const version = 'v1';
const ivBytes = 12;
const tagBytes = 16;

/** The fixed context of the derived key: another use of the server secret never yields this key. */
const hkdfInfo = 'tocsin webhook secrets at rest v1';
const hkdfSalt = 'tocsin';

export function createSecretBox(serverSecret: string): SecretBox {
  if (serverSecret === '') throw new TypeError('the server secret is empty');
  const key = Buffer.from(hkdfSync('sha256', serverSecret, hkdfSalt, hkdfInfo, 32));

  return {
    seal(plaintext, rowId) {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
      cipher.setAAD(Buffer.from(rowId, 'utf8'));
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [version, iv, tag, ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join(':');
    },

    open(stored, rowId) {
      const parts = stored.split(':');
      if (parts[0] !== version || parts.length !== 4) {
        throw new AppError('TOCSIN_INVALID_CONFIG', `a stored secret of ${rowId} is not in a known envelope`);
      }
      const [, iv, tag, ciphertext] = parts.map((part) => Buffer.from(part, 'base64url')) as [
        Buffer,
        Buffer,
        Buffer,
        Buffer,
      ];
      if (iv.length !== ivBytes || tag.length !== tagBytes) {
        throw new AppError('TOCSIN_INVALID_CONFIG', `a stored secret of ${rowId} is not in a known envelope`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: tagBytes });
        decipher.setAAD(Buffer.from(rowId, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
      } catch (error) {
        throw wrongSecretError(rowId, error);
      }
    },

    isSealed(stored) {
      return stored.startsWith(`${version}:`);
    },
  };
}

/** The one message for "encrypted under another server secret": what happened and what to do. */
export function wrongSecretError(rowId: string, cause?: unknown): AppError {
  return new AppError(
    'TOCSIN_INVALID_CONFIG',
    `the webhook secrets in the store (e.g. ${rowId}) were encrypted with another server secret: ` +
      'start Tocsin with the TOCSIN_SECRET (or <dataDir>/secret file) they were written with',
    { cause },
  );
}
