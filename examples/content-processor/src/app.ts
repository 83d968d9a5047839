// The HTTP app: fastify with zod schemas on every request and response (fastify-type-provider-zod),
// OpenAPI docs at /documentation, pino logging, CORS, helmet, a rate limit, body and upload
// limits, one error shape for every failure, and the routes. buildApp never listens: server.ts
// does, and the tests use app.inject.
//
// Workflows: POST /workflows/media and GET /workflows/:id (routes/workflows.ts).
//
// Tenant routes (/jobs*, /workflows*) need a tenant API key (tenancy/tenant-auth.ts), except in
// development mode (INSECURE_DEV); each tenant sees only its own jobs, files and events.
//
// Admin routes (/admin/*, /dashboard, DELETE /jobs) need the admin API key. Without a key
// configured they are not registered at all, unless INSECURE_DEV is on, in which case they are
// open and a warning is logged. /dashboard is docket's own (docket/dashboard, routes/dashboard.ts).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  type ZodTypeProvider,
  hasZodFastifySchemaValidationErrors,
  isResponseSerializationError,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { ArgsValidationError, ConfigError, DocketError, QueueStateError, UniqueConflictError, UnknownWorkerError, WorkflowError } from 'docket';
import { adminAccess } from './auth.js';
import { createMetrics, type Metrics } from './metrics.js';
import { adminRoutes } from './routes/admin.js';
import type { AppDeps, ErrorBody } from './routes/common.js';
import { HttpError, errors } from './routes/common.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { pinoLogger } from './docket.js';
import { healthRoutes } from './routes/health.js';
import { bulkCancelRoutes } from './routes/bulk-cancel.js';
import { jobRoutes } from './routes/jobs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { tenantKeyRoutes } from './routes/tenant-keys.js';
import { tenantAuth } from './tenancy/tenant-auth.js';
import { workflowAdminRoutes } from './routes/workflow-admin.js';
import { workflowRoutes } from './routes/workflows.js';
import { refuseUnstorableText } from './security/text-guard.js';
import { setupStorage } from './storage/app-storage.js';

export type { AppDeps } from './routes/common.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route accepts multipart/form-data (every other route answers 415 to it). */
    multipart?: boolean;
  }
  interface FastifyInstance {
    /** This app's Prometheus registry and recorders. */
    metrics: Metrics;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A `?key=` in a URL (someone pasting the admin key into one) never reaches the logs. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]key=)[^&#]*/gi, '$1[redacted]');
}

