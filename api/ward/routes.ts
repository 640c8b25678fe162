import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/** The static files live next to the source; from dist/ they are read from the package's api/ward/static. */
const STATIC_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../api/ward/static/' : './static/', import.meta.url));

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/ward': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ward/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ward/i18n.js': { file: 'i18n.js', type: 'text/javascript; charset=utf-8' },
  '/ward/stream.js': { file: 'stream.js', type: 'text/javascript; charset=utf-8' },
  '/ward/render.js': { file: 'render.js', type: 'text/javascript; charset=utf-8' },
  '/ward/attention.js': { file: 'attention.js', type: 'text/javascript; charset=utf-8' },
  '/ward/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * The page holds no data and no token, so it is public (a paired tablet keeps its board
 * token in its own storage, never in the page); everything it shows comes from
 * the API under the clinician's token. Same-origin scripts and requests only (CSP), and
 * no referrer, so a token can never travel to another origin.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** GET /ward: the ward board for a ward tablet, plain HTML, CSS and JS without a build step. */
export const wardRoutes: FastifyPluginAsync = async (app) => {
  for (const [url, { file, type }] of Object.entries(FILES)) {
    // Read once at start: a missing file stops the start instead of failing on a ward tablet.
    const body = readFileSync(STATIC_DIR + file);
    app.get(url, {
      config: { access: 'public' },
      schema: {
        tags: ['ward'],
        summary:
          url === '/ward'
            ? 'The ward board (pair it with a code from POST /v1/sites/{siteId}/board-pairings, or open /ward?site=<siteId>#token=<clinician token>)'
            : `Ward board asset ${file}`,
      },
      handler: async (_request, reply) => reply.headers({ ...SECURITY_HEADERS, 'content-type': type }).send(body),
    });
  }
};
