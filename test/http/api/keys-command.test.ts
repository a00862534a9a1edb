import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/cli/command.ts';
import { createKeysCommand } from '../../../src/cli/keys-command.ts';
import { loadOrCreateSecret } from '../../../src/http/api-keys.ts';
import { createApiKeyVerifier } from '../../../src/http/auth.ts';
import { createStore } from '../../../src/store/create-store.ts';

/** Runs `tocsin keys …` against a data directory; returns the exit status and what it wrote. */
async function runKeys(dataDir: string, args: string[], env: Record<string, string> = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  stderr.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const command = createKeysCommand({ env: { TOCSIN_DATA_DIR: dataDir, ...env }, cwd: dataDir });
  const status = await command.run(args, { stdin: new PassThrough(), stdout, stderr });
  return { status, out, err };
}

describe('tocsin keys', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tocsin-keys-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates a key the service accepts, lists it by prefix, and revokes it', async () => {
    const created = await runKeys(dataDir, ['create', '--name', 'deploy bot']);
    expect(created.status).toBe(0);
    const key = created.out.trim();
    expect(key).toMatch(/^tk_[A-Za-z0-9_-]{43}$/);
    expect(created.err).toContain('shown this once');

    // The service's view: same data directory, same secret file.
    const secret = await loadOrCreateSecret(dataDir);
    const store = createStore({ dataDir, secret });
    try {
      const verify = createApiKeyVerifier({ store, secret });
      expect(await verify(key)).toMatchObject({ tenantId: 'default', name: 'deploy bot', role: 'admin' });

      const listed = await runKeys(dataDir, ['list']);
      expect(listed.status).toBe(0);
      const lines = listed.out.trim().split('\n');
      expect(lines[0]).toMatch(/^ID\s+PREFIX\s+NAME\s+ROLE\s+CREATED\s+REVOKED$/);
      expect(lines).toHaveLength(2);
      expect(lines[1]).toContain(key.slice(0, 10));
      expect(lines[1]).toContain('deploy bot  admin');
      expect(listed.out).not.toContain(key);
      const id = lines[1]!.split(/\s+/)[0]!;

      const revoked = await runKeys(dataDir, ['revoke', id]);
      expect(revoked).toMatchObject({ status: 0 });
      expect(revoked.out).toContain(`revoked API key ${id}`);
      expect(await verify(key)).toBeUndefined();
      expect((await runKeys(dataDir, ['list'])).out).toMatch(/\d{4}-\d\d-\d\dT[\d:.]+Z\s*$/);
      expect((await runKeys(dataDir, ['revoke', id])).out).toContain('already revoked');
    } finally {
      await store.close();
    }
  });

  it('hashes with TOCSIN_SECRET when it is set', async () => {
    const env = { TOCSIN_SECRET: 'a-configured-secret-of-the-cluster' };
    const key = (await runKeys(dataDir, ['create'], env)).out.trim();
    const store = createStore({ dataDir, secret: env.TOCSIN_SECRET });
    try {
      expect(await createApiKeyVerifier({ store, secret: env.TOCSIN_SECRET })(key)).toMatchObject({
        name: 'cli',
      });
      expect(
        await createApiKeyVerifier({ store, secret: 'some-other-secret-0123456789' })(key),
      ).toBeUndefined();
      expect(existsSync(join(dataDir, 'secret'))).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('creates a key with --role, which the service verifies with that role', async () => {
    const created = await runKeys(dataDir, ['create', '--name', 'wallboard', '--role', 'reader']);
    expect(created.status).toBe(0);
    expect(created.err).toContain('created reader API key');
    const key = created.out.trim();
    const secret = await loadOrCreateSecret(dataDir);
    const store = createStore({ dataDir, secret });
    try {
      const verify = createApiKeyVerifier({ store, secret });
      expect(await verify(key)).toMatchObject({ name: 'wallboard', role: 'reader' });
      expect((await runKeys(dataDir, ['list'])).out).toMatch(/wallboard\s+reader\s/);
    } finally {
      await store.close();
    }
  });

  it('reports an unknown id with status 1, and usage errors', async () => {
    expect(await runKeys(dataDir, ['revoke', 'key_nope'])).toMatchObject({
      status: 1,
      err: expect.stringContaining('no API key'),
    });
    for (const args of [
      [],
      ['rotate'],
      ['revoke'],
      ['list', 'extra'],
      ['list', '--name', 'x'],
      ['create', '--name', ' '],
      ['create', '--role', 'root'],
      ['create', '--role', ''],
      ['list', '--role', 'reader'],
    ]) {
      await expect(runKeys(dataDir, args), JSON.stringify(args)).rejects.toBeInstanceOf(UsageError);
    }
    expect(await runKeys(dataDir, ['list'], { DATABASE_URL: 'mysql://x' })).toMatchObject({
      status: 2,
      err: expect.stringContaining('DATABASE_URL'),
    });
  });
});
