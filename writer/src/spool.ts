/**
 * The durable spool: an append-only log of line-protocol records in numbered segment files, plus a
 * cursor file naming the first byte not yet acknowledged by InfluxDB.
 *
 * Why this shape (and what users of the alternatives complain about):
 * - A record is on disk (in the kernel's page cache) before `append` resolves, so a crash or SIGKILL
 *   of the writer loses nothing. The log is fsync'ed at least once a second, on rotation and on close,
 *   which bounds what a power cut can take.
 * - The cursor moves forward as batches are acknowledged and is persisted at most every 100 ms, so a
 *   restart resends at most the batches of that window — not the whole buffer, as Telegraf's does.
 * - Segments wholly behind the cursor are deleted: the spool truncates itself.
 * - It is bounded in bytes. When an append would pass the bound, whole segments are dropped, oldest
 *   first; the events in them are counted (`writer_spool_dropped_events_total`) and logged as an error.
 *
 * Record layout: `u32 payload length | u32 CRC-32 of payload | u32 event count | payload`, payload =
 * `u16 bucket length | bucket (UTF-8) | lines (UTF-8, each ending in \n)`. A torn record at the end of
 * a segment (a crash in the middle of a write) fails its length or CRC check and is cut off on open.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { mkdir, open, readdir, rename, rm, stat, truncate, writeFile, readFile, type FileHandle } from "node:fs/promises";
import { join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "./logger";

const HEADER_BYTES = 12;
const SEGMENT_PATTERN = /^segment-(\d{12})\.log$/;
const CURSOR_FILE = "cursor.json";
const CURSOR_PERSIST_MS = 100;
const FSYNC_INTERVAL_MS = 1000;
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
const MAX_TAIL_BYTES = 8 * 1024 * 1024;

/** Lines for one bucket, as the pipeline appends them. */
export interface SpoolRecord {
  /** Destination bucket name. */
  bucket: string;
  /** Line protocol, each line ending in `\n`. */
  lines: string;
  /** Number of lines (events) in `lines`. */
  count: number;
}

/** A position in the log: segment number and byte offset in it. */
export interface SpoolPosition {
  /** Segment number. */
  segment: number;
  /** Byte offset within the segment. */
  offset: number;
}

/** A record read back for delivery. */
export interface SpoolEntry {
  /** Destination bucket name. */
  bucket: string;
  /** The lines, each ending in `\n`. */
  data: Buffer;
  /** Number of lines. */
  count: number;
  /** Position just after this record: acknowledging the entry moves the cursor here. */
  end: SpoolPosition;
}

/** Figures for status and metrics. */
export interface SpoolStats {
  /** Bytes in all segment files. */
  bytes: number;
  /** Events not yet acknowledged. */
  events: number;
  /** Events dropped at the byte bound since start. */
  droppedEvents: number;
}

/** Options of `Spool.open`. */
export interface SpoolOptions {
  /** Directory of the segment and cursor files (created if missing). */
  dir: string;
  /** Upper bound of the spool's size on disk. */
  maxBytes: number;
  /** Logger for recovery notes and loud drop errors. */
  logger: Logger;
  /** Called with the number of events whenever segments are dropped at the bound. */
  onDrop?: (events: number) => void;
}

interface Segment {
  number: number;
  bytes: number;
  events: number;
  /** Events of this segment already acknowledged. */
  ackedEvents: number;
}

interface PendingWrite {
  buffer: Buffer;
  events: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The on-disk spool. One instance per directory; not safe to share between processes. */
export class Spool {
  private readonly segments: Segment[] = [];
  private handle: FileHandle | undefined;
  private cursor: SpoolPosition;
  private readPos: SpoolPosition;
  private readonly segmentLimit: number;
  private queue: PendingWrite[] = [];
  private queuedBytes = 0;
  private writing = false;
  private closed = false;
  private dirty = false;
  private cursorDirty = false;
  private cursorTimer: NodeJS.Timeout | undefined;
  private fsyncTimer: NodeJS.Timeout | undefined;
  private dataWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private droppedEvents = 0;
  private lockFd: number | undefined;
  private cursorWrite: Promise<void> = Promise.resolve();
  private readHandle: { segment: number; handle: FileHandle } | undefined;
  /** The latest writes, still in memory: a reader that keeps up takes them from here, not the disk. */
  private tail: { segment: number; offset: number; buffer: Buffer }[] = [];
  private tailBytes = 0;

  /** Bytes of queued appends above which `waitForRoom` waits. */
  static readonly MAX_QUEUED_BYTES = 16 * 1024 * 1024;

