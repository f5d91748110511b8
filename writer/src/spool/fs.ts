/**
 * The file operations the spool uses, behind one interface so that tests can inject faults (a failing
 * fsync, an unreadable cursor) where they happen, without mocking Node's modules.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from "node:fs/promises";

/** An open file, as far as the spool uses one (Node's `FileHandle` has this shape). */
export interface SpoolFile {
  write(buffer: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** File-system operations of the spool. */
export interface SpoolFs {
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Buffer>;
  writeFile(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string): Promise<void>;
  size(path: string): Promise<number>;
  truncate(path: string, length: number): Promise<void>;
  /** `a` appends (created if missing), `r` reads. */
  open(path: string, flags: "a" | "r"): Promise<SpoolFile>;
}

/** The real file system. */
export const nodeFs: SpoolFs = {
  mkdir: async (path) => void (await mkdir(path, { recursive: true })),
  readdir: (path) => readdir(path),
  readFile: (path) => readFile(path),
  writeFile: (path, data) => writeFile(path, data),
  rename: (from, to) => rename(from, to),
  rm: (path) => rm(path, { force: true }),
  size: async (path) => (await stat(path)).size,
  truncate: (path, length) => truncate(path, length),
  open: (path, flags) => open(path, flags),
};

/** Writes all of `buffer` (a write may take fewer bytes than offered). */
export async function writeAll(file: SpoolFile, buffer: Buffer): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await file.write(buffer, written, buffer.length - written);
    written += bytesWritten;
  }
}

/** Reads up to `length` bytes from `position`; fewer at the end of the file. */
export async function readRange(file: SpoolFile, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await file.read(buffer, read, length - read, position + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}
