/** The spool's record codec and segment scan: the byte layout, every way a record can be unreadable, and what a scan reports. */
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, HEADER_BYTES, scanSegment } from "../src/spool/record";

const records = [
  { bucket: "a", lines: "m v=1 1\nm v=2 2\n", count: 2 },
  { bucket: "bb", lines: "m v=3 3\nm v=4 4\nm v=5 5\n", count: 3 },
  { bucket: "a", lines: "m v=6 6\nm v=7 7\nm v=8 8\nm v=9 9\n", count: 4 },
];
const encoded = records.map(encodeRecord);
const log = Buffer.concat(encoded);
const ends = encoded.map((_, index) => encoded.slice(0, index + 1).reduce((sum, buffer) => sum + buffer.length, 0));

/** A copy of `bytes` with byte `at` flipped. */
function flipped(bytes: Buffer, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at]! ^= 0x01;
  return copy;
}

/** A record header declaring `payloadLength` and `count`, followed by `payload`, with a correct checksum. */
function raw(payloadLength: number, count: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(payloadLength, 0);
  header.writeUInt32LE(crc32(payload), 4);
  header.writeUInt32LE(count, 8);
  return Buffer.concat([header, payload]);
}

describe("record codec", () => {
  it("lays a record out as length, CRC-32, count, bucket length, bucket, lines (little-endian)", () => {
    const bytes = encodeRecord({ bucket: "hä", lines: "m v=1 1\n", count: 1 });
    const payload = Buffer.concat([Buffer.from([3, 0]), Buffer.from("hä"), Buffer.from("m v=1 1\n")]);
    expect(HEADER_BYTES).toBe(12);
    expect(bytes.length).toBe(12 + payload.length);
    expect(bytes.readUInt32LE(0)).toBe(payload.length);
    expect(bytes.readUInt32LE(4)).toBe(crc32(payload));
    expect(bytes.readUInt32LE(8)).toBe(1);
    expect(bytes.subarray(12).equals(payload)).toBe(true);
  });

  it("decodes each record of a log at its offset, giving the offset after it", () => {
    let at = 0;
    records.forEach((record, index) => {
      const decoded = decodeRecord(log, at);
      expect(decoded).toEqual({
        kind: "record",
        bucket: record.bucket,
        data: Buffer.from(record.lines),
        count: record.count,
        end: ends[index],
      });
      at = ends[index]!;
    });
  });

  it("decodes the smallest records: no bucket and no lines, or a bucket and no lines", () => {
    const empty = encodeRecord({ bucket: "", lines: "", count: 0 });
    expect(empty.length).toBe(14);
    expect(decodeRecord(empty, 0)).toEqual({ kind: "record", bucket: "", data: Buffer.alloc(0), count: 0, end: 14 });
    const bucketOnly = encodeRecord({ bucket: "abc", lines: "", count: 0 });
    expect(decodeRecord(bucketOnly, 0)).toEqual({
      kind: "record",
      bucket: "abc",
      data: Buffer.alloc(0),
      count: 0,
      end: 17,
    });
  });

  it("asks for more bytes while the header or the payload is not all there", () => {
    const record = encoded[1]!;
    expect(decodeRecord(record.subarray(0, 11), 0)).toEqual({ kind: "incomplete" });
    expect(decodeRecord(record.subarray(0, record.length - 1), 0)).toEqual({ kind: "incomplete" });
    expect(decodeRecord(log.subarray(0, ends[1]! + 5), ends[1]!)).toEqual({ kind: "incomplete" });
  });

  it("calls a header impossible when its payload cannot hold the bucket length or the bucket", () => {
    // A bare header declaring an empty payload: impossible even though nothing follows.
    expect(decodeRecord(raw(0, 7, Buffer.alloc(0)), 0)).toEqual({
      kind: "corrupt",
      reason: "bad_header",
      declaredCount: 7,
      declaredEnd: 12,
    });
    expect(decodeRecord(raw(1, 7, Buffer.from([0])), 0)).toMatchObject({ kind: "corrupt", reason: "bad_header" });
    // Bucket length 5 in a payload of 2 + 4 bytes.
    const short = Buffer.concat([Buffer.from([5, 0]), Buffer.from("abcd")]);
    expect(decodeRecord(raw(6, 3, short), 0)).toEqual({
      kind: "corrupt",
      reason: "bad_header",
      declaredCount: 3,
      declaredEnd: 18,
    });
  });

  it("calls a record whose bytes do not match its checksum corrupt, unless asked not to check (bytes from memory)", () => {
    const damaged = flipped(log, ends[0]! + 20);
    expect(decodeRecord(damaged, ends[0]!)).toEqual({
      kind: "corrupt",
      reason: "bad_checksum",
      declaredCount: 3,
      declaredEnd: ends[1],
    });
    expect(decodeRecord(damaged, ends[0]!, false)).toMatchObject({ kind: "record", bucket: "bb", end: ends[1] });
    // A damaged checksum field is damage too.
    expect(decodeRecord(flipped(log, 4), 0)).toMatchObject({ kind: "corrupt", reason: "bad_checksum" });
  });
});