  private constructor(private readonly options: SpoolOptions, cursor: SpoolPosition) {
    this.cursor = cursor;
    this.readPos = { ...cursor };
    this.segmentLimit = Math.max(256 * 1024, Math.min(MAX_SEGMENT_BYTES, Math.floor(options.maxBytes / 8)));
  }

  /** Opens the spool, recovering segments and the cursor left by an earlier process. */
  static async open(options: SpoolOptions): Promise<Spool> {
    await mkdir(options.dir, { recursive: true });
    const cursor = await readCursor(options.dir);
    const spool = new Spool(options, cursor);
    spool.lockFd = takeLock(options.dir);
    try {
      await spool.recover();
    } catch (error) {
      spool.releaseLock();
      throw error;
    }
    spool.fsyncTimer = setInterval(() => void spool.syncIfDirty(), FSYNC_INTERVAL_MS);
    spool.fsyncTimer.unref();
    return spool;
  }

  /** Current figures. */
  stats(): SpoolStats {
    let bytes = 0;
    let events = 0;
    for (const segment of this.segments) {
      bytes += segment.bytes;
      events += segment.events - segment.ackedEvents;
    }
    return { bytes, events, droppedEvents: this.droppedEvents };
  }

  /** Waits while more than `MAX_QUEUED_BYTES` of appends wait for the disk (backpressure). */
  async waitForRoom(): Promise<void> {
    while (this.queuedBytes > Spool.MAX_QUEUED_BYTES && !this.closed) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /**
   * Appends records; resolves once they are written to the segment file. Appends that arrive while a
   * write is in progress are coalesced into the next single write.
   */
  append(records: readonly SpoolRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error("spool is closed"));
    const buffers: Buffer[] = [];
    let events = 0;
    for (const record of records) {
      if (record.count === 0) continue;
      buffers.push(encodeRecord(record));
      events += record.count;
    }
    if (buffers.length === 0) return Promise.resolve();
    const buffer = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ buffer, events, resolve, reject });
      this.queuedBytes += buffer.length;
      if (!this.writing) void this.drainWrites();
    });
  }

  /**
   * Reads the next records after those already read, at most about `maxBytes` of them; waits for new
   * data when there is none. Resolves with an empty array when the spool is closed or `signal` fires.
   */
  async read(maxBytes: number, signal?: AbortSignal): Promise<SpoolEntry[]> {
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      const entries = await this.readAvailable(maxBytes);
      if (entries.length > 0) return entries;
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal?.removeEventListener("abort", wake);
          resolve();
        };
        this.dataWaiters.push(wake);
        signal?.addEventListener("abort", wake, { once: true });
      });
    }
  }

  /**
   * Marks everything before `position` as delivered. Positions must be passed in log order; a
   * position behind the cursor (its segment was dropped meanwhile) is ignored.
   */
  ack(position: SpoolPosition, events: number): void {
    if (comparePositions(position, this.cursor) <= 0) return;
    const segment = this.segments.find((candidate) => candidate.number === position.segment);
    if (segment) segment.ackedEvents = Math.min(segment.events, segment.ackedEvents + events);
    this.cursor = { ...position };
    this.cursorDirty = true;
    if (this.cursorTimer === undefined) {
      this.cursorTimer = setTimeout(() => {
        this.cursorTimer = undefined;
        void this.persistCursor();
      }, CURSOR_PERSIST_MS);
    }
  }

  /** Writes pending appends, the cursor and an fsync; then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.writing || this.queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    this.closed = true;
    clearInterval(this.fsyncTimer);
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    await this.persistCursor();
    await this.syncIfDirty();
    await this.handle?.close();
    this.handle = undefined;
    await this.readHandle?.handle.close();
    this.readHandle = undefined;
    for (const wake of this.dataWaiters.splice(0)) wake();
    for (const wake of this.roomWaiters.splice(0)) wake();
    this.releaseLock();
  }

  // -------------------------------------------------------------------------------------------------

  private releaseLock(): void {
    if (this.lockFd !== undefined) closeSync(this.lockFd);
    this.lockFd = undefined;
    rmSync(join(this.options.dir, "lock"), { force: true });
    lockedHere.delete(resolve(this.options.dir));
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options;
    const numbers = (await readdir(dir))
      .map((name) => SEGMENT_PATTERN.exec(name))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => Number(match[1]))
      .sort((a, b) => a - b);
    for (const number of numbers) {
      if (number < this.cursor.segment) {
        await rm(segmentPath(dir, number), { force: true });
        continue;
      }
      const { bytes, events, eventsBefore } = await scanSegment(segmentPath(dir, number), number === this.cursor.segment ? this.cursor.offset : 0);
      const size = (await stat(segmentPath(dir, number))).size;
      if (bytes < size) {
        logger.warn({ segment: number, validBytes: bytes, fileBytes: size }, "spool: cut a torn record off the end of a segment");
        await truncate(segmentPath(dir, number), bytes);
      }
      this.segments.push({ number, bytes, events, ackedEvents: eventsBefore });
    }
    const first = this.segments[0];
    if (first === undefined) {
      this.cursor = { segment: this.cursor.segment + 1, offset: 0 };
    } else if (first.number > this.cursor.segment) {
      this.cursor = { segment: first.number, offset: 0 };
    } else if (this.cursor.offset > first.bytes) {
      this.cursor = { segment: first.number, offset: first.bytes };
    }
    this.readPos = { ...this.cursor };
    const last = this.segments[this.segments.length - 1];
    if (last === undefined) {
      await this.openSegment(this.cursor.segment);
    } else {
      this.handle = await open(segmentPath(dir, last.number), "a");
    }
    const stats = this.stats();
    if (stats.events > 0) {
      logger.info({ events: stats.events, bytes: stats.bytes, segments: this.segments.length }, "spool: recovered events not yet delivered");
    }
  }

  private async openSegment(number: number): Promise<void> {
    await this.handle?.sync();
    await this.handle?.close();
    this.handle = await open(segmentPath(this.options.dir, number), "a");
    this.segments.push({ number, bytes: 0, events: 0, ackedEvents: 0 });
  }

  private async drainWrites(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        const buffer = batch.length === 1 ? batch[0]!.buffer : Buffer.concat(batch.map((write) => write.buffer));
        const events = batch.reduce((sum, write) => sum + write.events, 0);
        try {
          await this.makeRoom(buffer.length);
          let current = this.segments[this.segments.length - 1]!;
          if (current.bytes > 0 && current.bytes + buffer.length > this.segmentLimit) {
            await this.openSegment(current.number + 1);
            current = this.segments[this.segments.length - 1]!;
          }
          await writeAll(this.handle!, buffer);
          this.remember(current.number, current.bytes, buffer);
          current.bytes += buffer.length;
          current.events += events;
          this.dirty = true;
          for (const write of batch) write.resolve();
        } catch (error) {
          for (const write of batch) write.reject(error as Error);
        } finally {
          this.queuedBytes -= buffer.length;
          for (const wake of this.roomWaiters.splice(0)) wake();
        }
        for (const wake of this.dataWaiters.splice(0)) wake();
      }
    } finally {
      this.writing = false;
    }
  }

  /** Drops the oldest segments until `incoming` more bytes fit under the bound. */
  private async makeRoom(incoming: number): Promise<void> {
    if (this.stats().bytes + incoming <= this.options.maxBytes) return;
    // The segment being written to cannot be dropped; start a fresh one so it can.
    if (this.segments.length === 1 && this.segments[0]!.bytes > 0) await this.openSegment(this.segments[0]!.number + 1);
    let droppedEvents = 0;
    let droppedSegments = 0;
    // Recomputed each round: the cursor writer may delete delivered segments meanwhile.
    while (this.stats().bytes + incoming > this.options.maxBytes && this.segments.length > 1) {
      const oldest = this.segments.shift()!;
      droppedEvents += oldest.events - oldest.ackedEvents;
      droppedSegments++;
      await rm(segmentPath(this.options.dir, oldest.number), { force: true });
    }
    const first = this.segments[0]!;
    this.tail = this.tail.filter((write) => write.segment >= first.number);
    this.tailBytes = this.tail.reduce((sum, write) => sum + write.buffer.length, 0);
    if (this.cursor.segment < first.number) {
      this.cursor = { segment: first.number, offset: 0 };
      this.cursorDirty = true;
      void this.persistCursor();
    }
    if (this.readPos.segment < first.number) this.readPos = { segment: first.number, offset: 0 };
    if (droppedSegments > 0) {
      this.droppedEvents += droppedEvents;
      this.options.onDrop?.(droppedEvents);
      this.options.logger.error(
        { droppedEvents, droppedSegments, maxBytes: this.options.maxBytes },
        "SPOOL FULL: dropped the oldest undelivered events to stay within WRITER_SPOOL_MAX_BYTES; InfluxDB has been unreachable or too slow for too long",
      );
    }
  }

  private async readAvailable(maxBytes: number): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    let budget = maxBytes;
    while (budget > 0) {
      const segment = this.segmentToRead();
      if (segment === undefined) break;
      const from = this.readPos.offset;
      const available = segment.bytes - from;
      const remembered = this.fromTail(segment.number, from);
      const chunk = remembered ?? (await this.readFromDisk(segment.number, from, Math.min(available, Math.max(budget, 64 * 1024))));
      if (chunk === undefined) {
        // Deleted under us: by the bound (then it left the list) or by hand (then wait for new data).
        if (this.segments.includes(segment)) break;
        continue;
      }
      // The segment may have been dropped at the bound while this read waited for the disk.
      if (!this.segments.includes(segment) || this.readPos.segment !== segment.number || this.readPos.offset !== from) continue;
      let at = 0;
      while (at + HEADER_BYTES <= chunk.length && budget > 0) {
        const payloadLength = chunk.readUInt32LE(at);
        const end = at + HEADER_BYTES + payloadLength;
        if (end > chunk.length) break;
        const payload = chunk.subarray(at + HEADER_BYTES, end);
        // Only bytes read back from the disk can be damaged: records still in memory are not checked.
        if (remembered === undefined && crc32(payload) !== chunk.readUInt32LE(at + 4)) {
          this.options.logger.error({ segment: segment.number, offset: from + at }, "spool: corrupt record; skipping the rest of the segment");
          at = available;
          break;
        }
        const bucketLength = payload.readUInt16LE(0);
        entries.push({
          bucket: payload.toString("utf8", 2, 2 + bucketLength),
          data: payload.subarray(2 + bucketLength),
          count: chunk.readUInt32LE(at + 8),
          end: { segment: segment.number, offset: from + end },
        });
        budget -= end - at;
        at = end;
      }
      this.readPos = { segment: segment.number, offset: from + at };
    }
    return entries;
  }

  private remember(segment: number, offset: number, buffer: Buffer): void {
    this.tail.push({ segment, offset, buffer });
    this.tailBytes += buffer.length;
    while (this.tailBytes > MAX_TAIL_BYTES) this.tailBytes -= this.tail.shift()!.buffer.length;
  }

  /** The remembered bytes from `offset` of `segment` on, if that write is still in memory. */
  private fromTail(segment: number, offset: number): Buffer | undefined {
    // Writes behind the reader are done with.
    while (this.tail.length > 0) {
      const first = this.tail[0]!;
      if (first.segment > segment || (first.segment === segment && first.offset + first.buffer.length > offset)) break;
      this.tailBytes -= first.buffer.length;
      this.tail.shift();
    }
    const first = this.tail[0];
    if (first === undefined || first.segment !== segment || first.offset > offset) return undefined;
    return first.buffer.subarray(offset - first.offset);
  }

  /** Bytes from `from` on (at least one whole record); undefined when the segment was deleted meanwhile. */
  private async readFromDisk(segment: number, from: number, length: number): Promise<Buffer | undefined> {
    try {
      const handle = await this.readHandleFor(segment, segmentPath(this.options.dir, segment));
      const chunk = await readRange(handle, from, length);
      const first = HEADER_BYTES + chunk.readUInt32LE(0);
      return first > chunk.length ? await readRange(handle, from, first) : chunk;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** The open read handle of a segment (the reader moves through segments in order, so one is kept). */
  private async readHandleFor(segment: number, path: string): Promise<FileHandle> {
    if (this.readHandle?.segment !== segment) {
      await this.readHandle?.handle.close();
      this.readHandle = undefined;
      this.readHandle = { segment, handle: await open(path, "r") };
    }
    return this.readHandle.handle;
  }

  /** The segment holding the next unread record, moving the read position across segment ends. */
  private segmentToRead(): Segment | undefined {
    for (;;) {
      const index = this.segments.findIndex((segment) => segment.number === this.readPos.segment);
      if (index === -1) {
        const next = this.segments.find((segment) => segment.number > this.readPos.segment);
        if (next === undefined) return undefined;
        this.readPos = { segment: next.number, offset: 0 };
        continue;
      }
      const segment = this.segments[index]!;
      if (this.readPos.offset < segment.bytes) return segment;
      if (index === this.segments.length - 1) return undefined;
      this.readPos = { segment: this.segments[index + 1]!.number, offset: 0 };
    }
  }

  /** Cursor writes run one after another: two concurrent renames of the temp file would race. */
  private persistCursor(): Promise<void> {
    this.cursorWrite = this.cursorWrite.then(() => this.writeCursor());
    return this.cursorWrite;
  }

  private async writeCursor(): Promise<void> {
    if (!this.cursorDirty) return;
    this.cursorDirty = false;
    const { dir } = this.options;
    const cursor = { ...this.cursor };
    const temp = join(dir, `${CURSOR_FILE}.tmp`);
    try {
      await writeFile(temp, JSON.stringify(cursor));
      await rename(temp, join(dir, CURSOR_FILE));
    } catch (error) {
      // Not fatal: the old cursor only means more is resent after a restart. Try again on the next ack.
      this.cursorDirty = true;
      this.options.logger.warn({ err: error }, "spool: could not save the delivery cursor");
      return;
    }
    // Segments wholly behind the cursor are delivered: delete them (never the one being written).
    while (this.segments.length > 1 && this.segments[0]!.number < cursor.segment) {
      const done = this.segments.shift()!;
      await rm(segmentPath(dir, done.number), { force: true });
    }
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.handle === undefined) return;
    this.dirty = false;
    await this.handle.datasync().catch(() => undefined);
  }
}

