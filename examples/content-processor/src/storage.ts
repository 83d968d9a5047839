// Result files and uploads on local disk, under config.storageDir, one folder per tenant:
//   <root>/tenants/<tenant>/jobs/<jobId>/<file>   what a job produced (images, PDFs, .eml, exports)
//   <root>/tenants/<tenant>/uploads/<uuid>        uploaded sources, referenced by jobs as `uploads/<uuid>`
//   <root>/incoming/<uuid>                        an upload being received, before its tenant is known
// `storage.forTenant(tenantId)` gives the files of one tenant; a job's files live in its
// tenant's folder (the tenant in its args and tag), so one tenant's names never reach another's.
//
// Every name (tenant, job id, file, uploadPath) is checked against a strict pattern before it
// touches a path, and nothing under the root is followed through a symlink (see
// storage/files.ts): a link planted in a job's folder, or a job or tenant folder that is a link,
// reads as missing. Writes go to a temporary file first and are renamed into place, so a reader
// never sees half a file. Retention (storage/sweeper.ts) and the quota (storage/quota.ts) are
// built on the listings and the usage figure here.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { WriteData } from './storage/files.js';
import { entries, folderBytes, isPlainDir, notFoundError, openRegular, saveCapped, writeAtomic } from './storage/files.js';
import { StorageQuotaError, UnsafeNameError, UnsafePathError, UploadTooLargeError } from './storage/errors.js';
import { TenantUsage } from './storage/usage.js';

export type { WriteData } from './storage/files.js';
export { StorageQuotaError, UnsafeNameError, UnsafePathError, UploadTooLargeError } from './storage/errors.js';

/** A job id as docket gives it (a positive bigint as a string), or a test's own id. Tenant ids follow the same rule. */
const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
/** File names: start with a letter or digit; letters, digits, dot, dash, underscore; no "..". */
const FILE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const UPLOAD_RE = new RegExp(`^uploads/(${UUID})$`);
const UUID_RE = new RegExp(`^${UUID}$`);

export interface StoredFile {
  name: string;
  bytes: number;
  modifiedAt: Date;
}

/** An upload received but not yet given to a tenant (in `incoming/`). */
export interface StagedUpload {
  readonly id: string;
  readonly path: string;
  readonly bytes: number;
}

/** An upload in a tenant's folder; `uploadPath` is what image jobs carry in their args. */
export interface SavedUploadFile {
  readonly uploadPath: string;
  readonly path: string;
  readonly bytes: number;
}

/** An entry of a folder Storage lists for the sweeper. */
export interface FolderEntry {
  readonly name: string;
  readonly bytes: number;
  readonly modifiedAt: Date;
}

export class Storage {
  readonly root: string;
  readonly usage: TenantUsage;
  #realRoot: string | undefined;

  /** Bytes a tenant may keep (TENANT_STORAGE_QUOTA); 0: no quota. */
  readonly quota: number;

  constructor(root: string, options: { quota?: number } = {}) {
    this.root = path.resolve(root);
    this.quota = options.quota ?? 0;
    this.usage = new TenantUsage(
      (tenant) => path.join(this.root, 'tenants', tenant),
      async (tenant) => isPlainDir(path.join(this.root, 'tenants', tenant), path.join(await this.realRoot(), 'tenants', tenant)),
    );
  }

  /** Creates the folders; call once at startup (writes also create what they need). */
  async init(): Promise<void> {
    await fs.mkdir(path.join(this.root, 'tenants'), { recursive: true });
    await fs.mkdir(path.join(this.root, 'incoming'), { recursive: true });
    this.#realRoot = await fs.realpath(this.root);
  }

  /** The files of one tenant. @throws UnsafeNameError */
  forTenant(tenant: string): TenantStorage {
    if (typeof tenant !== 'string' || !ID_RE.test(tenant)) throw new UnsafeNameError('tenant id', String(tenant));
    return new TenantStorage(this, tenant);
  }

  /** The files of `tenant` when it is a valid tenant id (a job's tag, say), else null. */
  ofTenant(tenant: string | null | undefined): TenantStorage | null {
    return typeof tenant === 'string' && ID_RE.test(tenant) ? new TenantStorage(this, tenant) : null;
  }

  /** The tenants with a (plain) folder. */
  async tenants(): Promise<string[]> {
    const dir = path.join(this.root, 'tenants');
    if (!(await isPlainDir(dir, path.join(await this.realRoot(), 'tenants')))) return [];
    const found = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    return found.filter((e) => e.isDirectory() && ID_RE.test(e.name)).map((e) => e.name);
  }

