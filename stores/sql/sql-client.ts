/** The SQL port lives in the kernel (kernel/sql.ts); the registry's modules name it from here. */
export type { SqlClient, TransactionOptions } from '../../kernel/sql.js';
