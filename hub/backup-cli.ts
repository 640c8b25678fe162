import '../kernel/runtime.js';
import { parseArgs } from 'node:util';
import { loadHubConfig } from './config.js';
import { requestBackup } from './backup-control.js';
import { restoreBackup } from './backup.js';

/**
 * `npm run backup -- --out FILE` asks the running all-in-one hub on ARENA_DATA_DIR for a
 * consistent backup (hub/backup.ts); `npm run restore -- --from FILE --data-dir DIR`
 * unpacks one into an empty data folder, to be started with ARENA_DATA_DIR=DIR.
 */
const HELP = {
  backup: `usage: npm run backup -- --out FILE [--data-dir DIR]

Takes a consistent backup of the running all-in-one hub into FILE: telemetry, registry,
journal, pseudonym and audit keys, the bootstrap admin token, the erasure register.
Devices keep publishing; their acknowledgements wait while the hub cuts the backup.
  --out FILE        where to write the backup (readable by this user only)
  --data-dir DIR    the running hub's data folder (default: ARENA_DATA_DIR, else ./data)`,
  restore: `usage: npm run restore -- --from FILE --data-dir DIR

Restores a backup into DIR, which must be empty or absent; every file is checked against
its checksum. Then start the hub with ARENA_DATA_DIR=DIR.
  --from FILE       the backup file
  --data-dir DIR    the new data folder`,
} as const;

const [command, ...rest] = process.argv.slice(2);
if (command !== 'backup' && command !== 'restore') {
  console.error(`usage: backup-cli.js backup|restore [--help]\n\n${HELP.backup}\n\n${HELP.restore}`);
  process.exit(2);
}
const OPTIONS = { out: { type: 'string' }, from: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', default: false } } as const;
let args: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
try {
  args = parseArgs({ args: rest, options: OPTIONS }).values;
} catch (e) {
  console.error(`arena-hub ${command}: ${(e as Error).message}\n\n${HELP[command]}`);
  process.exit(2);
}
if (args.help) {
  console.log(HELP[command]);
  process.exit(0);
}

try {
  if (command === 'backup') {
    if (!args.out) throw new Error(`--out is required\n\n${HELP.backup}`);
    const dataDir = loadHubConfig({ ...process.env, ...(args['data-dir'] ? { ARENA_DATA_DIR: args['data-dir'] } : {}) }).dataDir;
    const m = await requestBackup(dataDir, args.out);
    const bytes = m.files.reduce((n, f) => n + f.size, 0);
    console.log(`backup of ${dataDir} written to ${args.out}: ${m.files.length} files, ${bytes} bytes, cut at ${m.cutAt} (commits held ${m.pausedMs} ms)`);
  } else {
    if (!args.from || !args['data-dir']) throw new Error(`--from and --data-dir are required\n\n${HELP.restore}`);
    const m = await restoreBackup({ from: args.from, dataDir: args['data-dir'] });
    console.log(
      `restored ${m.files.length} files of the backup cut at ${m.cutAt} into ${args['data-dir']}; start the hub with ARENA_DATA_DIR=${args['data-dir']}`,
    );
  }
} catch (e) {
  console.error(`arena-hub ${command}: ${(e as Error).message}`);
  process.exit(1);
}
