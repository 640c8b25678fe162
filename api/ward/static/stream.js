// Server-sent events over fetch (HTML Living Standard §9.2 parsing), so the token goes in
// a header and the resume point in Last-Event-ID; EventSource can send neither header.

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Reads the stream until it ends; calls onEvent(name, data, id) for each event with data. */
export async function stream(url, { token, signal, lastEventId, onEvent }) {
  const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const res = await fetch(url, { signal, cache: 'no-store', headers });
  if (!res.ok || !res.body) throw new HttpError(res.status, res.statusText);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      let id = null;
      const data = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') name = v;
        else if (field === 'data') data.push(v);
        else if (field === 'id') id = v;
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')), id);
    }
  }
}
