/// <reference lib="dom" />

/**
 * The page's calls to the public API with the key the user gave. Answers come back as
 * `{status, body}`; an error answer keeps its documented body (`{"error": {code, message}}`)
 * so a view can show the message.
 */
export type ApiAnswer<T> = { status: number; ok: boolean; body: T };

export type ApiError = { error: { code: string; message: string } };

export function createPageApi(apiKey: string) {
  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<ApiAnswer<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}` };
    let payload: string | undefined;
    if (body !== undefined) {
      headers['content-type'] = contentType;
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const response = await fetch(path, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await response.text();
    const parsed = text === '' ? null : (JSON.parse(text) as unknown);
    return { status: response.status, ok: response.ok, body: parsed as T };
  }
  return {
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown, contentType?: string) => call<T>('POST', path, body, contentType),
    put: <T>(path: string, body: unknown) => call<T>('PUT', path, body),
    delete: <T>(path: string) => call<T>('DELETE', path),
  };
}

export type PageApi = ReturnType<typeof createPageApi>;

/** The message of an error answer, or a fallback naming the status. */
export function errorMessage(answer: ApiAnswer<unknown>): string {
  const body = answer.body as Partial<ApiError> | null;
  return body?.error?.message ?? `HTTP ${answer.status}`;
}