describe("segment scan", () => {
  it("an empty segment: nothing valid, the cursor at 0 on a boundary", () => {
    expect(scanSegment(Buffer.alloc(0), 0)).toEqual({
      validBytes: 0,
      events: 0,
      eventsBefore: 0,
      cursorOnBoundary: true,
      boundaryBeforeCursor: 0,
      holes: [],
      corruptTail: undefined,
    });
  });

  it.each([
    // cursor offset, events before it, on a boundary, boundary before it
    [0, 0, true, 0],
    [5, 0, false, 0],
    [ends[0]!, 2, true, ends[0]!],
    [ends[0]! + 1, 2, false, ends[0]!],
    [ends[1]! - 1, 2, false, ends[0]!],
    [ends[1]!, 5, true, ends[1]!],
    [ends[2]!, 9, true, ends[2]!],
    [ends[2]! + 40, 9, false, ends[2]!],
  ])(
    "a whole log with the cursor at %d: %d events before it, on a boundary %s, boundary %d",
    (cursor, before, onBoundary, boundary) => {
      expect(scanSegment(log, cursor)).toEqual({
        validBytes: log.length,
        events: 9,
        eventsBefore: before,
        cursorOnBoundary: onBoundary,
        boundaryBeforeCursor: boundary,
        holes: [],
        corruptTail: undefined,
      });
    },
  );

  it("a damaged first record: a hole whose events are known (its length proved right), the rest whole", () => {
    const scan = scanSegment(flipped(log, 20), ends[0]!);
    expect(scan).toEqual({
      validBytes: log.length,
      events: 7,
      eventsBefore: 0,
      cursorOnBoundary: true,
      boundaryBeforeCursor: ends[0],
      holes: [{ from: 0, to: ends[0], events: 2 }],
      corruptTail: undefined,
    });
  });

  it("a damaged middle record with the cursor inside it or after it", () => {
    const damaged = flipped(log, ends[0]! + 20);
    expect(scanSegment(damaged, ends[0]! + 3)).toMatchObject({
      events: 6,
      eventsBefore: 2,
      cursorOnBoundary: false,
      boundaryBeforeCursor: ends[0],
      holes: [{ from: ends[0], to: ends[1], events: 3 }],
    });
    expect(scanSegment(damaged, ends[1]! + 3)).toMatchObject({
      cursorOnBoundary: false,
      boundaryBeforeCursor: ends[1],
    });
  });

  it("a record shortened mid-segment: a hole of unknown events up to the next whole record", () => {
    const shortened = Buffer.concat([log.subarray(0, ends[1]! - 10), log.subarray(ends[1]!)]);
    expect(scanSegment(shortened, 0)).toMatchObject({
      validBytes: shortened.length,
      events: 6,
      holes: [{ from: ends[0], to: ends[1]! - 10, events: undefined }],
      corruptTail: undefined,
    });
  });

  it("a torn last write: valid up to the last whole record, no corrupt tail", () => {
    const torn = log.subarray(0, ends[1]! + 15);
    expect(scanSegment(torn, 0)).toMatchObject({
      validBytes: ends[1],
      events: 5,
      holes: [],
      corruptTail: undefined,
    });
    expect(scanSegment(log.subarray(0, 5), 0)).toMatchObject({ validBytes: 0, events: 0, corruptTail: undefined });
    // Zeros after the last record (a header declaring an empty payload): torn, not a damaged record.
    expect(scanSegment(Buffer.concat([log, Buffer.alloc(20)]), 0)).toMatchObject({
      validBytes: log.length,
      events: 9,
      holes: [],
      corruptTail: undefined,
    });
  });

  it("a whole last record with a bad checksum is a corrupt tail, its declared events lost", () => {
    const damaged = flipped(log, ends[1]! + 20);
    expect(scanSegment(damaged, 0)).toMatchObject({
      validBytes: ends[1],
      events: 5,
      holes: [],
      corruptTail: { events: 4 },
    });
  });
});
