import '../kernel/runtime.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { SqlClient } from '../kernel/sql.js';
import { openDuckDbSqlClient } from '../stores/duckdb/sql-client.js';
import { sqlAuditLog } from '../stores/sql/audit-log.js';
import { parseAuditKey } from './key.js';

/**
 * Verifies the audit log's hash chain and head checkpoint offline:
 *   node dist/audit/verify.js --data <data folder> [--key-file <file>]
 * The HMAC key is the data folder's audit.key unless --key-file names another.
 * Prints "OK <entries> entries, head <hash>" and exits 0, or names the first entry that
 * does not verify and exits 1 (2 when the log or key cannot be read). DuckDB lets one process
 * open the file, so run it while the hub is stopped; a running hub answers
 * GET /v1/audit/verify instead.
 */
const USAGE = 'usage: node dist/audit/verify.js --data <data folder> [--key-file <file>]';

function fail(message: string): never {
  console.error(`arena-audit: ${message}`);
  process.exit(2);
}

let args: { data?: string; 'key-file'?: string } = {};
try {
  args = parseArgs({ options: { data: { type: 'string' }, 'key-file': { type: 'string' } }, strict: true }).values;
} catch (e) {
  fail(`${(e as Error).message}\n${USAGE}`);
}
const dataDir = args.data;
if (!dataDir) fail(USAGE);
const file = join(dataDir, 'registry.duckdb');
if (!existsSync(file)) fail(`${file} does not exist`);
const keyFile = args['key-file'] ?? join(dataDir, 'audit.key');
let key: Buffer;
try {
  // Read, never created here: a verifier that made a new key would only report every entry broken.
  key = parseAuditKey(readFileSync(keyFile, 'utf8'), keyFile);
} catch (e) {
  fail(`cannot read the audit key: ${(e as Error).message.split('\n')[0]}`);
}

let sql: SqlClient;
try {
  sql = await openDuckDbSqlClient(file);
} catch (e) {
  fail(`cannot open ${file} (${(e as Error).message.split('\n')[0]}); is the hub running? Stop it, or use GET /v1/audit/verify`);
}
try {
  const verdict = await sqlAuditLog(sql, Date.now, key).verify();
  if (verdict.ok) {
    console.log(`OK ${verdict.entries} entries, head ${verdict.head}`);
    process.exitCode = 0;
  } else {
    console.log(`BROKEN at entry ${verdict.brokenAt}: ${verdict.reason} (${verdict.entries} entries before it verify)`);
    process.exitCode = 1;
  }
} catch (e) {
  console.error(`arena-audit: cannot read the audit log: ${(e as Error).message}`);
  process.exitCode = 2;
} finally {
  await sql.close();
}
