// Multipart image uploads for POST /jobs/images and POST /workflows/media: the `file` part is
// streamed to Storage (never held in memory, cut off at config.uploadLimit with a 413), the
// other parts are the request's fields (`operations`, and whatever object fields a route names,
// as JSON text or as application/json parts). The fields become the request body, so the
// route's zod schema validates them exactly like a JSON request. An upload whose request then
// fails is deleted again, before the error is answered.
import type { FastifyReply, FastifyRequest } from 'fastify';
import sharp from 'sharp';
import type { Storage } from '../storage.js';
import { UploadTooLargeError } from '../storage.js';
import { HttpError, badRequest } from './common.js';

export interface SavedUpload {
  readonly uploadPath: string;
  readonly path: string;
  readonly bytes: number;
  readonly filename: string;
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
 * A preValidation hook: for a multipart request, saves the file and replaces the body with the
 * fields. JSON requests pass through untouched.
 */
export function readUpload(storage: Storage, limit: number, jsonFields: readonly string[] = JSON_FIELDS) {
  const json = new Set(jsonFields);
  return async function readMultipart(request: FastifyRequest): Promise<void> {
    if (!request.isMultipart()) return;
    const fields: Record<string, unknown> = {};
    let saved: SavedUpload | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file' || saved !== undefined) {
            part.file.resume();
            throw badRequest(`body.${part.fieldname}`, 'unexpected file: send exactly one image, as the part named "file"');
          }
          const stored = await storage.saveUpload(part.file, limit);
          saved = { ...stored, filename: part.filename };
          uploads.set(request, saved);
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
        fields[part.fieldname] = value;
      }
    } catch (error) {
      if (saved !== undefined) await storage.removeUpload(saved.uploadPath).catch(() => undefined);
      uploads.delete(request);
      if (error instanceof UploadTooLargeError || (error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(limit);
      if ((error as { code?: string }).code === 'FST_INVALID_JSON_FIELD_ERROR') throw badRequest('body', 'a multipart field sent as application/json is not valid JSON');
      throw error;
    }
    if (saved !== undefined) {
      // Refuse what is not an image now, rather than as a failed job later.
      const meta = await sharp(saved.path).metadata().catch(() => undefined);
      if (meta?.format === undefined || meta.width === undefined) {
        await storage.removeUpload(saved.uploadPath).catch(() => undefined);
        uploads.delete(request);
        throw badRequest('body.file', 'is not an image sharp can read (jpeg, png, webp, avif, gif, tiff, svg)');
      }
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
    await storage.removeUpload(saved.uploadPath).catch(() => undefined);
  };
}
