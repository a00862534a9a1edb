import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiServer, startApiServer } from './api/api-server.ts';

/** One raw HTTP/1.1 request over TCP (header overflows never get past a client library), the answer split. */
function rawRequest(port: number, head: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => (chunks.length > 0 ? undefined : reject(error)));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [headers = '', body = ''] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(headers)?.[1]), headers, body });
    });
    socket.end(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

describe('HTTP errors outside any route answer in the documented shape', () => {
  let server: ApiServer;
  let port: number;
  beforeAll(async () => {
    server = await startApiServer();
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    port = (server.app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await server.dispose();
  });

  const shape = (body: string) => JSON.parse(body) as { error: { code: string; message: string } };

  it('a URL whose %-escape does not decode: 400 TOCSIN_INVALID_REQUEST, the URL not echoed', async () => {
    const answer = await rawRequest(
      port,
      `GET /v1/rules/%E0%A4%A HTTP/1.1\r\nAuthorization: Bearer ${server.key}`,
    );
    expect(answer.status).toBe(400);
    expect(shape(answer.body)).toEqual({
      error: { code: 'TOCSIN_INVALID_REQUEST', message: expect.stringMatching(/URL is not valid/) },
    });
    expect(answer.body).not.toContain('%E0');
  });

  it('an over-long path parameter: 414 in the error shape', async () => {
    const answer = await rawRequest(port, `GET /v1/rules/${'a'.repeat(300)} HTTP/1.1`);
    expect(answer.status).toBe(414);
    expect(shape(answer.body).error.code).toBe('TOCSIN_INVALID_REQUEST');
  });

  it.each([
    ['an over-long header', `GET /healthz HTTP/1.1\r\nX-Padding: ${'x'.repeat(40_000)}`],
    ['a 60 KB path', `GET /u/${'t'.repeat(60_000)} HTTP/1.1`],
  ])('%s: 431 in the error shape', async (_name, head) => {
    const answer = await rawRequest(port, head);
    expect(answer.status).toBe(431);
    expect(answer.headers).toMatch(/content-type: application\/json/i);
    expect(shape(answer.body)).toEqual({
      error: { code: 'TOCSIN_INVALID_REQUEST', message: expect.stringMatching(/headers are larger/) },
    });
  });

  it('bytes that are not HTTP: 400 in the error shape', async () => {
    const answer = await rawRequest(port, 'NOT HTTP AT ALL');
    expect(answer.status).toBe(400);
    expect(shape(answer.body).error.code).toBe('TOCSIN_INVALID_REQUEST');
  });
});