function encodeRecord(record: SpoolRecord): Buffer {
  // Buffer.from is the fastest UTF-8 encoder Node has for this text (measured: half the CPU of
  // writing the string into a preallocated buffer); the copy behind the header costs little more.
  const lines = Buffer.from(record.lines, "utf8");
  const bucketLength = Buffer.byteLength(record.bucket);
  const payloadLength = 2 + bucketLength + lines.length;
  const encoded = Buffer.allocUnsafeSlow(HEADER_BYTES + payloadLength);
  encoded.writeUInt32LE(payloadLength, 0);
  encoded.writeUInt32LE(record.count, 8);
  encoded.writeUInt16LE(bucketLength, HEADER_BYTES);
  encoded.write(record.bucket, HEADER_BYTES + 2, "utf8");
  lines.copy(encoded, HEADER_BYTES + 2 + bucketLength);
  encoded.writeUInt32LE(crc32(encoded.subarray(HEADER_BYTES)), 4);
  return encoded;
}

/** Valid bytes and event counts of a segment, and how many events lie before `cursorOffset`. */
async function scanSegment(path: string, cursorOffset: number): Promise<{ bytes: number; events: number; eventsBefore: number }> {
  const data = await readFile(path);
  let at = 0;
  let events = 0;
  let eventsBefore = 0;
  while (at + HEADER_BYTES <= data.length) {
    const payloadLength = data.readUInt32LE(at);
    const end = at + HEADER_BYTES + payloadLength;
    if (payloadLength < 2 || end > data.length) break;
    if (crc32(data.subarray(at + HEADER_BYTES, end)) !== data.readUInt32LE(at + 4)) break;
    const count = data.readUInt32LE(at + 8);
    events += count;
    if (end <= cursorOffset) eventsBefore += count;
    at = end;
  }
  return { bytes: at, events, eventsBefore };
}

