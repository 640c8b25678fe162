import { HubError } from '../../kernel/errors.js';

/**
 * InfluxQL over the v1-compatible `/query` endpoint, which InfluxDB 1.x, 2.x (through a
 * DBRP mapping) and 3.x all serve. POST with a form body keeps long OR lists out of the
 * URL; `epoch=ms` makes every timestamp an integer of epoch milliseconds (the server
 * truncates the nanosecond part, which the adapter keeps in a field of its own).
 */

/** One result row with its series' tags merged in, keyed by column name. */
export type Row = Readonly<Record<string, unknown>>;

interface Series {
  readonly name: string;
  readonly tags?: Record<string, string>;
  readonly columns: string[];
  readonly values?: unknown[][];
}

interface Response {
  readonly error?: string;
  readonly results?: { readonly statement_id?: number; readonly error?: string; readonly series?: Series[] }[];
}

export interface QueryClientOptions {
  readonly url: string;
  readonly token: string;
  readonly database: string;
  readonly retentionPolicy?: string;
  readonly timeoutMs: number;
}

export class QueryClient {
  constructor(private readonly o: QueryClientOptions) {}

  /** Runs statements in one request; returns each statement's rows, in order. */
  async run(statements: readonly string[]): Promise<Row[][]> {
    if (statements.length === 0) return [];
    const form = new URLSearchParams({ db: this.o.database, q: statements.join(';\n'), epoch: 'ms' });
    if (this.o.retentionPolicy) form.set('rp', this.o.retentionPolicy);
    const res = await this.#fetch('/query', { method: 'POST', body: form });
    const text = await res.text().catch((e: unknown) => {
      throw unavailable(`reading the /query answer failed: ${(e as Error).message}`, e);
    });
    const body = parseBody(text);
    const error = body?.error ?? body?.results?.find((r) => r.error !== undefined)?.error;
    if (!res.ok || error !== undefined || !body?.results) throw queryError(res.status, error ?? text.slice(0, 300), statements);
    return statements.map((_, i) => rowsOf(body.results?.[i]?.series ?? []));
  }

  /** `/ping` answers 204 on 1.x and 2.x, 200 on 3.x. */
  async ping(): Promise<void> {
    await this.version();
  }

  /** The server's version, from `/ping`'s X-Influxdb-Version header ("1.6.7~rc0", "v2.7.12"; '' if absent). */
  async version(): Promise<string> {
    const res = await this.#fetch('/ping', { method: 'GET' });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw unavailable(`InfluxDB /ping answered ${res.status}`);
    return res.headers.get('x-influxdb-version') ?? '';
  }

  async #fetch(path: string, init: RequestInit): Promise<globalThis.Response> {
    try {
      return await fetch(new URL(path, this.o.url), {
        ...init,
        headers: { authorization: `Token ${this.o.token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (e) {
      throw unavailable(`InfluxDB ${path} is unreachable: ${(e as Error).message}`, e);
    }
  }
}

function parseBody(text: string): Response | undefined {
  try {
    return JSON.parse(text) as Response;
  } catch {
    return undefined;
  }
}

function rowsOf(series: readonly Series[]): Row[] {
  const rows: Row[] = [];
  for (const s of series) {
    for (const values of s.values ?? []) {
      const row: Record<string, unknown> = { ...s.tags };
      s.columns.forEach((c, i) => (row[c] = values[i]));
      rows.push(row);
    }
  }
  return rows;
}

const unavailable = (detail: string, cause?: unknown): HubError => new HubError('STORE_UNAVAILABLE', detail, { cause });

/**
 * Server trouble, auth and a missing database (or DBRP mapping) are STORE_UNAVAILABLE:
 * an operator can fix them and a retry then succeeds. Anything else is a query the
 * adapter should not have built.
 */
function queryError(status: number, error: string, statements: readonly string[]): HubError {
  const detail = `InfluxDB /query failed (${status}): ${error}`;
  if (status >= 500 || status === 401 || status === 403 || status === 404 || status === 429 || /database not found/i.test(error)) {
    return unavailable(detail);
  }
  return new HubError('INTERNAL', `${detail}\n  in: ${statements.join('; ').slice(0, 500)}`);
}
