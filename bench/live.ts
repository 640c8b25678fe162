import { performance } from 'node:perf_hooks';
import { WARD_SITE } from './seed.js';

/**
 * The ward board's live feed as a clinician's browser sees it: Server-Sent Events over
 * HTTP. The route is found in the hub's OpenAPI document; this is the one place that
 * knows how to call it, so adjust here when the live API settles.
 */
export interface LiveStream {
  readonly path: string;
  /** Each event's data, with its `event:` name ('message' when it has none). */
  onData(listener: (data: string, event: string) => void): void;
  /** Set when the hub ended the stream before close(): seconds after it opened. */
  readonly endedAfterS: number | undefined;
  close(): void;
}

export type LiveOpen = { ok: true; stream: LiveStream } | { ok: false; why: string };

/** A GET route whose path ends in "live" (/v1/live, /v1/sites/{id}/live), not /v1/live/board. */
export function findLiveRoute(paths: Record<string, Record<string, unknown>>): string | undefined {
  return Object.keys(paths).find((p) => /(^|\/)live(\/\{[^}]+\})?$/.test(p) && 'get' in (paths[p] ?? {}));
}

export async function openLive(apiPort: number, token: string, route: string): Promise<LiveOpen> {
  const path = route.replace(/\{[^}]+\}/g, WARD_SITE);
  const url = `http://127.0.0.1:${apiPort}${path}${route.includes('{') ? '' : `?siteId=${WARD_SITE}`}`;
  const controller = new AbortController();
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: controller.signal });
  } catch (e) {
    return { ok: false, why: `GET ${path} failed: ${(e as Error).message}` };
  }
  if (res.status !== 200 || !res.body) {
    controller.abort();
    return { ok: false, why: `GET ${path} answered ${res.status}` };
  }
  const listeners: ((data: string, event: string) => void)[] = [];
  const opened = performance.now();
  let endedAfterS: number | undefined;
  let closing = false;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        // Events end with a blank line; their data is the `data:` lines joined [WHATWG SSE 9.2.6].
        let end: number;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
          const lines = block.split(/\r?\n/);
          const field = (name: string) => lines.filter((l) => l.startsWith(`${name}:`)).map((l) => l.slice(name.length + 1).replace(/^ /, ''));
          const data = field('data').join('\n');
          const event = field('event')[0] ?? 'message';
          if (data) for (const l of listeners) l(data, event);
        }
      }
    } catch {
      // aborted by close(), or the connection broke
    }
    // The hub closes a stream that falls 1 MiB behind (api/routes/live.ts).
    if (!closing) endedAfterS = (performance.now() - opened) / 1000;
  })();
  return {
    ok: true,
    stream: {
      path,
      onData: (l) => listeners.push(l),
      get endedAfterS() {
        return endedAfterS;
      },
      close: () => {
        closing = true;
        controller.abort();
      },
    },
  };
}