/** Builds the app (routes registered, plugins loaded, not listening). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, queue } = deps;
  // Fly.io sets FLY_APP_NAME in every machine it runs.
  const behindFly = process.env.FLY_APP_NAME !== undefined;
  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
      serializers: {
        req: (req: FastifyRequest) => ({ id: req.id, method: req.method, url: redactUrl(req.url), remoteAddress: req.ip }),
      },
    },
    bodyLimit: config.bodyLimit,
    // A request (headers and body) must arrive within this: no client trickles an upload for
    // longer than the sweeper's grace for uploads that no job references yet.
    requestTimeout: 5 * 60_000,
    genReqId: () => randomUUID(),
    trustProxy: false,
  });

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const metrics = createMetrics(queue);
  app.decorate('metrics', metrics);
  app.addHook('onClose', async () => metrics.close());

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
  });

  await app.register(cors, {
    origin: config.corsOrigin === '*' ? '*' : config.corsOrigin.split(',').map((o) => o.trim()),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['content-type', 'x-api-key', 'authorization', 'last-event-id'],
    exposedHeaders: ['x-request-id', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
  });
  await app.register(helmet, { global: true });
  await app.register(rateLimit, {
    global: true,
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    // Behind Fly.io's proxy every request comes from the proxy's address: key on the client
    // address Fly sets (and overwrites, so clients cannot forge it). Elsewhere, the socket's.
    keyGenerator: (request) => {
      const flyClient = request.headers['fly-client-ip'];
      return behindFly && typeof flyClient === 'string' && flyClient.length > 0 ? flyClient : request.ip;
    },
    errorResponseBuilder: (_request, context) =>
      new HttpError(context.statusCode, `Rate limit exceeded: at most ${context.max} requests per ${Math.round(config.rateLimit.windowMs / 1000)} s; retry in ${context.after}`),
  });
  await app.register(multipart, {
    limits: { fileSize: config.uploadLimit, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 21, headerPairs: 200 },
  });

  // Only routes that say so take multipart bodies; the others would see no body at all.
  app.addHook('preValidation', async (request) => {
    if (request.isMultipart() && request.routeOptions.config.multipart !== true) {
      throw new HttpError(415, `${request.method} ${request.routeOptions.url ?? request.url} does not accept multipart/form-data; send application/json`);
    }
  });
  // Text PostgreSQL cannot store (NUL, lone surrogates) anywhere in a request: a 400 naming the field.
  app.addHook('preValidation', refuseUnstorableText);
  // Retention of files (app.storageSweeper) and the per-tenant storage quota on job-creating routes.
  setupStorage(app, deps);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Content Processor API', description: 'Background content processing on docket (PostgreSQL job queue).', version: '1.0.0' },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'The admin API key (admin routes), or a tenant API key (job and workflow routes)' },
        },
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, {
    routePrefix: '/documentation',
    uiConfig: { validatorUrl: null }, // no badge fetched from an outside validator
    staticCSP: true,
    // swagger-ui sets inline styles from its script, so style-src needs 'unsafe-inline' (which a
    // hash next to it would cancel); the docs must also work over plain http on a LAN address.
    transformStaticCSP: (header) =>
      header
        .replace(/style-src [^;]*;/, "style-src 'self' 'unsafe-inline';")
        .replace(/img-src [^;]*;/, "img-src 'self' data:;")
        .replace(/\s*upgrade-insecure-requests;?/, ''),
  });

  app.setErrorHandler((error: FastifyError | HttpError, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler(
    { preHandler: app.rateLimit() },
    async (request, reply) => reply.code(404).send(body(404, `Route ${request.method} ${redactUrl(request.url.split('?')[0] ?? '')} not found`)),
  );

  const access = adminAccess(config);
  const routeOptions = { ...deps, metrics };
  await app.register(healthRoutes, routeOptions);
  // Tenant routes: every request is a tenant's (its API key), an operator's (the admin key) or,
  // in development mode only, anyone's.
  await app.register(async (tenantScope) => {
    tenantScope.addHook('onRequest', tenantAuth({ tenants: deps.tenants, access, devMode: config.insecureDev }));
    await tenantScope.register(jobRoutes, routeOptions);
    await tenantScope.register(workflowRoutes, routeOptions);
  });
  if (access.mode === 'disabled') {
    app.log.warn(
      'admin routes are disabled: set ADMIN_API_KEY (or ADMIN_API_KEY_HASH) to enable /admin, /dashboard and DELETE /jobs. Without them no tenant API key can be created, so every /jobs and /workflows request answers 401',
    );
  } else {
    if (access.mode === 'open') {
      app.log.warn('INSECURE_DEV: the admin routes (/admin, /dashboard, DELETE /jobs) are OPEN to anyone who can reach this server. Never run like this in production.');
    }
    await app.register(adminRoutes, { ...routeOptions, access });
    await app.register(bulkCancelRoutes, { ...routeOptions, access });
    await app.register(tenantKeyRoutes, { ...routeOptions, access, tenants: deps.tenants });
    await app.register(scheduleRoutes, { ...routeOptions, access });
    await app.register(workflowAdminRoutes, { ...routeOptions, access });
    await app.register(dashboardRoutes, { ...routeOptions, access, logger: pinoLogger(app.log) });
  }
  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      schema: {
        tags: ['ops'],
        summary: 'Prometheus metrics (text exposition format)',
        response: { 200: z.string().describe('text/plain; version=0.0.4'), ...errors() },
      },
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
  );
  return app;
}

function body(statusCode: number, message: string, extra: Partial<ErrorBody> = {}): ErrorBody {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', message, ...extra };
}

function sendError(error: FastifyError | HttpError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = (error as FastifyError).validationContext ?? 'body';
    const issues = error.validation.map((v) => {
      const path = [where, ...v.instancePath.split('/').filter((p) => p !== '')].join('.');
      return { path, message: v.message ?? 'invalid' };
    });
    return reply.code(400).send(body(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { code: 'VALIDATION', issues }));
  }
  if (isResponseSerializationError(error as FastifyError)) {
    request.log.error({ err: error, issues: (error as { cause?: unknown }).cause }, 'response does not match its schema');
    return reply.code(500).send(body(500, 'Internal Server Error'));
  }
  if (error instanceof ArgsValidationError) {
    const issues = error.issues.map((i) => ({ path: ['body', ...i.path].join('.'), message: i.message }));
    return reply.code(400).send(body(400, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { code: error.code, issues }));
  }
  if (error instanceof UnknownWorkerError || error instanceof ConfigError || error instanceof WorkflowError) {
    return reply.code(400).send(body(400, error.message, { code: error.code }));
  }
  if (error instanceof UniqueConflictError) return reply.code(409).send(body(409, error.message, { code: error.code }));
  if (error instanceof QueueStateError) return reply.code(503).send(body(503, 'The job queue is not available', { code: error.code }));
  if (error instanceof HttpError) {
    return reply.code(error.statusCode).send(body(error.statusCode, error.message, error.issues ? { issues: error.issues } : {}));
  }
  const status = (error as FastifyError).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = (error as FastifyError).code;
    return reply.code(status).send(body(status, error.message, typeof code === 'string' ? { code } : {}));
  }
  request.log.error({ err: error }, error instanceof DocketError ? 'docket error' : 'request failed');
  return reply.code(500).send(body(500, 'Internal Server Error'));
}
