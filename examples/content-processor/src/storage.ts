// Result files on local disk, under config.storageDir:
//   <root>/jobs/<jobId>/<file>     what a job produced (images, PDFs, .eml, exports)
//   <root>/uploads/<uuid>          uploaded sources, referenced by jobs as `uploads/<uuid>`
// Every name is checked against a strict pattern before it touches a path, so nothing a client
// sends (a job id, a file name, an uploadPath) can point outside these folders. Writes go to a
// temporary file first and are renamed into place, so a reader never sees half a file.
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A job id as docket gives it (a positive bigint as a string), or a test's own id. */
const JOB_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** File names: start with a letter or digit; letters, digits, dot, dash, underscore; no "..". */
const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UPLOAD_RE = /^uploads\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** A job id, file name or upload path that is not allowed. */
export class UnsafeNameError extends Error {
  readonly code = 'EUNSAFENAME';
  constructor(what: string, value: string) {
    super(`unsafe ${what}: ${JSON.stringify(value.slice(0, 200))}`);
    this.name = 'UnsafeNameError';
  }
}

/** An upload bigger than the limit (the partial file is removed). */
export class UploadTooLargeError extends Error {
  readonly code = 'EUPLOADTOOLARGE';
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(`upload exceeds the limit of ${maxBytes} bytes`);
    this.name = 'UploadTooLargeError';
    this.maxBytes = maxBytes;
  }
}

export interface StoredFile {
  name: string;
  bytes: number;
  modifiedAt: Date;
}

export type WriteData = Buffer | Uint8Array | string | Readable | AsyncIterable<Buffer | Uint8Array | string>;

export class Storage {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Creates the folders; call once at startup (writes also create what they need). */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'jobs'), { recursive: true });
    await fs.mkdir(path.join(this.root, 'uploads'), { recursive: true });
  }

  /** Absolute path of a job's file. @throws UnsafeNameError */
  path(jobId: string, file: string): string {
    return path.join(this.jobDir(jobId), checkFile(file));
  }

  /** Writes a job's file (atomically) and returns its size. Aborting `signal` removes the partial file. */
  async write(jobId: string, file: string, data: WriteData, options: { signal?: AbortSignal } = {}): Promise<{ name: string; bytes: number }> {
    const target = this.path(jobId, file);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.${randomUUID()}.tmp`;
    try {
      let bytes = 0;
      const source = typeof data === 'string' || data instanceof Uint8Array ? Readable.from([Buffer.from(data)]) : data;
      const counter = new Transform({
        transform(chunk: Buffer | string, _enc, done) {
          bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
          done(null, chunk);
        },
      });
      await pipeline(source, counter, createWriteStream(temp, { flags: 'wx' }), options.signal ? { signal: options.signal } : {});
      await fs.rename(temp, target);
      return { name: path.basename(target), bytes };
    } catch (error) {
      await fs.rm(temp, { force: true });
      throw error;
    }
  }

  /** A job's files, by name; empty when it has none. @throws UnsafeNameError */
  async list(jobId: string): Promise<StoredFile[]> {
    const dir = this.jobDir(jobId);
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const files: StoredFile[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !FILE_RE.test(entry.name) || entry.name.endsWith('.tmp')) continue;
      const stat = await fs.stat(path.join(dir, entry.name)).catch(() => undefined);
      if (stat) files.push({ name: entry.name, bytes: stat.size, modifiedAt: stat.mtime });
    }
    return files.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Opens a job's file for reading; `null` when there is no such file. @throws UnsafeNameError */
  async open(jobId: string, file: string): Promise<{ name: string; bytes: number; stream: Readable } | null> {
    const target = this.path(jobId, file);
    const handle = await fs.open(target, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR') return null;
      throw error;
    });
    if (handle === null) return null;
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      return null;
    }
    return { name: path.basename(target), bytes: stat.size, stream: handle.createReadStream() };
  }

  /** Reads a whole job file (small files: PDFs to parse, results in tests). @throws UnsafeNameError */
  readFile(jobId: string, file: string): Promise<Buffer> {
    return fs.readFile(this.path(jobId, file));
  }

  /** Removes a job's folder and files. */
  async remove(jobId: string): Promise<void> {
    await fs.rm(this.jobDir(jobId), { recursive: true, force: true });
  }

  /**
   * Stores an upload, stopping (and removing what was written) as soon as it passes `maxBytes`.
   * Returns `uploadPath` ("uploads/<uuid>"), the value image jobs carry in their args.
   * @throws UploadTooLargeError
   */
  async saveUpload(stream: Readable | AsyncIterable<Buffer | Uint8Array>, maxBytes: number): Promise<{ uploadPath: string; path: string; bytes: number }> {
    const uploadPath = `uploads/${randomUUID()}`;
    const target = this.uploadFile(uploadPath);
    await fs.mkdir(path.dirname(target), { recursive: true });
    const source = stream instanceof Readable ? stream : Readable.from(stream);
    let bytes = 0;
    try {
      await new Promise<void>((resolve, reject) => {
        const out = createWriteStream(target, { flags: 'wx' });
        let failed = false;
        const fail = (error: unknown) => {
          if (failed) return;
          failed = true;
          out.destroy();
          // Keep reading (and dropping) the rest, so an HTTP client can still be answered 413.
          source.resume();
          reject(error);
        };
        source.on('data', (chunk: Buffer) => {
          if (failed) return;
          bytes += chunk.length;
          if (bytes > maxBytes) return fail(new UploadTooLargeError(maxBytes));
          if (!out.write(chunk)) {
            source.pause();
            out.once('drain', () => source.resume());
          }
        });
        source.once('end', () => {
          if (!failed) out.end();
        });
        source.on('error', fail);
        out.on('error', fail);
        out.once('finish', () => {
          if (!failed) resolve();
        });
      });
    } catch (error) {
      await fs.rm(target, { force: true });
      throw error;
    }
    return { uploadPath, path: target, bytes };
  }

  /** Absolute path of an upload given its `uploads/<uuid>` reference. @throws UnsafeNameError */
  uploadFile(uploadPath: string): string {
    const match = UPLOAD_RE.exec(uploadPath);
    if (!match) throw new UnsafeNameError('upload path', uploadPath);
    return path.join(this.root, 'uploads', match[1]!);
  }

  /** Reads an upload, refusing one larger than `maxBytes`. @throws UnsafeNameError, UploadTooLargeError, ENOENT */
  async readUpload(uploadPath: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const file = this.uploadFile(uploadPath);
    const stat = await fs.stat(file);
    if (stat.size > maxBytes) throw new UploadTooLargeError(maxBytes);
    return fs.readFile(file);
  }

  /** A read stream of an upload. @throws UnsafeNameError */
  uploadStream(uploadPath: string): Readable {
    return createReadStream(this.uploadFile(uploadPath));
  }

  /** Deletes an upload (missing is fine). */
  async removeUpload(uploadPath: string): Promise<void> {
    await fs.rm(this.uploadFile(uploadPath), { force: true });
  }

  private jobDir(jobId: string): string {
    if (typeof jobId !== 'string' || !JOB_ID_RE.test(jobId)) throw new UnsafeNameError('job id', String(jobId));
    return path.join(this.root, 'jobs', jobId);
  }
}

/** Whether a file name is acceptable to Storage (for routes that want to answer 400 first). */
export function isSafeFileName(file: string): boolean {
  return typeof file === 'string' && FILE_RE.test(file) && !file.includes('..');
}

function checkFile(file: string): string {
  if (!isSafeFileName(file)) throw new UnsafeNameError('file name', String(file));
  return file;
}
