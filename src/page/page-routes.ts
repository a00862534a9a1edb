import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { loadPageFiles, type PageFiles } from './page-bundle.ts';

const contentTypes: Record<keyof PageFiles, string> = {
  'index.html': 'text/html; charset=utf-8',
  'live-page.css': 'text/css; charset=utf-8',
  'live-page.js': 'text/javascript; charset=utf-8',
};

/**
 * The script may talk to this origin only (the API and `/v1/stream`), and nothing on the page
 * runs but the bundle: event text is data (the feed builds text nodes, never HTML).
 */
const securityHeaders = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/**
 * `GET /` (the live page) and `GET /assets/live-page.{js,css}`: open routes (contracts.md,
 * HTTP); the page asks for an API key and uses the public API with it. The files are loaded
 * (or bundled) on the first request, not at start, so services that never serve the page
 * never start esbuild.
 */
export function pageRoutes(): FastifyPluginAsync {
  let files: Promise<PageFiles> | undefined;

  async function send(reply: FastifyReply, name: keyof PageFiles) {
    files ??= loadPageFiles();
    let loaded: PageFiles;
    try {
      loaded = await files;
    } catch (error) {
      files = undefined; // try again on the next request
      throw error;
    }
    return reply.headers(securityHeaders).type(contentTypes[name]).send(loaded[name]);
  }

  return async (app) => {
    const route = { config: { access: 'open' as const }, schema: { hide: true } };
    app.get('/', route, (_request, reply) => send(reply, 'index.html'));
    app.get('/assets/live-page.js', route, (_request, reply) => send(reply, 'live-page.js'));
    app.get('/assets/live-page.css', route, (_request, reply) => send(reply, 'live-page.css'));
  };
}
