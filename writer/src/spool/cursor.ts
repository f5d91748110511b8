/**
 * The delivery cursor: the first byte of the log not yet acknowledged by InfluxDB, saved as JSON and
 * replaced atomically (write a temp file, rename it over the old one).
 */
import { join } from "node:path";
import type { SpoolFs } from "./fs";

/** A position in the log: segment number and byte offset in it. */
export interface SpoolPosition {
  /** Segment number. */
  segment: number;
  /** Byte offset within the segment. */
  offset: number;
}

const CURSOR_FILE = "cursor.json";

/** What reading the cursor found; `problem` says why it could not be used (a first start has none). */
export interface CursorRead {
  position: SpoolPosition;
  problem?: string;
}

/** Orders two positions: negative, zero or positive. */
export function comparePositions(a: SpoolPosition, b: SpoolPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}

/** Reads the saved cursor; a missing one is a first start, an unreadable or corrupt one a problem. */
export async function readCursor(fs: SpoolFs, dir: string): Promise<CursorRead> {
  const start = { segment: 0, offset: 0 };
  let text: string;
  try {
    text = (await fs.readFile(join(dir, CURSOR_FILE))).toString("utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { position: start };
    return { position: start, problem: `cannot read ${CURSOR_FILE}: ${(error as Error).message}` };
  }
  try {
    const parsed = JSON.parse(text) as Partial<SpoolPosition>;
    const { segment, offset } = parsed;
    if (Number.isSafeInteger(segment) && Number.isSafeInteger(offset) && segment! >= 0 && offset! >= 0) {
      return { position: { segment: segment!, offset: offset! } };
    }
  } catch {
    // Falls through to the report below: the text is not JSON.
  }
  return { position: start, problem: `${CURSOR_FILE} is corrupt: ${JSON.stringify(text.slice(0, 80))}` };
}

/** Saves the cursor atomically. */
export async function writeCursor(fs: SpoolFs, dir: string, position: SpoolPosition): Promise<void> {
  const temp = join(dir, `${CURSOR_FILE}.tmp`);
  await fs.writeFile(temp, JSON.stringify(position));
  await fs.rename(temp, join(dir, CURSOR_FILE));
}
