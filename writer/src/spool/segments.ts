/**
 * Segment files: their names, what the spool knows of each, and recovery on open — scanning every
 * file after the cursor with the record codec, cutting a torn tail off, and reporting damage with what
 * it cost.
 */
import { join } from "node:path";
import type { Logger } from "../logger";
import { readCursor, type SpoolPosition } from "./cursor";
import type { SpoolFs } from "./fs";
import { type Hole, scanSegment } from "./record";

const SEGMENT_PATTERN = /^segment-(\d{12})\.log$/;

/** What the spool keeps of one segment file. */
export interface Segment {
  number: number;
  bytes: number;
  /** Events in whole records of this segment. */
  events: number;
  /** Events acknowledged. */
  ackedEvents: number;
  /** Events handed to the reader (or acknowledged before a restart). */
  readEvents: number;
  /** Events in records found damaged while reading. */
  skippedEvents: number;
  /** Damaged stretches found on recovery, skipped by the reader. */
  holes: Hole[];
}

/** A fresh, empty segment. */
export function emptySegment(number: number): Segment {
  return { number, bytes: 0, events: 0, ackedEvents: 0, readEvents: 0, skippedEvents: 0, holes: [] };
}

export function segmentPath(dir: string, number: number): string {
  return join(dir, `segment-${String(number).padStart(12, "0")}.log`);
}

/** How recovery reports what it found. */
export interface RecoveryReport {
  logger: Logger;
  /** A fault to report loudly (`corrupt` or `cursor`). */
  fault(kind: "corrupt" | "cursor", message: string, details: Record<string, unknown>): void;
  /** Events acknowledged once and lost to damage. */
  dropped(events: number): void;
}

/** Reads the cursor and every segment file after it; deletes delivered files and cuts torn tails. */
export async function recoverSegments(
  fs: SpoolFs,
  dir: string,
  report: RecoveryReport,
): Promise<{ segments: Segment[]; cursor: SpoolPosition }> {
  const { position, problem } = await readCursor(fs, dir);
  let cursor = position;
  if (problem !== undefined) {
    report.fault(
      "cursor",
      `${problem}; delivering again from the oldest segment (points already written are overwritten with themselves)`,
      {},
    );
  }
  const numbers = (await fs.readdir(dir))
    .map((name) => SEGMENT_PATTERN.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
  const segments: Segment[] = [];
  for (const number of numbers) {
    const path = segmentPath(dir, number);
    if (number < cursor.segment) {
      await fs.rm(path);
      continue;
    }
    const isCursorSegment = number === cursor.segment;
    const bytes = await fs.readFile(path);
    const scan = scanSegment(bytes, isCursorSegment ? cursor.offset : 0);
    for (const hole of scan.holes) {
      report.dropped(hole.events ?? 0);
      report.fault(
        "corrupt",
        `skipped damaged bytes ${hole.from}–${hole.to} of segment ${number}: ${hole.events ?? "an unknown number of"} events lost`,
        {
          segment: number,
          fromByte: hole.from,
          toByte: hole.to,
          lostEvents: hole.events ?? "unknown",
        },
      );
    }
    if (scan.validBytes < bytes.length) {
      if (scan.corruptTail !== undefined) {
        report.dropped(scan.corruptTail.events);
        report.fault(
          "corrupt",
          `the last record of segment ${number} is damaged: ${scan.corruptTail.events} events lost`,
          {
            segment: number,
            fromByte: scan.validBytes,
            lostEvents: scan.corruptTail.events,
          },
        );
      } else {
        report.logger.warn(
          { segment: number, validBytes: scan.validBytes, fileBytes: bytes.length },
          "spool: cut a torn record off the end of a segment",
        );
      }
      await fs.truncate(path, scan.validBytes);
    }
    if (isCursorSegment && !scan.cursorOnBoundary && cursor.offset <= scan.validBytes) {
      report.fault(
        "cursor",
        `the cursor points inside a record of segment ${number}; delivering again from the record before it`,
        {
          segment: number,
          cursorOffset: cursor.offset,
          resumeOffset: scan.boundaryBeforeCursor,
        },
      );
      cursor = { segment: number, offset: scan.boundaryBeforeCursor };
    }
    // No record ends between a misplaced cursor and the boundary before it: the events before are the same.
    const before = isCursorSegment ? scan.eventsBefore : 0;
    segments.push({
      number,
      bytes: scan.validBytes,
      events: scan.events,
      ackedEvents: before,
      readEvents: before,
      skippedEvents: 0,
      holes: scan.holes,
    });
  }
  const first = segments[0];
  if (first === undefined) cursor = { segment: cursor.segment + 1, offset: 0 };
  else if (first.number > cursor.segment) cursor = { segment: first.number, offset: 0 };
  else if (cursor.offset > first.bytes) cursor = { segment: first.number, offset: first.bytes };
  return { segments, cursor };
}
