import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { APP_DIST_DIR } from '@medchain/app';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where the node serves the web app (Vite builds it with this base). */
export const APP_PREFIX = '/app';

export interface AppServingOptions {
  /** The built app (`pnpm build` writes it). Default `@medchain/app`'s dist directory. */
  readonly root?: string;
  /**
   * Other nodes' API URLs (origins) the operator dashboard polls from the browser: listed at
   * GET /app/config.json and allowed by the page's Content-Security-Policy (connect-src).
   */
  readonly dashboardNodes?: readonly string[];
}

/** What GET /app/config.json answers: public, nothing secret. */
export interface AppConfigJson {
  /** Other nodes' API URLs for the operator dashboard (this node is the page's own origin). */
  readonly dashboardNodes: string[];
}

/**
 * The page may load only its own bundled scripts, styles, fonts and images, talk only to this
 * node and the configured dashboard nodes, and never be framed.
 */
export function appContentSecurityPolicy(dashboardNodes: readonly string[]): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...dashboardNodes].join(' '),
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Serves the built web app under /app (public, like /v1/health: the page holds no party data;
 * every request it makes for party data is signed in the browser). Registered as its own
 * plugin so its CSP replaces the API's `default-src 'none'` on these responses only. An unbuilt
 * app answers 503 APP_NOT_BUILT instead of failing the node.
 */
export function registerApp(app: FastifyInstance, options: AppServingOptions): void {
  const root = options.root ?? APP_DIST_DIR;
  const config: AppConfigJson = { dashboardNodes: [...(options.dashboardNodes ?? [])] };
  const csp = appContentSecurityPolicy(config.dashboardNodes);
  // Checked per request until found, so building the app while the node runs is enough; once
  // built, requests cost no file check of their own.
  let found = false;
  const built = () => {
    found ||= existsSync(join(root, 'index.html'));
    return found;
  };

  app.get('/', (_request, reply) => reply.redirect(`${APP_PREFIX}/`, 302));

  app.register(
    async (instance) => {
      instance.addHook('onSend', (request, reply, payload, done) => {
        reply.header('content-security-policy', csp);
        // Vite names bundled assets by their content hash: they never change under one name.
        const immutable = request.url.startsWith(`${APP_PREFIX}/assets/`) && reply.statusCode < 300;
        reply.header(
          'cache-control',
          immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
        );
        done(null, payload);
      });
      instance.addHook('onRequest', (_request, reply, done) => {
        if (built()) {
          done();
          return;
        }
        notBuilt(reply);
      });
      instance.get('/config.json', async () => config);
      // /app/ serves index.html; the page's relative URLs need the slash.
      instance.get('/', { prefixTrailingSlash: 'no-slash' }, (_request, reply) =>
        reply.redirect(`${APP_PREFIX}/`, 301),
      );
      instance.register(fastifyStatic, {
        root,
        suppressWarning: true,
        // The onSend hook above sets caching; send's own header would be overwritten anyway.
        cacheControl: false,
      });
      instance.setNotFoundHandler(async (request, reply) =>
        reply.code(404).send({
          error: {
            code: 'APP_FILE_NOT_FOUND',
            message: `the web app has no file ${request.url.split('?', 1)[0]!.slice(0, 200)}; open ${APP_PREFIX}/`,
          },
        }),
      );
    },
    { prefix: APP_PREFIX },
  );
}

/** Public, so it names no path on the node's disk (the operator knows where the app builds). */
function notBuilt(reply: FastifyReply): void {
  reply.code(503).send({
    error: {
      code: 'APP_NOT_BUILT',
      message: 'the web app is not built: run pnpm build on the node, then reload',
    },
  });
}
