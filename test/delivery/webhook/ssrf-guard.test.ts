import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSsrfGuard } from '../../../src/delivery/webhook/ssrf-guard.ts';
import { createWebhookSender, type WebhookSender } from '../../../src/delivery/webhook/webhook-sender.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

describe('SSRF guard: addresses', () => {
  const guard = createSsrfGuard();

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'CGNAT'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.251', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['198.18.0.1', 'benchmarking'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['::ffff:127.0.0.1', 'IPv4-mapped'],
    ['::ffff:8.8.8.8', 'IPv4-mapped'],
    ['::ffff:a00:1', 'IPv4-mapped'],
    ['fe80::1', 'link-local'],
    ['fd12:3456::1', 'unique local'],
    ['ff02::1', 'multicast'],
    ['64:ff9b::a00:1', 'NAT64'],
    ['2002:a00:1::', '6to4'],
    ['2001:db8::1', 'documentation'],
  ])('refuses %s (%s)', (address, kind) => {
    const verdict = guard.checkAddress(address);
    expect(verdict.allowed).toBe(false);
    expect(verdict.allowed ? '' : verdict.reason).toContain(kind);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450::1'])(
    'allows the public address %s',
    (address) => {
      expect(guard.checkAddress(address)).toEqual({ allowed: true });
    },
  );

  it('allows what the allowlist names: addresses, ranges, hosts and suffixes', async () => {
    const lax = createSsrfGuard({
      allowlist: ['127.0.0.1', '10.1.0.0/16', 'fd00::/8', 'hooks.internal', '*.corp.example'],
      resolve: async () => [{ address: '10.9.9.9', family: 4 }],
    });
    expect(lax.checkAddress('127.0.0.1')).toEqual({ allowed: true });
    expect(lax.checkAddress('127.0.0.2').allowed).toBe(false);
    expect(lax.checkAddress('10.1.200.3')).toEqual({ allowed: true });
    expect(lax.checkAddress('10.2.0.1').allowed).toBe(false);
    expect(lax.checkAddress('fd00::5')).toEqual({ allowed: true });
    // An allowlisted host name may resolve anywhere; another name may not.
    const lookup = (host: string) =>
      new Promise<unknown>((resolve) =>
        lax.lookup(host, { all: true }, (error, addresses) => resolve(error ?? addresses)),
      );
    expect(await lookup('hooks.internal')).toEqual([{ address: '10.9.9.9', family: 4 }]);
    expect(await lookup('a.corp.example')).toEqual([{ address: '10.9.9.9', family: 4 }]);
    expect(await lookup('evil.example')).toMatchObject({
      message: expect.stringContaining('10.9.9.9 is private'),
    });
  });

  it('keeps only the allowed addresses of a name, so the socket connects to a checked one', async () => {
    const mixed = createSsrfGuard({
      resolve: async () => [
        { address: '10.0.0.7', family: 4 },
        { address: '93.184.215.14', family: 4 },
      ],
    });
    const single = await new Promise((resolve) =>
      mixed.lookup('mixed.example', {}, (error, address, family) => resolve({ error, address, family })),
    );
    expect(single).toEqual({ error: null, address: '93.184.215.14', family: 4 });
  });
});

describe('SSRF guard: the sender refuses before connecting', () => {
  let receiver: WebhookReceiver;
  let strict: WebhookSender;
  let allowing: WebhookSender;
  const connects: string[] = [];
  const sockets: unknown[] = [];
  const onBeforeConnect = (message: unknown) => {
    connects.push((message as { connectParams: { hostname: string } }).connectParams.hostname);
  };
  const onSocket = (message: unknown) => sockets.push(message);

  beforeEach(async () => {
    receiver = await startWebhookReceiver();
    strict = createWebhookSender({ guard: createSsrfGuard(), timeoutMs: 2_000 });
    allowing = createWebhookSender({
      guard: createSsrfGuard({ allowlist: ['127.0.0.1'] }),
      timeoutMs: 2_000,
    });
    connects.length = 0;
    sockets.length = 0;
    subscribe('undici:client:beforeConnect', onBeforeConnect);
    subscribe('net.client.socket', onSocket);
  });
  afterEach(async () => {
    unsubscribe('undici:client:beforeConnect', onBeforeConnect);
    unsubscribe('net.client.socket', onSocket);
    await strict.close();
    await allowing.close();
    await receiver.close();
  });

  const post = (sender: WebhookSender, url: string) => sender.send({ url, headers: {}, body: '{}' });

  it.each([
    ['http://10.0.0.1/hook', '10.0.0.1 is private'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is link-local'],
    ['http://[::1]:8080/', '::1 is loopback'],
    ['http://[::ffff:10.0.0.1]/', 'IPv4-mapped'],
    ['http://0.0.0.0:80/', 'unspecified'],
    ['ftp://example.com/', 'only http and https'],
  ])('%s: refused without any connection attempt', async (url, reason) => {
    const exchange = await post(strict, url);
    expect(exchange).toMatchObject({ kind: 'error', refused: true });
    expect(exchange.kind === 'error' && exchange.error).toContain(reason);
    expect(connects).toEqual([]); // undici was never asked to connect
    expect(sockets).toEqual([]); // and no TCP socket was made
  });

  it('refuses http://127.0.0.1 without the allowlist, and delivers with it', async () => {
    const refused = await post(strict, receiver.url);
    expect(refused).toMatchObject({
      kind: 'error',
      refused: true,
      error: expect.stringContaining('loopback'),
    });
    expect(connects).toEqual([]);

    expect(await post(allowing, receiver.url)).toMatchObject({ kind: 'response', statusCode: 204 });
    expect(receiver.requests).toHaveLength(1);
  });

  it('refuses a host name that resolves to loopback, at connect time, and never reaches the receiver', async () => {
    const url = receiver.url.replace('127.0.0.1', 'localhost');
    const exchange = await post(strict, url);
    expect(exchange).toMatchObject({ kind: 'error', refused: true });
    expect(exchange.kind === 'error' && exchange.error).toMatch(/localhost resolves to no allowed address/);
    // A socket object exists (net resolves through the guard's lookup), but it never connected.
    expect(receiver.connections()).toBe(0);
    expect(receiver.requests).toHaveLength(0);
  });

  it('does not follow redirects', async () => {
    receiver.reply = () => ({ status: 302, headers: { location: 'http://169.254.169.254/' } });
    expect(await post(allowing, receiver.url)).toMatchObject({ kind: 'response', statusCode: 302 });
    expect(connects).toEqual(['127.0.0.1']);
  });
});
