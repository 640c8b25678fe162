import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The layers README "How it is put together" draws, as .dependency-cruiser.cjs encodes
 * them: the tree keeps them, and every rule fails when its layer is crossed.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules/.bin/depcruise');
// Every top-level folder of the repository, so that a new one is checked too.
const SOURCES = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory() && !d.name.startsWith('.') && !['node_modules', 'dist', 'data', 'coverage'].includes(d.name))
  .map((d) => d.name);

interface Violation {
  readonly rule: { readonly name: string };
  readonly from: string;
  readonly to: string;
}

async function cruise(cwd: string, folders: readonly string[]): Promise<{ modules: number; violations: string[] }> {
  // Exit code 1 means violations; the JSON on stdout says which.
  const run = await promisify(execFile)(DEPCRUISE, ['--config', CONFIG, '--output-type', 'json', ...folders], { cwd, maxBuffer: 256 * 1024 * 1024 }).catch(
    (e: { stdout?: string; stderr?: string; code?: number }) => {
      if (e.code !== 1 || !e.stdout) throw new Error(`depcruise failed: ${e.stderr ?? e}`);
      return { stdout: e.stdout };
    },
  );
  const result = JSON.parse(run.stdout) as { summary: { totalCruised: number; violations: Violation[] } };
  return {
    modules: result.summary.totalCruised,
    violations: result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort(),
  };
}

describe('architecture', () => {
  const fixture = mkdtempSync(join(tmpdir(), 'arena-layers-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));

  it('the tree keeps every layer rule (rule: from → to)', { timeout: 180_000 }, async () => {
    const { modules, violations } = await cruise(ROOT, SOURCES);
    expect(modules).toBeGreaterThan(200);
    expect(violations, violations.join('\n')).toEqual([]);
  });

  it('each rule reports the import that crosses its layer, and lets the allowed ones pass', { timeout: 120_000 }, async () => {
    const files: Record<string, string> = {
      'kernel/a.ts': "import '../hub/x.js';",
      'device-profiles/p.ts': "import '../broker/b.js';",
      'service/s.ts': "import '../ingest/i.js';",
      'service/adapters.ts': "import '../stores/st.js';",
      'stores/st.ts': "import '../api/r.js';",
      'broker/b.ts': "import '../ingest/i.js';",
      'ingest/i.ts': "import '../kernel/k.js';",
      'api/r.ts': "import '../kernel/k.js';",
      'api/routes/datasets.ts': "import '../../datasets/d.js';\nimport '../../broker/b.js';",
      'datasets/d.ts': "import '../kernel/k.js';",
      'alarms/al.ts': "import '../stores/st.js';",
      'broker/main.ts': "import '../hub/x.js';\nimport '../stores/st.js';\nimport '../service/adapters.js';",
      'hub/x.ts': "import '../stores/st.js';\nimport '../broker/b.js';",
      'kernel/k.ts': "import { readFileSync } from 'node:fs';\nimport 'fs/promises';\nexport const k = readFileSync;",
      'kernel/new.ts': "import '../newfolder/n.js';",
      'reports/c.ts': "import '../kernel/k.js';\nimport '../api/r.js';",
      'conformance/e.ts': "import '../device-profiles/p.js';\nimport '../ingest/i.js';",
      'newfolder/n.ts': 'export const n = 1;',
      'sim/c1.ts': "import './c2.js';",
      'sim/c2.ts': "import './c1.js';",
      'sim/u.ts': "import './missing.js';",
      'tests/t.ts': "import '../hub/x.js';\nimport '../stores/st.js';",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(fixture, path)), { recursive: true });
      writeFileSync(join(fixture, path), `${text}\n`);
    }
    writeFileSync(join(fixture, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
    const { violations } = await cruise(fixture, [...new Set(Object.keys(files).map((f) => f.split('/')[0]!))]);
    expect(violations).toEqual(
      [
        'composition-roots-stay-apart: broker/main.ts → hub/x.ts',
        'conformance-builds-on-profiles: conformance/e.ts → ingest/i.ts',
        'device-profiles-build-on-kernel: device-profiles/p.ts → broker/b.ts',
        'kernel-imports-nothing-of-ours: kernel/a.ts → hub/x.ts',
        'kernel-imports-nothing-of-ours: kernel/new.ts → newfolder/n.ts',
        'no-circular: sim/c1.ts → sim/c2.ts', // a cycle is reported once, at the module where the cruise met it
        'not-to-unresolvable: sim/u.ts → ./missing.js',
        'nothing-imports-a-composition-root: kernel/a.ts → hub/x.ts',
        'only-composition-roots-build-adapters: alarms/al.ts → stores/st.ts',
        'reports-builds-on-kernel: reports/c.ts → api/r.ts',
        'service-shared-module-below-services: service/s.ts → ingest/i.ts',
        'services-never-import-each-other: api/routes/datasets.ts → broker/b.ts',
        'services-never-import-each-other: broker/b.ts → ingest/i.ts',
        'stores-implement-kernel-ports: stores/st.ts → api/r.ts',
      ].sort(),
    );
  });
});
