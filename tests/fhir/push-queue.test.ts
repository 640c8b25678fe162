import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openPushQueue } from '../../fhir/push-queue.js';

const dirs: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'fhir-push-queue-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const drain = (q: ReturnType<typeof openPushQueue>): string[] => {
  const out: string[] = [];
  for (let e = q.peek(); e !== undefined; e = q.peek()) {
    out.push(e);
    q.delivered();
  }
  return out;
};

describe('the FHIR push queue', () => {
  it('keeps order and what was not delivered across a reopen; a delivered entry is not given again', () => {
    const dir = fresh();
    const q = openPushQueue(dir, 1 << 20);
    q.append(['a', 'b']);
    q.append(['c']);
    expect(q.peek()).toBe('a');
    q.delivered();
    q.close();
    const again = openPushQueue(dir, 1 << 20);
    expect(again.waiting).toBe(2);
    expect(drain(again)).toEqual(['b', 'c']);
    again.append(['d']);
    again.close();
    expect(drain(openPushQueue(dir, 1 << 20))).toEqual(['d']);
  });

  it('refuses, whole, an append past its bound, with PUSH_QUEUE_FULL, and takes more once entries are delivered', () => {
    const q = openPushQueue(fresh(), 10);
    q.append(['12345678']);
    expect(() => q.append(['x'])).toThrow(expect.objectContaining({ code: 'PUSH_QUEUE_FULL' }));
    expect(q.waiting).toBe(1);
    q.delivered();
    q.append(['x']);
    expect(drain(q)).toEqual(['x']);
  });

  it('cuts a torn last line (an append that never returned) and keeps the ones before it', () => {
    const dir = fresh();
    const q = openPushQueue(dir, 1 << 20);
    q.append(['whole']);
    q.close();
    const [file] = readdirSync(dir).filter((n) => n.startsWith('queue-'));
    appendFileSync(join(dir, file!), '{"torn":');
    const again = openPushQueue(dir, 1 << 20);
    again.append(['next']);
    expect(drain(again)).toEqual(['whole', 'next']);
  });

  it('leaves no delivered entry on disk once everything is delivered', () => {
    const dir = fresh();
    const q = openPushQueue(dir, 1 << 20);
    q.append(['secret-ish']);
    q.delivered();
    expect(readdirSync(dir).sort()).toEqual(['cursor.json', 'queue-1.ndjson']);
    expect(readFileSync(join(dir, 'queue-1.ndjson'), 'utf8')).toBe('');
    q.close();
    expect(openPushQueue(dir, 1 << 20).waiting).toBe(0);
  });
});
