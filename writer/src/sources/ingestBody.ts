/**
 * Reading an ingest body without letting its size decide the writer's memory or stall its event loop.
 *
 * The body arrives as one buffer (at most `ingest.maxBodyBytes`). Before anything is parsed its events
 * are counted by scanning bytes: a body with more than `ingest.maxEventsPerRequest` events is refused
 * with no per-event work at all (5M NDJSON lines or a 5M-element array cost a scan that stops at the
 * limit). Only then is each event's text handed to the native `JSON.parse`, one event at a time, with
 * the event loop given a turn every few thousand events so probes and other requests are answered.
 *
 * The same scan counts the body's JSON objects and arrays: those, not the bytes, make a parsed body
 * large (about 40 bytes of heap each, and 10 MB of `{},` holds 3.3M of them), so a body with more
 * than `CONTAINERS_PER_EVENT` per allowed event is refused unparsed as well.
 *
 * Why a hand-written top-level scanner rather than a streaming JSON library: it only finds where the
 * array's elements begin and end (strings, escapes and nesting depth), and leaves the parsing of each
 * element to `JSON.parse`, which is several times faster than tokenising every value in JavaScript.
 */
import { isUtf8 } from "node:buffer";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";

/** How a body is laid out. */
export type BodyFormat = "json" | "ndjson";

/** Where one event's text lies in the body. */
export interface BodyEntry {
  /** First byte of the event's text. */
  start: number;
  /** One past its last byte. */
  end: number;
  /** 1-based line of an NDJSON event. */
  line?: number;
}

/** Outcome of `splitBody`. */
export type SplitResult =
  | { kind: "entries"; entries: BodyEntry[]; array: boolean }
  | { kind: "too_many_events"; limit: number }
  | { kind: "too_complex"; limit: number }
  | { kind: "invalid"; reason: "invalid_json" | "invalid_utf8" | "empty_body"; message: string };

/** JSON objects and arrays allowed per event of the events-per-request limit (Home Assistant events hold a handful). */
export const CONTAINERS_PER_EVENT = 64;

/** Bytes (JSON scan) or lines (NDJSON scan) between two turns given to the event loop. */
const SCAN_BYTES_PER_TURN = 1 << 20;
const SCAN_LINES_PER_TURN = 1 << 16;

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;

function isWhitespace(byte: number): boolean {
  return byte === SPACE || byte === LF || byte === CR || byte === TAB;
}

/** Length of a UTF-8 byte order mark at the start of the body (0 or 3). */
function bomLength(body: Buffer): number {
  return body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
}

/**
 * Finds the events of a body without parsing them: NDJSON lines that are not blank, the elements of a
 * top-level JSON array, or the one JSON value of any other body. Stops as soon as the count passes
 * `maxEvents`. A JSON body that is not valid UTF-8 is refused whole; in NDJSON each line stands alone
 * (see `isUtf8Entry`).
 */
export async function splitBody(body: Buffer, format: BodyFormat, maxEvents: number): Promise<SplitResult> {
  const from = bomLength(body);
  const maxContainers = maxEvents * CONTAINERS_PER_EVENT;
  if (format === "ndjson") {
    const split = await splitLines(body, from, maxEvents);
    if (split.kind === "entries" && (await countContainers(body, split.entries, maxContainers)) > maxContainers) {
      return { kind: "too_complex", limit: maxContainers };
    }
    return split;
  }
  if (!isUtf8(body)) return { kind: "invalid", reason: "invalid_utf8", message: "the body is not valid UTF-8" };
  let at = from;
  while (at < body.length && isWhitespace(body[at]!)) at++;
  if (at === body.length) return { kind: "invalid", reason: "empty_body", message: "the body is empty" };
  if (body[at] !== 0x5b /* [ */) {
    const entries = [{ start: at, end: body.length }];
    if ((await countContainers(body, entries, maxContainers)) > maxContainers)
      return { kind: "too_complex", limit: maxContainers };
    return { kind: "entries", entries, array: false };
  }
  return splitArray(body, at, maxEvents, maxContainers);
}

