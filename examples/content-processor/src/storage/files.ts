// The file-system moves Storage is built from, each refusing to follow a symlink: a folder is
// used only when its real path is the one expected under the storage root (so no component of
// it, the tenant's folder or the job's, is a link), a file is opened with O_NOFOLLOW and served
// only when it is a regular file, and walks count regular files without entering links. Plus
// the two ways bytes get in: an atomic write (temp file, then rename) and a size-capped save.
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** O_NOFOLLOW: a link as the last component fails (ELOOP); O_NONBLOCK: a planted FIFO cannot hang the open. */
const OPEN_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NOFOLLOW ?? 0) | (fsConstants.O_NONBLOCK ?? 0);
/** What opening a missing file, a link (ELOOP; EMLINK on BSDs) or a path through a non-folder answers. */
const ABSENT = new Set(['ENOENT', 'ELOOP', 'EMLINK', 'ENOTDIR', 'EISDIR']);

export type WriteData = Buffer | Uint8Array | string | Readable | AsyncIterable<Buffer | Uint8Array | string>;

/** An error of a missing file, shaped like Node's (callers test `code === 'ENOENT'`). */
export function notFoundError(what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file, ${what}`), { code: 'ENOENT' });
}

/** Whether `dir` exists as a real folder whose real path is exactly `expected` (no link on the way). */
export async function isPlainDir(dir: string, expected: string): Promise<boolean> {
  try {
    if ((await fs.realpath(dir)) !== expected) return false;
    return (await fs.lstat(expected)).isDirectory();
  } catch (error) {
    if (ABSENT.has((error as NodeJS.ErrnoException).code ?? '')) return false;
    throw error;
  }
}

/** Opens a regular file without following a link as its last component; `null` when there is none. */
export async function openRegular(file: string): Promise<{ handle: FileHandle; bytes: number; modifiedAt: Date } | null> {
  const handle = await fs.open(file, OPEN_FLAGS).catch((error: NodeJS.ErrnoException) => {
    if (ABSENT.has(error.code ?? '')) return null;
    throw error;
  });
  if (handle === null) return null;
  const stat = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (!stat.isFile()) {
    await handle.close();
    return null;
  }
  return { handle, bytes: stat.size, modifiedAt: stat.mtime };
}

/** Bytes of the regular files under `dir`, links not entered; 0 when it is missing. Files vanishing meanwhile are fine. */
export async function folderBytes(dir: string): Promise<number> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (ABSENT.has(error.code ?? '')) return [];
    throw error;
  });
  let total = 0;
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(full);
    else if (entry.isFile()) total += (await fs.lstat(full).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

/** Entries of a folder (name, kind and lstat), none when it is missing. Links are reported, never followed. */
export async function entries(dir: string): Promise<{ name: string; file: boolean; bytes: number; modifiedAt: Date }[]> {
  const list = await fs.readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (ABSENT.has(error.code ?? '')) return [];
    throw error;
  });
  const out: { name: string; file: boolean; bytes: number; modifiedAt: Date }[] = [];
  for (const entry of list) {
    const stat = await fs.lstat(path.join(dir, entry.name)).catch(() => undefined);
    if (stat !== undefined) out.push({ name: entry.name, file: stat.isFile(), bytes: stat.size, modifiedAt: stat.mtime });
  }
  return out;
}

/** Writes `target` atomically (a temp file beside it, then a rename) and returns its size. */
export async function writeAtomic(target: string, data: WriteData, signal?: AbortSignal): Promise<number> {
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
    // 'wx' (O_CREAT|O_EXCL) never opens through a link; rename replaces a link rather than following it.
    await pipeline(source, counter, createWriteStream(temp, { flags: 'wx' }), signal ? { signal } : {});
    await fs.rename(temp, target);
    return bytes;
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/**
 * Saves a stream to `target`, stopping (and removing what was written) as soon as it passes
 * `maxBytes`: the rest is read and dropped, so an HTTP client can still be answered.
 */
export async function saveCapped(target: string, stream: Readable | AsyncIterable<Buffer | Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<number> {
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
        source.resume();
        reject(error);
      };
      source.on('data', (chunk: Buffer) => {
        if (failed) return;
        bytes += chunk.length;
        if (bytes > maxBytes) return fail(tooLarge());
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
  return bytes;
}
