/**
 * Reading the log for delivery: moves a read position through the segments, takes records from the
 * latest writes still in memory when it keeps up (no disk read, no checksum: those bytes never went
 * through the disk) and from the files otherwise, checking each record; skips damage, saying exactly
 * what that cost.
 */
import type { SpoolPosition } from "./cursor";
import { readRange, type SpoolFile, type SpoolFs } from "./fs";
import { decodeRecord, HEADER_BYTES } from "./record";
import { type Segment, segmentPath } from "./segments";

const MAX_TAIL_BYTES = 8 * 1024 * 1024;

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

/** Reads records in log order from the spool's (shared, live) list of segments. */
export class SpoolReader {
  private readPos: SpoolPosition;
  private readHandle: { segment: number; handle: SpoolFile } | undefined;
  /** The latest writes, still in memory: a reader that keeps up takes them from here, not the disk. */
  private tail: { segment: number; offset: number; buffer: Buffer }[] = [];
  private tailBytes = 0;

  constructor(
    private readonly fs: SpoolFs,
    private readonly dir: string,
    private readonly segments: Segment[],
    start: SpoolPosition,
    /** Called when a record fails its check after recovery: the rest of the segment is skipped. */
    private readonly onDamage: (segment: Segment, offset: number, lostEvents: number) => void,
  ) {
    this.readPos = { ...start };
  }

  /** Keeps a write in memory for a reader that keeps up. */
  remember(segment: number, offset: number, buffer: Buffer): void {
    this.tail.push({ segment, offset, buffer });
    this.tailBytes += buffer.length;
    while (this.tailBytes > MAX_TAIL_BYTES) this.tailBytes -= this.tail.shift()!.buffer.length;
  }

  /** The next records, about `maxBytes` of them at most; none when everything written was read. */
  async readAvailable(maxBytes: number): Promise<SpoolEntry[]> {
    const entries: SpoolEntry[] = [];
    let budget = maxBytes;
    while (budget > 0) {
      const segment = this.segmentToRead();
      if (segment === undefined) break;
      const from = this.readPos.offset;
      const hole = segment.holes.find((candidate) => candidate.from === from);
      if (hole !== undefined) {
        this.readPos = { segment: segment.number, offset: hole.to };
        continue;
      }
      // Read no further than the next damaged stretch found on recovery.
      const limit = segment.holes.find((candidate) => candidate.from > from)?.from ?? segment.bytes;
      const available = limit - from;
      const remembered = this.fromTail(segment.number, from);
      const chunk =
        remembered ??
        (await this.readFromDisk(segment.number, from, Math.min(available, Math.max(budget, 64 * 1024)), available));
      if (chunk === undefined) {
        // Deleted under us: by reclaiming (then it left the list) or by hand (then wait for new data).
        if (this.segments.includes(segment)) break;
        continue;
      }
      if (!this.segments.includes(segment) || this.readPos.segment !== segment.number || this.readPos.offset !== from)
        continue;
      let at = 0;
      while (budget > 0 && from + at < limit) {
        const decoded = decodeRecord(chunk, at, remembered === undefined);
        if (decoded.kind === "record") {
          entries.push({
            bucket: decoded.bucket,
            data: decoded.data,
            count: decoded.count,
            end: { segment: segment.number, offset: from + decoded.end },
          });
          segment.readEvents += decoded.count;
          budget -= decoded.end - at;
          at = decoded.end;
          continue;
        }
        // A record running past the known end of the segment is damaged, not short of data. A later
        // record cut off by the end of the chunk is read whole next time round; the first one never
        // is short (`readFromDisk` reads it whole), unless the file lost bytes the segment held.
        if (decoded.kind === "incomplete" && at > 0 && from + chunk.length < limit) break;
        this.skipRestOfSegment(segment, from + at);
        at = segment.bytes - from;
        break;
      }
      this.readPos = { segment: segment.number, offset: from + at };
    }
    return entries;
  }

  async close(): Promise<void> {
    await this.readHandle?.handle.close();
    this.readHandle = undefined;
  }

  /** A record went bad on disk after recovery checked it: skip the segment's rest, and count exactly what that cost. */
  private skipRestOfSegment(segment: Segment, offset: number): void {
    const lost = segment.events - segment.readEvents;
    segment.skippedEvents += lost;
    segment.readEvents = segment.events;
    this.onDamage(segment, offset, lost);
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

  /** Bytes from `from` on (a whole record when it fits in `available`); undefined when the segment was deleted. */
  private async readFromDisk(
    segment: number,
    from: number,
    length: number,
    available: number,
  ): Promise<Buffer | undefined> {
    try {
      const handle = await this.readHandleFor(segment);
      const chunk = await readRange(handle, from, length);
      if (chunk.length < HEADER_BYTES) return chunk;
      const first = HEADER_BYTES + chunk.readUInt32LE(0);
      return first > chunk.length && first <= available ? await readRange(handle, from, first) : chunk;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /** The open read handle of a segment (the reader moves through segments in order, so one is kept). */
  private async readHandleFor(segment: number): Promise<SpoolFile> {
    if (this.readHandle?.segment !== segment) {
      await this.readHandle?.handle.close();
      this.readHandle = undefined;
      this.readHandle = { segment, handle: await this.fs.open(segmentPath(this.dir, segment), "r") };
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
}
