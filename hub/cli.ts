#!/usr/bin/env node
import '../kernel/runtime.js';
import { fileURLToPath } from 'node:url';

/**
 * `arena-hub <command>`: one entry for the operator's commands. Each runs in this process
 * (its module is imported with the arguments in place), so signals reach the hub itself,
 * never a wrapper. `--help` on any command says what it does and how it is called.
 */
interface Command {
  /** The module under dist/, and arguments put before the operator's. */
  readonly entry: string;
  readonly args?: readonly string[];
  readonly summary: string;
  /** Its own help, for commands whose module has none; the others answer --help themselves. */
  readonly help?: string;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  start: {
    entry: 'hub/main.js',
    summary: 'run the all-in-one hub (broker, ingest, API) on ARENA_DATA_DIR',
    help: 'usage: arena-hub start\n\nRuns broker, ingest and API in this process; configured by environment variables (README "Configuration"). SIGTERM or SIGINT stops it cleanly.',
  },
  demo: {
    entry: 'hub/main.js',
    args: ['--demo'],
    summary: 'run the hub with a demo arena and simulated devices',
    help: 'usage: arena-hub demo [--no-simulator] [--speed 60]\n\nSeeds two sites with one device of each shipped profile (secrets in ARENA_DATA_DIR/demo-devices.json) and drives them with the simulator.\n  --no-simulator   seed only\n  --speed N        simulated time runs N times faster',
  },
  'profile-check': { entry: 'hub/profile-check.js', summary: 'check device profiles, and decode sample messages with them, without a running hub' },
  simulate: { entry: 'sim/main.js', summary: 'drive devices against a running hub' },
  backup: { entry: 'hub/backup-cli.js', args: ['backup'], summary: 'take a consistent backup of the running hub into one file' },
  restore: { entry: 'hub/backup-cli.js', args: ['restore'], summary: 'restore a backup into an empty data folder' },
  'audit-verify': {
    entry: 'audit/verify.js',
    summary: "verify the audit log's hash chain offline (hub stopped)",
    help: 'usage: arena-hub audit-verify --data <data folder> [--key-file <file>]\n\nVerifies the hash chain and head checkpoint; exits 0 (OK), 1 (an entry does not verify) or 2 (cannot read). A running hub answers GET /v1/audit/verify instead.',
  },
  requeue: {
    entry: 'hub/requeue.js',
    summary: 'load the batches the journal set aside, once their cause is fixed (hub stopped)',
    help: 'usage: arena-hub requeue\n\nPuts ARENA_DATA_DIR/journal/dead-letter.ndjson back into the journal and loads it into the store; nothing is stored twice.',
  },
  bench: { entry: 'bench/main.js', summary: 'benchmarks, as ratios against a baseline measured in the same run' },
  soak: { entry: 'soak/main.js', summary: 'a long run of the split layout under load' },
};

const usage = (): string =>
  `usage: arena-hub <command> [options]    (arena-hub <command> --help for its options)\n\n${Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`)
    .join('\n')}`;

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage());
  process.exit(name === undefined ? 2 : 0);
}
const command = COMMANDS[name];
if (!command) {
  console.error(`arena-hub: no command "${name}"\n\n${usage()}`);
  process.exit(2);
}
if (command.help && (rest.includes('--help') || rest.includes('-h'))) {
  console.log(command.help);
  process.exit(0);
}
const entry = fileURLToPath(new URL(`../${command.entry}`, import.meta.url));
process.argv = [process.argv[0]!, entry, ...(command.args ?? []), ...rest];
await import(entry);
