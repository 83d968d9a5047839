// Multipart image uploads for POST /jobs/images and POST /workflows/media: the `file` part is
// streamed to Storage (never held in memory, cut off at config.uploadLimit with a 413), the
// other parts are the request's fields (`operations`, and whatever object fields a route names,
// as JSON text or as application/json parts). The fields become the request body, so the
// route's zod schema validates them exactly like a JSON request.
//
// The file may come before the fields that say whose it is (in development mode the tenant is
// the `tenantId` field), so it is staged first (`incoming/`); once every part is read the tenant
// is decided (tenantFor), the tenant's quota checked (413/429, storage/quota.ts) and the file
// moved into the tenant's uploads. A staged file, or an upload whose request then fails, is
// deleted again before the error is answered.
import type { FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { AppConfig } from '../config.js';
import type { StagedUpload, Storage } from '../storage.js';
import { UploadTooLargeError } from '../storage.js';
import { checkUploadQuota } from '../storage/quota.js';
import { overPixelLimit } from '../security/pixel-limit.js';
import { assertStorableText } from '../security/text-guard.js';
import { tenantFor } from '../tenancy/request-tenant.js';
import { HttpError, badRequest } from './common.js';

export interface SavedUpload {
  /** The tenant whose uploads hold it. */
  readonly tenant: string;
  readonly uploadPath: string;
  readonly path: string;
  readonly bytes: number;
}

const uploads = new WeakMap<FastifyRequest, SavedUpload>();

/** The upload a request carried (set by readUpload). */
export function uploadOf(request: FastifyRequest): SavedUpload | undefined {
  return uploads.get(request);
}

/** Fields whose text is JSON, unless a route names its own. */
const JSON_FIELDS = ['operations'];

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `body.file: the upload exceeds the limit of ${limit} bytes`, [{ path: 'body.file', message: `larger than ${limit} bytes` }]);
}

/**
 * A preValidation hook: for a multipart request, saves the file for the request's tenant and
 * replaces the body with the fields. JSON requests pass through untouched.
 */
export function readUpload(storage: Storage, config: Pick<AppConfig, 'uploadLimit' | 'tenantStorageQuota'>, jsonFields: readonly string[] = JSON_FIELDS) {
  const json = new Set(jsonFields);
  const limit = config.uploadLimit;
  return async function readMultipart(request: FastifyRequest): Promise<void> {
    if (!request.isMultipart()) return;
    const fields: Record<string, unknown> = {};
    let staged: StagedUpload | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || staged !== undefined) {
            part.file.resume();
            throw badRequest(`body.${part.fieldname}`, 'unexpected file: send exactly one image, as the part named "file"');
          }
          staged = await storage.stageUpload(part.file, limit);
          if (part.file.truncated) throw tooLarge(limit);
          continue;
        }
        let value = part.value;
        if (json.has(part.fieldname) && typeof value === 'string') {
          try {
            value = JSON.parse(value) as unknown;
          } catch {
            throw badRequest(`body.${part.fieldname}`, 'must be JSON text');
          }
        }
        // A NUL or a lone surrogate (raw, or as a \u escape in JSON text) would reach the database.
        assertStorableText('body', { [part.fieldname]: value });
        fields[part.fieldname] = value;
      }
      if (staged !== undefined) {
        const tenant = tenantFor(request, fields.tenantId);
        // Refuse what is not an image now, rather than as a failed job later.
        // metadata reads the header only (no pixel limit needed), so a huge size can be named.
        const meta = await sharp(staged.path, { limitInputPixels: false }).metadata().catch(() => undefined);
        if (meta?.format === undefined || meta.width === undefined) {
          throw badRequest('body.file', 'is not an image sharp can read (jpeg, png, webp, avif, gif, tiff, svg)');
        }
        const over = overPixelLimit(meta.width, meta.height);
        if (over !== undefined) throw badRequest('body.file', over);
        await checkUploadQuota(storage, tenant, config.tenantStorageQuota, staged.bytes);
        const saved = await storage.forTenant(tenant).adoptUpload(staged);
        staged = undefined;
        uploads.set(request, { ...saved, tenant });
      }
    } catch (error) {
      if (staged !== undefined) await storage.discardStaged(staged).catch(() => undefined);
      if (error instanceof UploadTooLargeError || (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limit);
      if ((error as { code?: string }).code === 'FST_INVALID_JSON_FIELD_ERROR') throw badRequest('body', 'a multipart field sent as application/json is not valid JSON');
      throw error;
    }
    request.body = fields;
  };
}

/**
 * An onError hook: an upload whose request failed (bad fields, a refused URL, a failed insert) is
 * deleted before the error is answered.
 */
export function discardFailedUpload(storage: Storage) {
  return async function discard(request: FastifyRequest, _reply: FastifyReply, _error: Error): Promise<void> {
    const saved = uploads.get(request);
    if (saved === undefined) return;
    uploads.delete(request);
    await storage.forTenant(saved.tenant).removeUpload(saved.uploadPath).catch(() => undefined);
  };
}