  /**
   * Receives an upload into `incoming/`, stopping (and removing what was written) as soon as it
   * passes `maxBytes`. Give it to a tenant with `forTenant(t).adoptUpload`, or `discardStaged`.
   * @throws UploadTooLargeError
   */
  async stageUpload(stream: Readable | AsyncIterable<Buffer | Uint8Array>, maxBytes: number): Promise<StagedUpload> {
    const id = randomUUID();
    const dir = await this.plainDir('incoming');
    const target = path.join(dir, id);
    const bytes = await saveCapped(target, stream, maxBytes, () => new UploadTooLargeError(maxBytes));
    return { id, path: target, bytes };
  }

  /** Removes a staged upload (missing is fine). */
  async discardStaged(staged: Pick<StagedUpload, 'id'>): Promise<void> {
    if (UUID_RE.test(staged.id)) await fs.rm(path.join(this.root, 'incoming', staged.id), { force: true });
  }

  /** Staged uploads (for the sweeper: those of requests that never finished). */
  async stagedEntries(): Promise<FolderEntry[]> {
    return (await entries(path.join(this.root, 'incoming'))).filter((e) => UUID_RE.test(e.name));
  }

  /** The real path of the root (the root itself may be a symlink; nothing under it may). */
  async realRoot(): Promise<string> {
    this.#realRoot ??= await fs.realpath(this.root).catch(() => this.root);
    return this.#realRoot;
  }

  /** `relative` under the root, created if needed, once checked to be a plain folder. @throws UnsafePathError */
  async plainDir(relative: string): Promise<string> {
    const dir = path.join(this.root, relative);
    await fs.mkdir(dir, { recursive: true });
    if (!(await isPlainDir(dir, path.join(await this.realRoot(), relative)))) throw new UnsafePathError(relative);
    return dir;
  }

  /** Whether `relative` under the root is an existing plain folder. */
  async isPlain(relative: string): Promise<boolean> {
    return isPlainDir(path.join(this.root, relative), path.join(await this.realRoot(), relative));
  }
}

/** One tenant's files: its jobs' result files and its uploads. */
export class TenantStorage {
  constructor(
    readonly storage: Storage,
    readonly tenant: string,
  ) {}

  /** Writes a job's file (atomically) and returns its size. Aborting `signal` removes the partial file. @throws UnsafeNameError, UnsafePathError */
  async write(jobId: string, file: string, data: WriteData, options: { signal?: AbortSignal } = {}): Promise<{ name: string; bytes: number }> {
    const name = checkFile(file);
    // Work accepted under the quota may pass it (the routes check only at admission); once a
    // tenant is at its quota, a job that has written nothing yet is refused, so queued work
    // cannot pile files up past it. A job that began writing finishes its files (a PDF without
    // its text is worth less than a few bytes over).
    if (this.storage.quota > 0) {
      const used = await this.storage.usage.bytes(this.tenant);
      if (used >= this.storage.quota && (await this.list(jobId)).length === 0) throw new StorageQuotaError(this.tenant, this.storage.quota, used);
    }
    const dir = await this.storage.plainDir(this.jobFolder(jobId));
    const bytes = await writeAtomic(path.join(dir, name), data, options.signal);
    this.storage.usage.added(this.tenant, bytes);
    return { name, bytes };
  }

