import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  LOG_LEVELS,
  LOG_MODULES,
  type Logger,
  type LogLevelsChange,
  type LogLevelsView,
  logLevelsOf,
} from '../logger.js';
import type { Json } from './json.js';
import type { JsonSchema, RouteSpec } from './routes.js';

/**
 * The node's own administration routes, for its organization's admins only (authorization.ts):
 * the log levels, read and changed at run time. A change lasts until the node restarts; the
 * config (`logLevel`, `logLevels`) sets them at start.
 */

const LEVEL: JsonSchema = { type: 'string', enum: [...LOG_LEVELS] };
const MODULE_LEVELS = (value: JsonSchema, description: string): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(LOG_MODULES.map((module) => [module, value])),
  description,
});
const VIEW: JsonSchema = {
  type: 'object',
  required: ['level', 'modules', 'effective'],
  properties: {
    level: { ...LEVEL, description: 'the level of every module not set apart' },
    modules: MODULE_LEVELS(LEVEL, 'the modules set apart from the default'),
    effective: MODULE_LEVELS(LEVEL, 'the level each module logs at now'),
  },
};
const NO_QUERY: JsonSchema = { type: 'object', additionalProperties: false, properties: {} };
const REFUSED = {
  description: "SIGNATURE_* (401); FORBIDDEN (403): not an admin of this node's organization",
};

/** The routes, as entries of the API's route table (routes.ts spreads them in). */
export const ADMIN_ROUTES = [
  {
    operationId: 'getLogLevels',
    method: 'GET',
    path: '/admin/log-levels',
    summary: "This node's log levels, the default and each module's (its organization's admins)",
    querystring: NO_QUERY,
    responses: { 200: { description: 'the levels in force', schema: VIEW }, 401: REFUSED },
  },
  {
    operationId: 'setLogLevels',
    method: 'POST',
    path: '/admin/log-levels',
    summary: "Change this node's log levels at once (its organization's admins)",
    description: `Sets the default level, and modules' own levels (${LOG_MODULES.join(', ')}); a module given null follows the default again. Lasts until the node restarts: config logLevel and logLevels set the levels at start. Answers the levels now in force.`,
    querystring: NO_QUERY,
    body: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        level: LEVEL,
        modules: MODULE_LEVELS(
          { anyOf: [LEVEL, { type: 'null' }] },
          'a level per module, or null: back to the default',
        ),
      },
    },
    responses: {
      200: { description: 'the levels now in force', schema: VIEW },
      400: { description: 'BAD_REQUEST: an unknown module or level' },
      401: REFUSED,
    },
  },
] as const satisfies readonly RouteSpec[];

export type AdminOperationId = (typeof ADMIN_ROUTES)[number]['operationId'];

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<Json | undefined>;

/**
 * Handlers of ADMIN_ROUTES. `logger` is any logger of the node (the API's module child): the
 * levels it changes are those of the node's root logger and all its module children.
 */
export function adminHandlers(logger: Logger): Record<AdminOperationId, Handler> {
  const levels = logLevelsOf(logger);
  const answer = (view: LogLevelsView) => view as unknown as Json;
  return {
    getLogLevels: async () => answer(levels.view()),
    setLogLevels: async (request) => {
      const change = request.body as LogLevelsChange;
      const before = levels.view();
      const after = levels.apply(change);
      // At warn: shown unless the api module itself is set quieter than that.
      logger.warn({ before: before.effective, after: after.effective }, 'log levels changed');
      return answer(after);
    },
  };
}