async function splitLines(body: Buffer, from: number, maxEvents: number): Promise<SplitResult> {
  const entries: BodyEntry[] = [];
  let start = from;
  let line = 0;
  while (start <= body.length) {
    line++;
    const newline = body.indexOf(LF, start);
    const stop = newline === -1 ? body.length : newline;
    let first = start;
    let last = stop;
    while (first < last && isWhitespace(body[first]!)) first++;
    while (last > first && isWhitespace(body[last - 1]!)) last--;
    if (first < last) {
      if (entries.length === maxEvents) return { kind: "too_many_events", limit: maxEvents };
      entries.push({ start: first, end: last, line });
    }
    if (newline === -1) break;
    start = newline + 1;
    if (line % SCAN_LINES_PER_TURN === 0) await yieldToEventLoop();
  }
  if (entries.length === 0) return { kind: "invalid", reason: "empty_body", message: "the body holds no events" };
  return { kind: "entries", entries, array: false };
}

/** Splits `[a, b, …]` at its top-level commas; the elements' own syntax is left to `JSON.parse`. */
async function splitArray(body: Buffer, open: number, maxEvents: number, maxContainers: number): Promise<SplitResult> {
  const invalid = (message: string): SplitResult => ({ kind: "invalid", reason: "invalid_json", message });
  const entries: BodyEntry[] = [];
  let depth = 0;
  let inString = false;
  let elementStart = -1;
  let closed = -1;
  let containers = 0;
  let nextTurn = open + SCAN_BYTES_PER_TURN;
  for (let at = open + 1; at < body.length; at++) {
    if (at >= nextTurn) {
      nextTurn += SCAN_BYTES_PER_TURN;
      await yieldToEventLoop();
    }
    const byte = body[at]!;
    if (inString) {
      if (byte === 0x5c /* \ */) at++;
      else if (byte === 0x22 /* " */) inString = false;
      continue;
    }
    if (depth === 0 && (byte === 0x2c /* , */ || byte === 0x5d) /* ] */) {
      if (elementStart === -1) {
        if (byte === 0x5d && entries.length === 0) {
          closed = at;
          break;
        }
        return invalid(`unexpected ${String.fromCharCode(byte)} at byte ${at} of the body`);
      }
      let end = at;
      while (isWhitespace(body[end - 1]!)) end--;
      if (entries.length === maxEvents) return { kind: "too_many_events", limit: maxEvents };
      entries.push({ start: elementStart, end });
      elementStart = -1;
      if (byte === 0x5d) {
        closed = at;
        break;
      }
      continue;
    }
    if (isWhitespace(byte)) continue;
    if (elementStart === -1) elementStart = at;
    if (byte === 0x22) inString = true;
    else if (byte === 0x7b /* { */ || byte === 0x5b /* [ */) {
      depth++;
      if (++containers > maxContainers) return { kind: "too_complex", limit: maxContainers };
    } else if (byte === 0x7d /* } */ || byte === 0x5d) depth--;
    if (depth < 0) return invalid(`unbalanced ${String.fromCharCode(byte)} at byte ${at} of the body`);
  }
  if (closed === -1) return invalid("the JSON array is not closed");
  for (let at = closed + 1; at < body.length; at++) {
    if (!isWhitespace(body[at]!)) return invalid(`unexpected text after the JSON array at byte ${at}`);
  }
  return { kind: "entries", entries, array: true };
}

/** JSON objects and arrays (outside strings) in the entries, counting stops past `limit`. */
async function countContainers(body: Buffer, entries: readonly BodyEntry[], limit: number): Promise<number> {
  let containers = 0;
  let scanned = 0;
  for (const entry of entries) {
    let inString = false;
    for (let at = entry.start; at < entry.end; at++) {
      const byte = body[at]!;
      if (inString) {
        if (byte === 0x5c) at++;
        else if (byte === 0x22) inString = false;
      } else if (byte === 0x22) inString = true;
      else if ((byte === 0x7b || byte === 0x5b) && ++containers > limit) return containers;
    }
    scanned += entry.end - entry.start;
    if (scanned >= SCAN_BYTES_PER_TURN) {
      scanned = 0;
      await yieldToEventLoop();
    }
  }
  return containers;
}

/** True when an NDJSON line is valid UTF-8 (checked per line only when the whole body is not). */
export function isUtf8Entry(body: Buffer, entry: BodyEntry, bodyIsUtf8: boolean): boolean {
  return bodyIsUtf8 || isUtf8(body.subarray(entry.start, entry.end));
}

/** The event at `entry`, parsed; throws `SyntaxError` when its text is not JSON. */
export function parseEntry(body: Buffer, entry: BodyEntry): unknown {
  return JSON.parse(body.toString("utf8", entry.start, entry.end));
}