  /** A job's files (regular files only, never links), by name; empty when it has none. @throws UnsafeNameError */
  async list(jobId: string): Promise<StoredFile[]> {
    const folder = this.jobFolder(jobId);
    if (!(await this.storage.isPlain(folder))) return [];
    const found = await entries(path.join(this.storage.root, folder));
    return found
      .filter((e) => e.file && FILE_RE.test(e.name) && !e.name.endsWith('.tmp'))
      .map((e) => ({ name: e.name, bytes: e.bytes, modifiedAt: e.modifiedAt }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Opens a job's file for reading; `null` when there is no such regular file (a link is none). @throws UnsafeNameError */
  async open(jobId: string, file: string): Promise<{ name: string; bytes: number; stream: Readable } | null> {
    const name = checkFile(file);
    const folder = this.jobFolder(jobId);
    if (!(await this.storage.isPlain(folder))) return null;
    const opened = await openRegular(path.join(this.storage.root, folder, name));
    if (opened === null) return null;
    return { name, bytes: opened.bytes, stream: opened.handle.createReadStream() };
  }

  /** Reads a whole job file (small files: PDFs to parse, results in tests). @throws UnsafeNameError, ENOENT */
  async readFile(jobId: string, file: string): Promise<Buffer> {
    const name = checkFile(file);
    const folder = this.jobFolder(jobId);
    const opened = (await this.storage.isPlain(folder)) ? await openRegular(path.join(this.storage.root, folder, name)) : null;
    if (opened === null) throw notFoundError(`${folder}/${name}`);
    try {
      return await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
  }

  /** Removes a job's folder and files; returns the bytes they held (missing is fine). @throws UnsafeNameError */
  async remove(jobId: string): Promise<number> {
    const dir = path.join(this.storage.root, this.jobFolder(jobId));
    // A folder that is a link is only unlinked (rm never follows it) and counts nothing.
    const bytes = (await this.storage.isPlain(this.jobFolder(jobId))) ? await folderBytes(dir) : 0;
    await fs.rm(dir, { recursive: true, force: true });
    this.storage.usage.changed(this.tenant);
    return bytes;
  }

  /** The names in the tenant's jobs folder (job ids, whatever they are: links included, for removal). */
  async jobFolders(): Promise<string[]> {
    if (!(await this.storage.isPlain(path.join('tenants', this.tenant, 'jobs')))) return [];
    return (await entries(path.join(this.storage.root, 'tenants', this.tenant, 'jobs'))).map((e) => e.name).filter((n) => ID_RE.test(n));
  }

  /** Stores an upload for this tenant (staged, then adopted). @throws UploadTooLargeError */
  async saveUpload(stream: Readable | AsyncIterable<Buffer | Uint8Array>, maxBytes: number): Promise<SavedUploadFile> {
    return this.adoptUpload(await this.storage.stageUpload(stream, maxBytes));
  }

  /** Moves a staged upload into this tenant's uploads. @throws UnsafePathError (the staged file is then removed) */
  async adoptUpload(staged: StagedUpload): Promise<SavedUploadFile> {
    const uploadPath = `uploads/${staged.id}`;
    try {
      const dir = await this.storage.plainDir(path.join('tenants', this.tenant, 'uploads'));
      const target = path.join(dir, staged.id);
      await fs.rename(staged.path, target);
      // The sweeper's grace counts from now, not from when a slow client began sending.
      const now = new Date();
      await fs.utimes(target, now, now);
      this.storage.usage.added(this.tenant, staged.bytes);
      return { uploadPath, path: target, bytes: staged.bytes };
    } catch (error) {
      await this.storage.discardStaged(staged);
      throw error;
    }
  }

  /** Absolute path of an upload given its `uploads/<uuid>` reference. @throws UnsafeNameError */
  uploadFile(uploadPath: string): string {
    const match = typeof uploadPath === 'string' ? UPLOAD_RE.exec(uploadPath) : null;
    if (!match) throw new UnsafeNameError('upload path', String(uploadPath));
    return path.join(this.storage.root, 'tenants', this.tenant, 'uploads', match[1]!);
  }

  /** Reads an upload, refusing one larger than `maxBytes`. @throws UnsafeNameError, UploadTooLargeError, ENOENT */
  async readUpload(uploadPath: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const opened = await this.openUpload(uploadPath);
    try {
      if (opened.bytes > maxBytes) throw new UploadTooLargeError(maxBytes);
      return await opened.handle.readFile();
    } finally {
      await opened.handle.close();
    }
  }

  /** Deletes an upload (missing is fine). @throws UnsafeNameError */
  async removeUpload(uploadPath: string): Promise<void> {
    await fs.rm(this.uploadFile(uploadPath), { force: true });
    this.storage.usage.changed(this.tenant);
  }

  /** The tenant's uploads, with `uploadPath` as name (for the sweeper). */
  async uploads(): Promise<FolderEntry[]> {
    if (!(await this.storage.isPlain(path.join('tenants', this.tenant, 'uploads')))) return [];
    const found = await entries(path.join(this.storage.root, 'tenants', this.tenant, 'uploads'));
    return found.filter((e) => UUID_RE.test(e.name)).map((e) => ({ ...e, name: `uploads/${e.name}` }));
  }

  private async openUpload(uploadPath: string) {
    const file = this.uploadFile(uploadPath);
    const opened = (await this.storage.isPlain(path.join('tenants', this.tenant, 'uploads'))) ? await openRegular(file) : null;
    if (opened === null) throw notFoundError(uploadPath);
    return opened;
  }

  /** `tenants/<tenant>/jobs/<jobId>`, relative to the root. */
  private jobFolder(jobId: string): string {
    if (typeof jobId !== 'string' || !ID_RE.test(jobId)) throw new UnsafeNameError('job id', String(jobId));
    return path.join('tenants', this.tenant, 'jobs', jobId);
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
