/**
 * The durable spool: an append-only log of line-protocol records in numbered segment files, plus a
 * cursor file naming the first byte not yet acknowledged by InfluxDB. This module is the facade and
 * owns writing, the bound and the cursor; the record layout lives in `record.ts`, segment files and
 * recovery in `segments.ts`, reading in `reader.ts`, the cursor file in `cursor.ts`, the lock in
 * `lock.ts`, file access behind `fs.ts`. (Longer than most modules here: the write queue, the bound,
 * reclaiming and the cursor share one state — queued bytes, the segment list, the cursor — and split
 * apart each part would need all of it.)
 *
 * Why this shape (and what users of the alternatives complain about):
 * - A record is on disk (in the kernel's page cache) before `append` resolves, so a crash or SIGKILL
 *   of the writer loses nothing. The log is fsync'ed at least once a second, on rotation and on close;
 *   a failed fsync is reported and stays reported (after one, the kernel may have dropped the pages).
 * - The cursor moves forward as batches are acknowledged and is persisted at most every 100 ms, so a
 *   restart resends at most the batches of that window — not the whole buffer, as Telegraf's does.
 * - Segments wholly behind the cursor are deleted: the spool truncates itself.
 * - It is bounded in bytes on disk and never passes the bound: an append that does not fit is refused
 *   (`SpoolFullError`, ingest answers 503) or waits for room (`whenFull: "wait"`, backpressure on the
 *   other sources). Nothing already acknowledged to a source is ever dropped to make room; the only
 *   events lost after acknowledgement are records damaged on disk, counted and logged loudly.
 */
import type { Logger } from "../logger";
import { comparePositions, type SpoolPosition, writeCursor } from "./cursor";
import { nodeFs, type SpoolFile, type SpoolFs, writeAll } from "./fs";
import { type LockIdentity, type SpoolLock, takeLock } from "./lock";
import { type SpoolEntry, SpoolReader } from "./reader";
import { encodeRecord, type SpoolRecord } from "./record";
import { emptySegment, recoverSegments, type Segment, segmentPath } from "./segments";

export { comparePositions, type SpoolPosition } from "./cursor";
export type { SpoolFile, SpoolFs } from "./fs";
export type { LockIdentity } from "./lock";
export type { SpoolEntry } from "./reader";
export type { SpoolRecord } from "./record";

const CURSOR_PERSIST_MS = 100;
const FSYNC_INTERVAL_MS = 1000;
const MAX_SEGMENT_BYTES = 64 * 1024 * 1024;
const MAX_FAULTS_KEPT = 20;
/** What a refused append tells its caller to wait: about the time a few batches take to deliver. */
export const SPOOL_FULL_RETRY_AFTER_SECONDS = 5;

/** Figures for status and metrics. */
export interface SpoolStats {
  /** Bytes not yet delivered (what `writer_spool_bytes` reports). */
  bytes: number;
  /** Bytes in the segment files: at most `maxBytes`. Includes delivered bytes of segments not yet deleted. */
  diskBytes: number;
  /** Events not yet acknowledged by InfluxDB, whether or not delivery has read them into memory. */
  events: number;
  /** Events acknowledged to a source that will never be delivered: records found damaged on disk. */
  droppedEvents: number;
  /** Events refused because the spool was full (never acknowledged to their source). */
  refusedEvents: number;
}

/** Something that went wrong on disk, as `/status` and the log report it. */
export interface SpoolFault {
  /** `fsync`: data may not survive a power cut; `corrupt`: damaged records skipped; `cursor`: the cursor was unusable. */
  kind: "fsync" | "corrupt" | "cursor";
  /** What happened and what it cost. */
  message: string;
  /** ISO time. */
  at: string;
}

/** Options of `Spool.open`. */
export interface SpoolOptions {
  /** Directory of the segment and cursor files (created if missing). */
  dir: string;
  /** Upper bound of the segment files' size on disk. */
  maxBytes: number;
  /** Logger for recovery notes and loud errors. */
  logger: Logger;
  /** Called with the number of events lost after acknowledgement (damaged records). */
  onDrop?: (events: number) => void;
  /** Called with the number of events refused because the spool was full, and their source. */
  onRefuse?: (events: number, source: string) => void;
  /** Called on every fault. */
  onFault?: (fault: SpoolFault) => void;
  /** File access (tests inject faults here); the real file system by default. */
  fs?: SpoolFs;
  /** Pid and liveness check for the lock; this process by default. */
  lockIdentity?: LockIdentity;
}

