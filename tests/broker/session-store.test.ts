import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, describe, expect, it } from 'vitest';
import { levelSessions, memorySessions, type SessionStore } from '../../broker/sessions.js';

/**
 * The SessionStore port (CONNACK Session Present, [MQTT-3.2.2-2]): one contract, in the
 * style of aedes-persistence's abstract tests, run against every store that ships: in
 * memory beside aedes's in-memory persistence, in LevelDB beside aedes-persistence-level.
 */
function sessionStoreContract(name: string, open: () => Promise<{ store: SessionStore }>): void {
  describe(`SessionStore contract: ${name}`, () => {
    it('knows a client id from add until delete, and no other', async () => {
      const { store } = await open();
      expect(await store.has('ward-3/bed-1')).toBe(false);
      await store.add('ward-3/bed-1');
      expect(await store.has('ward-3/bed-1')).toBe(true);
      expect(await store.has('ward-3/bed-2')).toBe(false);
      await store.delete('ward-3/bed-1');
      expect(await store.has('ward-3/bed-1')).toBe(false);
    });

    it('takes a second add and a delete of an unknown id as no change', async () => {
      const { store } = await open();
      await store.add('a');
      await store.add('a');
      await store.delete('never-added');
      expect(await store.has('a')).toBe(true);
      await store.delete('a');
      expect(await store.has('a')).toBe(false);
    });

    it('keeps ids that differ only in case or by a prefix apart', async () => {
      const { store } = await open();
      await store.add('Sensor-1');
      expect(await store.has('sensor-1')).toBe(false);
      expect(await store.has('Sensor-')).toBe(false);
      expect(await store.has('Sensor-10')).toBe(false);
    });
  });
}

const dirs: string[] = [];
const dbs: ClassicLevel<string, string>[] = [];
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function level(dir: string): Promise<SessionStore> {
  const db = new ClassicLevel<string, string>(dir);
  await db.open();
  dbs.push(db);
  return levelSessions(db.sublevel('arena-sessions'));
}

sessionStoreContract('memory', async () => ({ store: memorySessions() }));
sessionStoreContract('LevelDB', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'arena-sessions-'));
  dirs.push(dir);
  return { store: await level(dir) };
});

describe('SessionStore: LevelDB', () => {
  it('keeps its sessions across a broker restart, as aedes-persistence-level keeps theirs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arena-sessions-'));
    dirs.push(dir);
    const before = await level(dir);
    await before.add('kept');
    await dbs.pop()!.close();
    expect(await (await level(dir)).has('kept')).toBe(true);
  });
});
