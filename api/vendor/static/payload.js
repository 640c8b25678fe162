// A raw payload with the field at `path` highlighted. Paths are the hub's one notation
// (device-profiles/path.ts formatPath): `samples[1].t`, "" for the whole payload. Built
// with DOM nodes and textContent only: a payload is untrusted text.

const pathOf = (parent, key) => (typeof key === 'number' ? `${parent}[${key}]` : parent === '' ? key : `${parent}.${key}`);

function node(value, path, target, indent) {
  const span = document.createElement('span');
  const pad = '  '.repeat(indent + 1);
  if (Array.isArray(value) || (value !== null && typeof value === 'object')) {
    const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
    const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
    span.append(open);
    entries.forEach(([k, v], i) => {
      span.append(`\n${pad}`);
      // The member (key and value) is what a path names, so it is marked as one.
      const member = document.createElement('span');
      const childPath = pathOf(path, k);
      if (childPath === target) member.className = 'hit';
      if (!Array.isArray(value)) member.append(`${JSON.stringify(k)}: `);
      member.append(node(v, childPath, target, indent + 1));
      span.append(member);
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
  const root = node(parsed, '', path, 0);
  if (path === '') root.className = 'hit';
  pre.append(root);
  return pre;
}
