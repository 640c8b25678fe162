/**
 * Just enough of an InfluxQL reader to check dashboard queries against the store's
 * schema: which measurements they read, which identifiers they name, and which values
 * they compare tags with (`"name" = 'fall'`, `"name" =~ /^(a|b)$/`). Grafana macros and
 * variables ($timeFilter, $__interval, $site) are words like any other.
 */
type Token = { kind: 'ident' | 'string' | 'regex' | 'word' | 'punct'; text: string };

export interface QueryNames {
  readonly measurements: Set<string>;
  readonly identifiers: Set<string>;
  readonly aliases: Set<string>;
  /** Tag key -> values the query compares it with. */
  readonly tagValues: Map<string, string[]>;
  readonly problems: string[];
}

/** Words a query may use unquoted; anything else must be a quoted identifier. */
const WORDS = new Set(
  'select from where and or as group by order asc desc limit fill none previous null linear time show tag values with key now'
    .split(' ')
    .concat('count mean sum last first max min median spread stddev distinct difference derivative non_negative_derivative'.split(' ')),
);

export function tokenize(q: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const quoted = (end: string): string => {
    let s = '';
    for (i++; i < q.length && q[i] !== end; i++) s += q[i] === '\\' ? q[++i] : q[i];
    if (i >= q.length) throw new Error(`unterminated ${end} in: ${q}`);
    i++;
    return s;
  };
  while (i < q.length) {
    const c = q[i]!;
    const prev = out[out.length - 1];
    if (/\s/.test(c)) i++;
    else if (c === '"') out.push({ kind: 'ident', text: quoted('"') });
    else if (c === "'") out.push({ kind: 'string', text: quoted("'") });
    else if (c === '/' && prev?.kind === 'punct' && /^[=!]~$/.test(prev.text)) out.push({ kind: 'regex', text: quoted('/') });
    else {
      const m = /^(?:[=!]~|[<>!]=|<>|\$\{?\w+\}?|[\w.]+|.)/.exec(q.slice(i))![0];
      out.push({ kind: /^[\w$]/.test(m) ? 'word' : 'punct', text: m });
      i += m.length;
    }
  }
  return out;
}

/** `^(a|b)$` or `^a$` -> ['a', 'b']; anything else is not a plain list of values. */
function regexValues(re: string): string[] | undefined {
  const m = /^\^\(?([\w|-]+)\)?\$$/.exec(re);
  return m ? m[1]!.split('|') : undefined;
}

export function analyze(query: string): QueryNames {
  const t = tokenize(query);
  const r: QueryNames = { measurements: new Set(), identifiers: new Set(), aliases: new Set(), tagValues: new Map(), problems: [] };
  t.forEach((tok, i) => {
    const prev = t[i - 1];
    const next = t[i + 1];
    const after = t[i + 2];
    if (tok.kind === 'word') {
      const w = tok.text.toLowerCase();
      if (!WORDS.has(w) && !tok.text.startsWith('$') && !/^-?\d+(\.\d+)?[a-z]*$/.test(w)) r.problems.push(`unquoted identifier or unknown word ${tok.text}`);
      if (w === 'from' && next?.kind !== 'ident' && next?.text !== '(') r.problems.push('FROM must name a quoted measurement or a subquery');
      return;
    }
    if (tok.kind !== 'ident') return;
    if (prev?.kind === 'word' && prev.text.toLowerCase() === 'as') r.aliases.add(tok.text);
    else if ((prev?.kind === 'word' && prev.text.toLowerCase() === 'from') || (prev?.text === ',' && r.measurements.size > 0 && isFromList(t, i))) {
      r.measurements.add(tok.text);
    } else r.identifiers.add(tok.text);
    if (next?.kind === 'punct' && (next.text === '=' || next.text === '!=') && after?.kind === 'string') add(r, tok.text, [after.text]);
    if (next?.kind === 'punct' && /^[=!]~$/.test(next.text) && after?.kind === 'regex' && !/\$[\w{]/.test(after.text)) {
      // A regex with a Grafana variable ($site) is a user's choice, not a fixed value list.
      const values = regexValues(after.text);
      if (values) add(r, tok.text, values);
      else r.problems.push(`"${tok.text}" =~ /${after.text}/ is not an anchored list such as /^(a|b)$/`);
    }
  });
  return r;
}

/** A `, "m"` continues a FROM list when the tokens back to FROM are all measurements and commas. */
function isFromList(t: Token[], i: number): boolean {
  for (let j = i - 1; j >= 0; j--) {
    const tok = t[j]!;
    if (tok.kind === 'word' && tok.text.toLowerCase() === 'from') return true;
    if (!(tok.kind === 'ident' || tok.text === ',')) return false;
  }
  return false;
}

function add(r: QueryNames, key: string, values: string[]): void {
  r.tagValues.set(key, [...(r.tagValues.get(key) ?? []), ...values]);
}