async function readCursor(dir: string): Promise<SpoolPosition> {
  try {
    const parsed = JSON.parse(await readFile(join(dir, CURSOR_FILE), "utf8")) as Partial<SpoolPosition>;
    if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset)) {
      return { segment: parsed.segment!, offset: parsed.offset! };
    }
  } catch {
    // No cursor yet (first start) or an unreadable one: start from the oldest segment.
  }
  return { segment: 0, offset: 0 };
}

/**
 * An exclusive lock file, so two writers never share a spool. A lock left by a killed process is taken
 * over: the file holds the owner's pid and a dead pid no longer counts.
 */
function takeLock(dir: string): number {
  const path = join(dir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      lockedHere.add(resolve(dir));
      return fd;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileSync(path, "utf8"));
      // Our own pid counts only if this process took the lock: in a container the writer is pid 1 on
      // every start, so a lock left by the previous run carries the same pid.
      const heldByUs = owner === process.pid ? lockedHere.has(resolve(dir)) : isAlive(owner);
      if (Number.isInteger(owner) && owner > 0 && heldByUs) {
        throw new Error(`spool directory ${dir} is in use by process ${owner}`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`cannot lock spool directory ${dir}`);
}

/** Spool directories locked by this process. */
const lockedHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function segmentPath(dir: string, number: number): string {
  return join(dir, `segment-${String(number).padStart(12, "0")}.log`);
}

async function writeAll(handle: FileHandle, buffer: Buffer): Promise<void> {
  let written = 0;
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written);
    written += bytesWritten;
  }
}

async function readRange(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const { bytesRead } = await handle.read(buffer, read, length - read, position + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  return buffer.subarray(0, read);
}

/** Orders two positions: negative, zero or positive. */
export function comparePositions(a: SpoolPosition, b: SpoolPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}
