import { threadPoolSize } from './config.js';

/**
 * Sizes libuv's thread pool (hub/config.ts threadPoolSize). libuv reads UV_THREADPOOL_SIZE
 * once, when the first work item is queued, and nothing before the hub's own code queues
 * one (Node.js 24 loads ES modules without the pool), so this module is imported by the
 * entry point before any module that could: its body runs first.
 */
const size = threadPoolSize(process.env);
if (size !== undefined) process.env.UV_THREADPOOL_SIZE = String(size);
