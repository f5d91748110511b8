/** Line protocol escaping, per the InfluxDB line protocol reference. */
import { describe, expect, it } from "vitest";
import { escapeKey, escapeMeasurement, formatFloat, quoteString, TimestampFormatter } from "../src/lineProtocol";

describe("tag keys, tag values and field keys", () => {
  it.each([
    ["plain", "kitchen", "kitchen"],
    ["comma", "a,b", "a\\,b"],
    ["space", "Living Room", "Living\\ Room"],
    ["equals sign", "a=b", "a\\=b"],
    ["double quote (no escape needed)", 'say "hi"', 'say\\ "hi"'],
    ["backslash inside (kept)", "C:\\temp", "C:\\temp"],
    ["two backslashes inside (kept)", "a\\\\b", "a\\\\b"],
    ["backslash at the end (dropped: InfluxDB refuses it)", "path\\", "path"],
    ["backslashes at the end", "path\\\\", "path"],
    ["one backslash before a comma (made even)", "a\\,b", "a\\\\\\,b"],
    ["two backslashes before a comma (already even)", "a\\\\,b", "a\\\\\\,b"],
    ["backslash before a space", "a\\ b", "a\\\\\\ b"],
    ["backslash before an equals sign (made even)", "a\\=b", "a\\\\\\=b"],
    ["backslash before a newline (made even)", "a\\\nb", "a\\\\\\ b"],
    ["backslash before a carriage return (made even)", "a\\\rb", "a\\\\\\ b"],
    ["three backslashes before a comma (made even)", "a\\\\\\,b", "a\\\\\\\\\\,b"],
    ["newline (cannot be carried: becomes an escaped space)", "two\nlines", "two\\ lines"],
    ["carriage return", "a\r\nb", "a\\ \\ b"],
    ["unicode", "Küche 🍳", "Küche\\ 🍳"],
    ["all at once", "a, b=c", "a\\,\\ b\\=c"],
    ["a lone comma", ",", "\\,"],
    ["a lone space", " ", "\\ "],
    ["a lone equals sign", "=", "\\="],
    ["a lone newline", "\n", "\\ "],
    ["a lone carriage return", "\r", "\\ "],
    ["a lone backslash (dropped)", "\\", ""],
  ])("%s", (_name, input, expected) => {
    expect(escapeKey(input)).toBe(expected);
  });
});

describe("measurement names", () => {
  it.each([
    ["plain", "home_assistant_events", "home_assistant_events"],
    ["comma", "a,b", "a\\,b"],
    ["space", "my measurement", "my\\ measurement"],
    ["equals sign (allowed in measurements)", "a=b", "a=b"],
    ["newline", "a\nb", "a\\ b"],
    ["backslash before an equals sign (kept: nothing to protect)", "a\\=b", "a\\=b"],
    ["backslash before a comma (made even)", "a\\,b", "a\\\\\\,b"],
  ])("%s", (_name, input, expected) => {
    expect(escapeMeasurement(input)).toBe(expected);
  });
});

describe("string field values", () => {
  it.each([
    ["plain", "on", '"on"'],
    ["spaces, commas and equals signs need no escape", "a, b=c", '"a, b=c"'],
    ["double quotes", 'say "hi"', '"say \\"hi\\""'],
    ["backslash", "C:\\temp", '"C:\\\\temp"'],
    ["newline (written as backslash-n)", "two\nlines", '"two\\\\nlines"'],
    ["carriage return", "a\rb", '"a\\\\rb"'],
    ["unicode", "Küche 🍳", '"Küche 🍳"'],
    ["empty", "", '""'],
    ["a lone double quote", '"', '"\\""'],
    ["a lone backslash", "\\", '"\\\\"'],
    ["a lone newline", "\n", '"\\\\n"'],
    ["a lone carriage return", "\r", '"\\\\r"'],
  ])("%s", (_name, input, expected) => {
    expect(quoteString(input)).toBe(expected);
  });
});

describe("numbers", () => {
  it.each([
    [1, "1"],
    [0, "0"],
    [-3.25, "-3.25"],
    [21.5, "21.5"],
    [1e21, "1e+21"],
    [1e-7, "1e-7"],
  ])("%d is written as a float (never with the integer suffix i)", (input, expected) => {
    expect(formatFloat(input)).toBe(expected);
    expect(formatFloat(input)).not.toMatch(/i$/);
  });
});

describe("timestamps", () => {
  it("writes integer microseconds exactly, whether or not the second repeats", () => {
    const formatter = new TimestampFormatter();
    const samples = [
      1767225600000000, 1767225600000001, 1767225600000010, 1767225600099999, 1767225600100000, 1767225600999999,
      1767225601000000, 1767225601000007, 1767225601000099, 1767225601000100, 1767225601000999, 1767225601001000,
      1767225601009999, 1767225601010000, 1767225601099999, 1767225600000009, 0, 5, 999999, 1000000, -1500000,
    ];
    for (const micros of samples) expect(formatter.format(micros)).toBe(String(micros));
  });
});
