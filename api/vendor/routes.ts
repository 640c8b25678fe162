import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';

/** The static files live next to the source; from dist/ they are read from the package's api/vendor/static. */
const STATIC_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../api/vendor/static/' : './static/', import.meta.url));

const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/vendor': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/vendor/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/payload.js': { file: 'payload.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/i18n.js': { file: 'i18n.js', type: 'text/javascript; charset=utf-8' },
  '/vendor/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/**
 * As the ward board (api/ward/routes.ts): the page holds no data and no token, so it is
 * public; everything it shows comes from the API under the vendor's token, which stays in
 * the tab (sessionStorage). Same-origin scripts and requests only; reports are downloaded
 * as files (blob:), never shown inside this page.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
};

/** GET /vendor: a vendor's devices, rejections, conformance runs and the try-a-payload form, plain HTML, CSS and JS. */
export const vendorPageRoutes: FastifyPluginAsync = async (app) => {
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(STATIC_DIR + file);
    app.get(url, {
      config: { access: 'public' },
      // Page assets, not API operations: outside the OpenAPI document, like the docs' own routes.
      schema: {
        hide: true,
        tags: ['vendor'],
        summary: url === '/vendor' ? "The vendor's page (open /vendor#token=<vendor token>)" : `Vendor page asset ${file}`,
      },
      handler: async (_request, reply) => reply.headers({ ...SECURITY_HEADERS, 'content-type': type }).send(body),
    });
  }
};
