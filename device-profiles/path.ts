/**
 * The one path notation of profiles and rejections: dot-separated keys with array
 * indices in brackets, `event.type`, `samples[3].v`, `groups[1].samples[0].t`
 * (what JSONPath writes after its leading `$.`). In a profile, `[*]` stands for the
 * current record's index at that level, and a leading `$.` reads from the message
 * root instead of the record. Profiles written with numeric dot segments
 * (`items.0.v`) read the same.
 */
export type Segment = string | number;
export const ANY = -1;

export interface CompiledPath {
  readonly text: string;
  readonly fromRoot: boolean;
  readonly segments: readonly Segment[];
}

const SEGMENT = /^([A-Za-z_$][\w$-]*)((?:\[(?:\d+|\*)\])*)$/;

/** Parses a profile path; null when it is not one. */
export function parsePath(text: string): CompiledPath | null {
  const fromRoot = text.startsWith('$.');
  const body = fromRoot ? text.slice(2) : text;
  if (body === '') return null;
  const segments: Segment[] = [];
  for (const part of body.split('.')) {
    if (/^\d+$/.test(part) && segments.length > 0) {
      segments.push(Number(part));
      continue;
    }
    const m = SEGMENT.exec(part);
    if (!m) return null;
    segments.push(m[1]!);
    for (const idx of m[2]!.matchAll(/\[(\d+|\*)\]/g)) segments.push(idx[1] === '*' ? ANY : Number(idx[1]));
  }
  return { text, fromRoot, segments };
}

export const PATH_PATTERN = /^(\$\.)?[A-Za-z_$][\w$-]*(\[(\d+|\*)\])*(\.([A-Za-z_$][\w$-]*(\[(\d+|\*)\])*|\d+))*$/;

/** Reads a compiled path; `[*]` takes the next of `indices`. Undefined when absent. */
export function readPath(value: unknown, segments: readonly Segment[], indices: readonly number[] = []): unknown {
  let cur = value;
  let k = 0;
  for (let i = 0; i < segments.length; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    let s = segments[i]!;
    if (s === ANY) s = indices[k++] ?? -1;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

/** Formats a path as `a.b[2].c`; `prefix` is the record's own path, if any. */
export function formatPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const k of path) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += out === '' ? String(k) : `.${String(k)}`;
  }
  return out;
}

/** The concrete path of a compiled profile path for the current record. */
export function concretePath(p: CompiledPath, recordPath: string, indices: readonly number[]): string {
  let k = 0;
  return formatPath(
    p.segments.map((s) => (s === ANY ? (indices[k++] ?? 0) : s)),
    p.fromRoot ? '' : recordPath,
  );
}
