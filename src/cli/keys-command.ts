import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { isAppError } from '../errors.ts';
import { issueApiKey, loadOrCreateSecret } from '../http/api-keys.ts';
import { isRole, roles } from '../http/roles.ts';
import { createStore } from '../store/create-store.ts';
import { DEFAULT_TENANT, type Store } from '../store/store.ts';
import { type CliIo, type Command, exitCodes, UsageError } from './command.ts';

/** `tocsin keys`: API keys of the default tenant, in the store the service is configured with. */
const usage = `Usage: tocsin keys list
       tocsin keys create [--name <name>] [--role admin|editor|ingest|reader]
       tocsin keys revoke <id>

  list     every key: id, prefix, name, role, created, revoked
  create   a new key; the key alone is written to stdout (shown this once, stored as a hash).
           --role (default admin): editor changes rules, silences, subscribers, webhooks and
           subscriptions; ingest only sends events; reader only reads and streams (dashboards)
  revoke   revokes a key by id; requests with it answer 401 from then on

Uses the service's configuration: DATABASE_URL (else SQLite in TOCSIN_DATA_DIR) and, for
create, TOCSIN_SECRET (else the secret kept in TOCSIN_DATA_DIR). Run it with the same
settings as the service, or its keys will not be accepted.
`;

type KeysCommandOptions = { env?: Record<string, string | undefined>; cwd?: string };

export function createKeysCommand(options: KeysCommandOptions = {}): Command {
  return {
    summary: 'list, create and revoke API keys',
    usage,
    async run(args: string[], io: CliIo): Promise<number> {
      let parsed: {
        values: { name?: string | undefined; role?: string | undefined };
        positionals: string[];
      };
      try {
        parsed = parseArgs({
          args,
          options: { name: { type: 'string' }, role: { type: 'string' } },
          strict: true,
          allowPositionals: true,
        });
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const [action, ...rest] = parsed.positionals;
      if (action === 'list' || action === 'create') {
        if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
      } else if (action === 'revoke') {
        if (rest.length !== 1) throw new UsageError('revoke takes one key id');
      } else {
        throw new UsageError(
          action === undefined ? 'expected list, create or revoke' : `unknown action "${action}"`,
        );
      }
      if (parsed.values.name !== undefined && action !== 'create')
        throw new UsageError('--name goes with create');
      if (parsed.values.role !== undefined && action !== 'create')
        throw new UsageError('--role goes with create');
      const name = parsed.values.name?.trim() ?? 'cli';
      if (name === '') throw new UsageError('--name must not be empty');
      const role = parsed.values.role ?? 'admin';
      if (!isRole(role))
        throw new UsageError(`--role must be one of ${roles.join(', ')}, not ${JSON.stringify(role)}`);

      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(options.env, options.cwd);
      } catch (error) {
        if (!isAppError(error, 'TOCSIN_INVALID_CONFIG')) throw error;
        io.stderr.write(`tocsin keys: ${error.message}\n`);
        return exitCodes.usage;
      }
      if (config.databaseUrl === undefined) await mkdir(config.dataDir, { recursive: true });
      const secret = await loadOrCreateSecret(config.dataDir, config.secret);
      const store = createStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, secret });
      try {
        await store.migrate();
        if (action === 'list') return await listKeys(store, io);
        if (action === 'revoke') return await revokeKey(store, rest[0]!, io);
        const { key, record } = await issueApiKey({ store, secret }, { name, role });
        io.stdout.write(`${key}\n`);
        io.stderr.write(
          `created ${record.role} API key ${record.id} (${record.prefix}…, "${record.name}"); it is shown this once\n`,
        );
        return exitCodes.ok;
      } finally {
        await store.close();
      }
    },
  };
}

export const keysCommand = createKeysCommand();

async function listKeys(store: Store, io: CliIo): Promise<number> {
  const keys = await store.apiKeys.list({ tenantId: DEFAULT_TENANT });
  const rows = [
    ['ID', 'PREFIX', 'NAME', 'ROLE', 'CREATED', 'REVOKED'],
    ...keys.map((key) => [key.id, key.prefix, key.name, key.role, key.createdAt, key.revokedAt ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) {
    io.stdout.write(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  }
  return exitCodes.ok;
}

async function revokeKey(store: Store, id: string, io: CliIo): Promise<number> {
  const key = (await store.apiKeys.list({ tenantId: DEFAULT_TENANT })).find(
    (candidate) => candidate.id === id,
  );
  if (key === undefined) {
    io.stderr.write(`tocsin keys: no API key ${JSON.stringify(id)}\n`);
    return exitCodes.rejectedInput;
  }
  if (key.revokedAt !== null) {
    io.stdout.write(`API key ${id} was already revoked at ${key.revokedAt}\n`);
    return exitCodes.ok;
  }
  await store.apiKeys.revoke(id, new Date());
  io.stdout.write(`revoked API key ${id} (${key.prefix}…, "${key.name}")\n`);
  return exitCodes.ok;
}