/** Options of one append. */
export interface AppendOptions {
  /** Source of the events, for the refusal counter. */
  source?: string;
  /** `refuse` (default): reject with `SpoolFullError` when the records do not fit; `wait`: wait for room. */
  whenFull?: "refuse" | "wait";
}

/** An append refused because the spool is at its bound. */
export class SpoolFullError extends Error {
  readonly code = "SPOOL_FULL";
  /** Seconds after which trying again is sensible. */
  readonly retryAfterSeconds = SPOOL_FULL_RETRY_AFTER_SECONDS;
}

interface PendingWrite {
  buffer: Buffer;
  events: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface FitWaiter {
  size: number;
  admit: () => void;
  reject: (error: Error) => void;
}

/** The on-disk spool. One instance per directory; not safe to share between processes. */
export class Spool {
  private readonly segments: Segment[] = [];
  private readonly fs: SpoolFs;
  private handle: SpoolFile | undefined;
  private cursor: SpoolPosition = { segment: 0, offset: 0 };
  private reader!: SpoolReader;
  private readonly segmentLimit: number;
  private queue: PendingWrite[] = [];
  /** Bytes appended but not yet written: they count against the bound already. */
  private queuedBytes = 0;
  private writing = false;
  private closed = false;
  private dirty = false;
  private cursorDirty = false;
  private cursorTimer: NodeJS.Timeout | undefined;
  private fsyncTimer: NodeJS.Timeout | undefined;
  /** The interval's fsync under way, which a rotation or close awaits before closing its file. */
  private timedSync: Promise<void> = Promise.resolve();
  private dataWaiters: (() => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private fitWaiters: FitWaiter[] = [];
  private droppedEvents = 0;
  private refusedEvents = 0;
  private readonly faultList: SpoolFault[] = [];
  private fsyncFailed = false;
  private lock: SpoolLock | undefined;
  private cursorWrite: Promise<void> = Promise.resolve();
  /** Bytes of queued appends above which `waitForRoom` waits. */
  static readonly MAX_QUEUED_BYTES = 16 * 1024 * 1024;

  private constructor(private readonly options: SpoolOptions) {
    this.fs = options.fs ?? nodeFs;
    this.segmentLimit = Math.max(256 * 1024, Math.min(MAX_SEGMENT_BYTES, Math.floor(options.maxBytes / 8)));
  }

  /** Opens the spool, recovering segments and the cursor left by an earlier process. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const spool = new Spool(options);
    await spool.fs.mkdir(options.dir);
    spool.lock = takeLock(options.dir, options.lockIdentity);
    try {
      await spool.recover();
    } catch (error) {
      spool.lock.release();
      throw error;
    }
    spool.fsyncTimer = setInterval(() => void spool.syncIfDirty(), FSYNC_INTERVAL_MS);
    spool.fsyncTimer.unref();
    return spool;
  }

  /** Current figures. */
  stats(): SpoolStats {
    let bytes = 0;
    let diskBytes = 0;
    let events = 0;
    for (const segment of this.segments) {
      diskBytes += segment.bytes;
      if (segment.number > this.cursor.segment) bytes += segment.bytes;
      else if (segment.number === this.cursor.segment) bytes += segment.bytes - this.cursor.offset;
      events += segment.events - segment.ackedEvents - segment.skippedEvents;
    }
    return { bytes, diskBytes, events, droppedEvents: this.droppedEvents, refusedEvents: this.refusedEvents };
  }

  /** Faults since start, newest last; an fsync failure makes the spool unhealthy until restart. */
  health(): { healthy: boolean; message: string; faults: SpoolFault[] } {
    const faults = [...this.faultList];
    if (this.fsyncFailed) {
      return {
        healthy: false,
        message:
          "an fsync of the spool failed: events since the last good fsync may not survive a power cut; check the disk and restart the writer",
        faults,
      };
    }
    return {
      healthy: true,
      message: faults.length > 0 ? `${faults.length} spool faults since start (see faults)` : "spool works",
      faults,
    };
  }

  /** Waits while more than `MAX_QUEUED_BYTES` of appends wait for the disk (backpressure). */
  async waitForRoom(): Promise<void> {
    while (this.queuedBytes > Spool.MAX_QUEUED_BYTES && !this.closed) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
  }

  /**
   * Appends records; resolves once they are written to the segment file. Appends that arrive while a
   * write is in progress are coalesced into the next single write. Records that would take the files
   * past `maxBytes` are refused with `SpoolFullError`, or wait for room with `whenFull: "wait"`.
   */
  append(records: readonly SpoolRecord[], options: AppendOptions = {}): Promise<void> {
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
    const source = options.source ?? "unknown";
    // Waiting appends go first, or a stream of small ones could starve a large one for ever.
    if (this.fitWaiters.length === 0 && this.fits(buffer.length)) return this.enqueue(buffer, events);
    if (options.whenFull === "wait" && buffer.length <= this.options.maxBytes) {
      return new Promise<void>((resolve, reject) => {
        this.fitWaiters.push({
          size: buffer.length,
          admit: () => void this.enqueue(buffer, events).then(resolve, reject),
          reject,
        });
        void this.reclaim();
      });
    }
    this.refusedEvents += events;
    this.options.onRefuse?.(events, source);
    void this.reclaim();
    const stats = this.stats();
    return Promise.reject(
      new SpoolFullError(
        `the spool is full (${stats.diskBytes + this.queuedBytes} of ${this.options.maxBytes} bytes, ${stats.events} events waiting for InfluxDB); ${events} events refused`,
      ),
    );
  }

  /**
   * Reads the next records after those already read, at most about `maxBytes` of them; waits for new
   * data when there is none. Resolves with an empty array when the spool is closed or `signal` fires.
   */
  async read(maxBytes: number, signal?: AbortSignal): Promise<SpoolEntry[]> {
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      const entries = await this.reader.readAvailable(maxBytes);
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

  /** Marks everything before `position` as delivered. Positions must be passed in log order. */
  ack(position: SpoolPosition, events: number): void {
    if (comparePositions(position, this.cursor) <= 0) return;
    const segment = this.segments.find((candidate) => candidate.number === position.segment);
    if (segment) segment.ackedEvents = Math.min(segment.events - segment.skippedEvents, segment.ackedEvents + events);
    this.cursor = { ...position };
    this.cursorDirty = true;
    if (this.cursorTimer === undefined) {
      this.cursorTimer = setTimeout(() => {
        this.cursorTimer = undefined;
        // Room is what waiting appends need: reclaim also starts a new segment when the current one is delivered.
        void (this.fitWaiters.length > 0 ? this.reclaim() : this.persistCursor());
      }, CURSOR_PERSIST_MS);
    }
  }

  /** Writes pending appends, the cursor and an fsync; then closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.writesIdle();
    this.closed = true;
    clearInterval(this.fsyncTimer);
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    this.cursorTimer = undefined;
    for (const waiter of this.fitWaiters.splice(0)) waiter.reject(new Error("spool is closed"));
    await this.persistCursor();
    await this.syncIfDirty();
    await this.closeHandle();
    await this.reader.close();
    for (const wake of this.dataWaiters.splice(0)) wake();
    for (const wake of this.roomWaiters.splice(0)) wake();
    this.lock?.release();
  }

  // -------------------------------------------------------------------------------------------------

  private fits(size: number): boolean {
    let disk = 0;
    for (const segment of this.segments) disk += segment.bytes;
    return disk + this.queuedBytes + size <= this.options.maxBytes;
  }

  private enqueue(buffer: Buffer, events: number): Promise<void> {
    if (this.closed) return Promise.reject(new Error("spool is closed"));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ buffer, events, resolve, reject });
      this.queuedBytes += buffer.length;
      if (!this.writing) void this.drainWrites();
    });
  }

  private admitWaiters(): void {
    while (this.fitWaiters.length > 0 && this.fits(this.fitWaiters[0]!.size)) this.fitWaiters.shift()!.admit();
  }

  /** Resolves when no write is in progress and none is queued. */
  private writesIdle(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Frees delivered bytes: deletes segments behind the cursor and, when the segment being written is
   * delivered to its end, starts a new one so that it can go too.
   */
  private async reclaim(): Promise<void> {
    const last = this.segments[this.segments.length - 1];
    const delivered =
      last !== undefined &&
      last.bytes > 0 &&
      comparePositions(this.cursor, { segment: last.number, offset: last.bytes }) >= 0;
    if (delivered && !this.writing && !this.closed) {
      // Holding `writing` keeps appends off the handle while it changes.
      this.writing = true;
      try {
        await this.openSegment(last.number + 1);
        this.cursor = { segment: last.number + 1, offset: 0 };
        this.cursorDirty = true;
      } finally {
        this.writing = false;
        if (this.queue.length > 0) void this.drainWrites();
        else for (const wake of this.idleWaiters.splice(0)) wake();
      }
    }
    await this.persistCursor();
    this.admitWaiters();
  }

  private fault(kind: SpoolFault["kind"], message: string, details: Record<string, unknown>): void {
    const fault: SpoolFault = { kind, message, at: new Date().toISOString() };
    this.faultList.push(fault);
    if (this.faultList.length > MAX_FAULTS_KEPT) this.faultList.shift();
    this.options.logger.error({ ...details, spoolDir: this.options.dir, fault: kind }, `SPOOL FAULT: ${message}`);
    this.options.onFault?.(fault);
  }

  private dropped(events: number): void {
    if (events <= 0) return;
    this.droppedEvents += events;
    this.options.onDrop?.(events);
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options;
    const recovered = await recoverSegments(this.fs, dir, {
      logger,
      fault: (kind, message, details) => this.fault(kind, message, details),
      dropped: (events) => this.dropped(events),
    });
    this.segments.push(...recovered.segments);
    this.cursor = recovered.cursor;
    this.reader = new SpoolReader(this.fs, dir, this.segments, this.cursor, (segment, offset, lost) => {
      this.dropped(lost);
      this.fault(
        "corrupt",
        `a record of segment ${segment.number} at byte ${offset} is damaged; skipped the rest of the segment (${segment.bytes - offset} bytes, ${lost} events lost)`,
        {
          segment: segment.number,
          fromByte: offset,
          toByte: segment.bytes,
          lostEvents: lost,
        },
      );
    });
    const last = this.segments[this.segments.length - 1];
    if (last === undefined) await this.openSegment(this.cursor.segment);
    else this.handle = await this.fs.open(segmentPath(dir, last.number), "a");
    const stats = this.stats();
    if (stats.events > 0) {
      logger.info(
        { events: stats.events, bytes: stats.bytes, segments: this.segments.length },
        "spool: recovered events not yet delivered",
      );
    }
  }

  private async openSegment(number: number): Promise<void> {
    if (this.handle !== undefined) {
      await this.sync(this.handle);
      await this.closeHandle();
    }
    this.handle = await this.fs.open(segmentPath(this.options.dir, number), "a");
    this.segments.push(emptySegment(number));
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
          let current = this.segments[this.segments.length - 1]!;
          if (current.bytes > 0 && current.bytes + buffer.length > this.segmentLimit) {
            await this.openSegment(current.number + 1);
            current = this.segments[this.segments.length - 1]!;
          }
          await writeAll(this.handle!, buffer);
          this.reader.remember(current.number, current.bytes, buffer);
          // In the same turn as the queued bytes go down below, so the bound never sees them twice or never.
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
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Cursor writes run one after another: two concurrent renames of the temp file would race. */
  private persistCursor(): Promise<void> {
    this.cursorWrite = this.cursorWrite.then(() => this.saveCursor());
    return this.cursorWrite;
  }

  private async saveCursor(): Promise<void> {
    if (!this.cursorDirty) return;
    this.cursorDirty = false;
    const cursor = { ...this.cursor };
    try {
      await writeCursor(this.fs, this.options.dir, cursor);
    } catch (error) {
      // Not fatal: the old cursor only means more is resent after a restart. Try again on the next ack.
      this.cursorDirty = true;
      this.options.logger.warn({ err: error }, "spool: could not save the delivery cursor");
      return;
    }
    // Segments wholly behind the cursor are delivered: delete them (never the one being written).
    while (this.segments.length > 1 && this.segments[0]!.number < cursor.segment) {
      const done = this.segments.shift()!;
      await this.fs.rm(segmentPath(this.options.dir, done.number));
    }
    this.admitWaiters();
  }

  private async syncIfDirty(): Promise<void> {
    if (!this.dirty || this.handle === undefined) return;
    this.dirty = false;
    const sync = this.sync(this.handle);
    this.timedSync = sync;
    await sync;
  }

  /**
   * Closes the segment being written, after the interval's fsync on it (if one is under way) has
   * ended: closing under it would fail that fsync ("file closed") and report a fault that is none.
   * The handle is cleared first, so no new timed fsync starts on a file that is closing.
   */
  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    this.handle = undefined;
    await this.timedSync;
    await handle.close();
  }

  /** An fsync whose failure is reported and never forgotten: after one, the kernel may have dropped the pages. */
  private async sync(handle: SpoolFile): Promise<void> {
    try {
      await handle.datasync();
    } catch (error) {
      this.dirty = true;
      const first = !this.fsyncFailed;
      this.fsyncFailed = true;
      if (first) this.fault("fsync", `fsync of the spool failed: ${(error as Error).message}`, { err: error });
      else this.options.onFault?.({ kind: "fsync", message: (error as Error).message, at: new Date().toISOString() });
    }
  }
}
