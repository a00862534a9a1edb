import { pino } from 'pino';

/**
 * One pino logger for the process. Credentials never reach a log line: API keys travel in
 * the Authorization header (redacted here), and every place a URL can carry one is cut out of
 * the logged URL: query parameters that name a credential (`?token=`, `?key=`, `?api_key=`,
 * `?password=`, …) and the token in the path of unsubscribe links (`/u/<token>`).
 */
export function createLogger(level: string) {
  return pino({
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        '*.apiKey',
        '*.secret',
        '*.token',
        '*.password',
      ],
      censor: '[redacted]',
    },
    serializers: {
      req(request: { method: string; url: string; ip?: string }) {
        return { method: request.method, url: redactUrl(request.url), ip: request.ip };
      },
    },
  });
}

export type Logger = ReturnType<typeof createLogger>;

/**
 * Query parameter names that carry credentials, compared without case and without `-`/`_`:
 * `token`, `key`, `apiKey`/`api_key`, `access_token`, `secret`, `password`, … A client that
 * puts its key in the query string by mistake must not leave it in the log.
 */
const credentialNames = new Set([
  'token',
  'key',
  'apikey',
  'accesstoken',
  'authtoken',
  'auth',
  'authorization',
  'bearer',
  'secret',
  'clientsecret',
  'password',
  'passwd',
  'pass',
  'pwd',
  'credential',
  'credentials',
  'signature',
  'sig',
  'session',
  'sessionid',
]);

function isCredentialName(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    // A malformed escape: judge the raw text.
  }
  return credentialNames.has(decoded.toLowerCase().replace(/[-_\s[\]]/g, ''));
}

/** Anything shaped like an API key (`tk_` + 43 base64url characters), wherever it is in a URL. */
const apiKeyShape = /tk_[A-Za-z0-9_-]{43}/g;

/**
 * The URL as logged: credential query values, unsubscribe-link tokens and anything shaped like
 * an API key replaced by `[redacted]`.
 */
export function redactUrl(url: string): string {
  const mark = url.indexOf('?');
  const path = (mark === -1 ? url : url.slice(0, mark))
    .replace(/^\/u\/[^/?#]+/, '/u/[redacted]')
    .replace(apiKeyShape, '[redacted]');
  if (mark === -1) return path;
  const query = url
    .slice(mark + 1)
    .split('&')
    .map((part) => {
      const equals = part.indexOf('=');
      const name = equals === -1 ? part : part.slice(0, equals);
      if (equals !== -1 && isCredentialName(name)) return `${name}=[redacted]`;
      return part.replace(apiKeyShape, '[redacted]');
    })
    .join('&');
  return `${path}?${query}`;
}
