/**
 * One watch request: `GET <path>?watch=1&…`, streamed, one JSON event per line, until the server ends
 * it (its watch timeout), the signal aborts, or an error. Replaces client-node's Watch so that
 * informers work with any {@link KubeTarget} (and NMI never loads client-node).
 * @module
 */
import { resolveAccess, type KubeTarget } from './access.ts';
import { sendKubeRequest, type KubeResponse } from './transport.ts';

/** A non-2xx answer to the watch request itself (410 Gone: the resource version is too old). */
export class WatchHttpError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

/**
 * Streams events of `path` to `onEvent` (type, object); resolves when the stream ends or `signal`
 * aborts, rejects on a request or stream error, or when `onEvent` throws.
 */
export async function watchStream(
  target: KubeTarget,
  path: string,
  query: Readonly<Record<string, string | boolean>>,
  onEvent: (type: string, object: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  const access = await resolveAccess(target);
  const url = new URL(access.server + path);
  url.searchParams.set('watch', 'true');
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, String(value));
  let response: KubeResponse;
  try {
    // Pacing (if any) may hold the opening; an abort while waiting ends the watch like any other.
    const prepared = await access.prepare(signal);
    response = await sendKubeRequest(url, prepared, { method: 'GET', headers: { ...prepared.headers, Accept: 'application/json' }, signal });
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
  if (!response.ok) {
    const text = await response.text().catch(() => '');
    throw new WatchHttpError(response.status, `watch ${path}: ${String(response.status)} ${text.slice(0, 300)}`);
  }
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line !== '') {
          const event = JSON.parse(line) as { type?: string; object?: unknown };
          onEvent(event.type ?? '', event.object);
        }
        newline = buffered.indexOf('\n');
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    throw error;
  }
}
