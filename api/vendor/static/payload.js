// A raw payload with the field at `path` highlighted. Paths are the hub's one notation
// (device-profiles/path.ts formatPath): `samples[1].t`, "" for the whole payload. Built
// with DOM nodes and textContent only: a payload is untrusted text.

const pathOf = (parent, key) => (typeof key === 'number' ? `${parent}[${key}]` : parent === '' ? key : `${parent}.${key}`);

function node(value, path, target, indent) {
  const span = document.createElement('span');
  if (path === target) span.className = 'hit';
  const pad = '  '.repeat(indent + 1);
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
    span.append(open);
    entries.forEach(([k, v], i) => {
      span.append(`\n${pad}`);
      const key = document.createElement('span');
      const childPath = pathOf(path, k);
      if (!Array.isArray(value)) {
        key.textContent = `${JSON.stringify(k)}: `;
        if (childPath === target) key.className = 'hit';
        span.append(key);
      }
      span.append(node(v, childPath, target, indent + 1));
      if (i < entries.length - 1) span.append(',');
    });
    span.append(entries.length ? `\n${'  '.repeat(indent)}${close}` : close);
    return span;
  }
  span.textContent = JSON.stringify(value);
  return span;
}

/** A <pre> of the payload, pretty-printed when it is JSON, with the offending field marked. */
export function payloadView(raw, path) {
  const pre = document.createElement('pre');
  pre.className = 'payload';
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch {
    const whole = document.createElement('span');
    whole.textContent = raw;
    if (path === '') whole.className = 'hit';
    pre.append(whole);
    return pre;
  }
  pre.append(node(parsed, '', path, 0));
  return pre;
}
